"""Sales validation mutations (SPEC §9): `validateConversions` (up to 1,000 lines, one result
per line) and `importSalesValidation` (the same columns as a file, through a job). Both call
`portal.services.sales_validation.validate_lines`, the one code path of a line."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.file_uploads import Upload

from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.conversions import ConversionStatus
from portal.domain.errors import DomainError
from portal.resolvers.jobs import started_job
from portal.resolvers.support import MUTATION_INPUT, Info, require_pk, run_in_uow, user_error_type
from portal.schema.scalars import CurrencyCode
from portal.schema.types.conversions import Conversion, FieldChange
from portal.schema.types.enums import ConversionStatusEnum
from portal.schema.types.imports import ImportJob, TemplateColumn
from portal.services import sales_validation as service
from portal.services.sales_validation import MAX_LINES, ValidationOutcome

# The codes a line's errors may carry (INVALID, and the one reason of NOT_FOUND, AMBIGUOUS,
# PAID and RESERVED). A code outside the list is reported as INVALID, never as a 500.
LINE_CODES = [
    "INVALID",
    "REQUIRED",
    "BLANK",
    "TOO_LONG",
    "INVALID_STATUS",
    "INVALID_AMOUNT",
    "NEGATIVE_VALUE",
    "UNKNOWN_CURRENCY",
    "UNKNOWN_CONVERSION_NOTE",
    "NOTE_REQUIRED",
    "AMBIGUOUS",
    "DUPLICATE_IN_BATCH",
    "CONVERSION_PAID",
    "CONVERSION_RESERVED",
    "NO_ACTIVE_RELATIONSHIP",
    "NO_COMMISSION_PERIOD",
    "NO_RATE",
    "MISSING_EXCHANGE_RATE",
    "INVALID_EXCHANGE_RATE",
    "CONFLICTING_EXCHANGE_RATE",
    "OUT_OF_RANGE",
    "UNKNOWN_TARGET",
    "INACTIVE_TARGET",
    "UNKNOWN_CATEGORY",
    "INACTIVE_CATEGORY",
]
ValidateCode, ValidateError = user_error_type(
    "ValidateConversions", [*LINE_CODES, "BATCH_EMPTY", "BATCH_TOO_LARGE"]
)
ImportValidationCode, ImportValidationError = user_error_type(
    "ImportSalesValidation",
    [
        "EMPTY_FILE",
        "NO_ROWS",
        "UNREADABLE_FILE",
        "INVALID_ENCODING",
        "CELL_TOO_LARGE",
        "FILE_TOO_LARGE",
        "TOO_MANY_ROWS",
        "MISSING_COLUMN",
        "UNKNOWN_COLUMN",
        "DUPLICATE_COLUMN",
        "EXTRA_CELLS",
    ],
)

ValidationOutcomeEnum = strawberry.enum(
    ValidationOutcome,
    name="ValidationOutcome",
    description="What became of a validation line (in a dry run: what would become of it): "
    "CONFIRMED / REJECTED (the status, maybe the conversion note, changed), VALUE_CHANGED (the "
    "order value changed and the conversion was rated again; maybe the status too), UNCHANGED "
    "(already so), NOT_FOUND (no conversion of the program has the order id, target and "
    "category), AMBIGUOUS (several have: give the target and/or category), PAID (billing paid "
    "or invoiced it for good), RESERVED (a payout entry or advertiser invoice in preview "
    "reserves it), INVALID (see the line's userErrors).",
)


class ValidationStatus(enum.Enum):
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"


ValidationStatusEnum = strawberry.enum(
    ValidationStatus,
    name="ValidationStatus",
    description="The status the order book gives a conversion: CONFIRMED (paid, kept) or "
    "REJECTED (returned, cancelled; needs a conversion note).",
)


@strawberry.input(
    description="One order of the advertiser's book and what it says about the conversion."
)
class ValidationLineInput:
    order_id: str = strawberry.field(description="The shop's order id.")
    status: ValidationStatus = strawberry.field(description="The conversion's new status.")
    conversion_target: str | None = strawberry.field(
        default=None,
        description="Target key: narrows the match when the order has several conversions "
        "(a sale and a lead); never changed.",
    )
    tracking_category: str | None = strawberry.field(
        default=None, description="Category key: narrows the match; never changed."
    )
    order_value: Decimal | None = strawberry.field(
        default=None,
        description="The order's net value as the book has it (null: unchanged), in "
        "`currency`; a changed value is rated again with the rate of the commission period "
        "containing the tracking time, as a request would (another currency is converted with "
        "the reference rate of the tracking day).",
    )
    currency: CurrencyCode | None = strawberry.field(
        default=None, description="Currency of orderValue (default: the program's)."
    )
    conversion_note: str | None = strawberry.field(
        default=None,
        description="Conversion note code of the program, e.g. RETURNED; required to reject a "
        "conversion that has none (NOTE_REQUIRED).",
    )

    def to_line(self) -> service.ValidationLine:
        return service.ValidationLine(
            order_id=self.order_id,
            status=ConversionStatus(self.status.value),
            target=self.conversion_target,
            category=self.tracking_category,
            order_value=self.order_value,
            currency=self.currency,
            conversion_note=self.conversion_note,
        )


@strawberry.input(description=f"1–{MAX_LINES} validation lines of one program.")
class ValidateConversionsInput:
    program_id: strawberry.ID = strawberry.field(
        description="Global id of the program (advertisers: one of theirs)."
    )
    lines: list[ValidationLineInput] = strawberry.field(
        description=f"The lines (1–{MAX_LINES}); each is applied or fails on its own. More is "
        "BATCH_TOO_LARGE and nothing is validated."
    )
    dry_run: bool = strawberry.field(
        default=False, description="Answer the outcomes without writing anything."
    )


@strawberry.type(description="The outcome of one line of `validateConversions`.")
class ValidationLineResult:
    index: int = strawberry.field(description="0-based position of the line in the input.")
    order_id: str = strawberry.field(description="The order id (of the matched conversion).")
    outcome: ValidationOutcomeEnum = strawberry.field(  # type: ignore[valid-type]
        description="What became of the line."
    )
    status: ConversionStatusEnum | None = strawberry.field(  # type: ignore[valid-type]
        description="The conversion's status after the line (null: no conversion matched)."
    )
    changes: list[FieldChange] = strawberry.field(
        description="What changed (dry run: would change), old → new: the revision of source "
        "VALIDATION written by this line."
    )
    user_errors: list[ValidateError] = strawberry.field(  # type: ignore[valid-type]
        description='The line\'s problems, with paths ["input", "lines", "<index>", …]: for '
        "INVALID every bad field, for NOT_FOUND, AMBIGUOUS, PAID and RESERVED the reason."
    )
    conversion_pk: strawberry.Private[int | None]

    @strawberry.field(
        description="The matched conversion (after the change; null when none matched)."
    )
    async def conversion(self, info: Info) -> Conversion | None:
        return await info.context.loaders.load_as(
            "Conversion", self.conversion_pk, Conversion.from_domain
        )


@strawberry.type(description="How many lines had one outcome.")
class ValidationOutcomeCount:
    outcome: ValidationOutcomeEnum = strawberry.field(  # type: ignore[valid-type]
        description="The outcome."
    )
    count: int = strawberry.field(description="Lines with it.")


@strawberry.type(description="The outcome of `validateConversions`.")
class ValidateConversionsPayload:
    results: list[ValidationLineResult] = strawberry.field(
        description="One result per line, in input order (empty on a whole-call error)."
    )
    counts: list[ValidationOutcomeCount] = strawberry.field(
        description="Lines per outcome (only outcomes that occurred)."
    )
    dry_run: bool = strawberry.field(description="Whether nothing was written.")
    user_errors: list[ValidateError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems of the whole call (a partner, a program that is not yours, no or "
        f"more than {MAX_LINES} lines); then nothing was validated."
    )


@strawberry.input(
    description="A sales validation file (CSV or XLSX) of one program and how to apply it. "
    "Columns (any order, headers case-insensitive): order_id and status required; "
    "conversion_target, tracking_category, order_value, currency, conversion_note optional "
    "(see `salesValidationTemplate`)."
)
class ImportSalesValidationInput:
    program_id: strawberry.ID = strawberry.field(description="Global id of the program.")
    file: Upload = strawberry.field(description="The file (GraphQL multipart request).")
    dry_run: bool = strawberry.field(
        default=False, description="Answer every row's outcome in the report; write nothing."
    )
    all_or_nothing: bool = strawberry.field(
        default=False,
        description="Apply nothing when any row is not applicable (INVALID, NOT_FOUND, "
        "AMBIGUOUS, PAID or RESERVED).",
    )


@strawberry.type(description="The queued sales validation import; its structure was checked.")
class ImportSalesValidationPayload:
    import_job: ImportJob | None = strawberry.field(description="The import job.")
    user_errors: list[ImportValidationError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems with the call or the file as a whole."
    )


def line_errors(
    errors: Sequence[DomainError], prefix: list[str], error_type: type[Any], codes: Any
) -> list[Any]:
    out = []
    for e in errors:
        known = e.code in codes.__members__
        out.append(
            error_type(
                field=[*prefix, *e.field],
                message=e.message if known else f"{e.code}: {e.message}",
                code=codes[e.code if known else "INVALID"],
            )
        )
    return out


def _result(r: service.LineResult) -> ValidationLineResult:
    return ValidationLineResult(
        index=r.index,
        order_id=r.order_id,
        outcome=r.outcome,
        status=r.status,
        changes=[FieldChange(field=c.field, from_=c.old, to=c.new) for c in r.changes],
        user_errors=line_errors(
            r.errors, ["input", "lines", str(r.index)], ValidateError, ValidateCode
        ),
        conversion_pk=r.conversion_id,
    )


@strawberry.type
class ValidationMutations:
    @strawberry.mutation(
        description=f"Validate 1–{MAX_LINES} conversions of one program against the "
        "advertiser's order book (advertisers for their programs, admins): confirm, reject, "
        "correct order values. One result per line in input order; each line is applied or "
        "fails on its own; every change is a revision of source VALIDATION by you. The file "
        "import `importSalesValidation` gives the same outcomes for the same lines."
    )
    async def validate_conversions(
        self, info: Info, input: Annotated[ValidateConversionsInput, MUTATION_INPUT]
    ) -> ValidateConversionsPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> list[service.LineResult]:
            service.check_batch(viewer, len(input.lines))
            program_id = require_pk(input.program_id, "Program", "programId")
            return await service.validate_lines(
                uow,
                viewer,
                program_id,
                [line.to_line() for line in input.lines],
                dry_run=input.dry_run,
                source=service.ValidationSource.API,
            )

        results, errors = await run_in_uow(info, ValidateError, ValidateCode, use_case)
        out = [_result(r) for r in results or ()]
        counts: dict[ValidationOutcome, int] = {}
        for r in results or ():
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        return ValidateConversionsPayload(
            results=out,
            counts=[
                ValidationOutcomeCount(outcome=o, count=counts[o])
                for o in ValidationOutcome
                if o in counts
            ],
            dry_run=input.dry_run,
            user_errors=errors,
        )

    @strawberry.mutation(
        description="Upload a sales validation file of one program (advertisers for their "
        "programs, admins); a job validates every row through the same code path as "
        "`validateConversions`, in batches, and writes a result report with every row's "
        "outcome (`ImportJob.resultReportUrl`). Progress in `imports`."
    )
    async def import_sales_validation(
        self, info: Info, input: Annotated[ImportSalesValidationInput, MUTATION_INPUT]
    ) -> ImportSalesValidationPayload:
        from portal.resolvers.imports import save_upload
        from portal.services.imports import ImportLimits
        from portal.services.sales_validation_files import start_validation_import

        limits = ImportLimits.from_env()
        saved: list[Any] = []

        async def use_case(uow: UnitOfWork, viewer: Viewer) -> ImportJob:
            program_id = require_pk(input.program_id, "Program", "programId")
            path = await save_upload(input.file, limits.max_bytes)
            saved.append(path)
            job_id = await start_validation_import(
                uow,
                viewer,
                info.context.settings,
                program_id,
                path,
                getattr(input.file, "filename", None),
                dry_run=input.dry_run,
                all_or_nothing=input.all_or_nothing,
                limits=limits,
            )
            return ImportJob.from_domain(await started_job(uow, job_id))

        try:
            job, errors = await run_in_uow(
                info, ImportValidationError, ImportValidationCode, use_case
            )
        finally:
            for path in saved:
                path.unlink(missing_ok=True)
        return ImportSalesValidationPayload(import_job=job, user_errors=errors)


VALIDATION_TEMPLATE_PATH = "/files/templates/sales-validation"


@strawberry.type(description="The sales validation file format, with template downloads.")
class SalesValidationTemplate:
    columns: list[TemplateColumn] = strawberry.field(
        description="Every column (any order; headers case-insensitive); `required` marks the "
        "ones a file must have."
    )
    csv_url: str = strawberry.field(description="Template as CSV (plain GET, same authentication).")
    xlsx_url: str = strawberry.field(
        description="Template as XLSX: required columns bold and underlined, drop-down lists."
    )


@strawberry.type
class ValidationQueries:
    @strawberry.field(
        description="The columns of a sales validation file (`importSalesValidation`) and its "
        "template downloads."
    )
    def sales_validation_template(self, info: Info) -> SalesValidationTemplate:
        info.context.require_viewer()
        from portal.services.sales_validation_files import template_columns

        return SalesValidationTemplate(
            columns=[
                TemplateColumn(
                    name=c.name,
                    required=c.required,
                    description=c.description,
                    allowed_values=list(c.allowed),
                )
                for c in template_columns()
            ],
            csv_url=VALIDATION_TEMPLATE_PATH + ".csv",
            xlsx_url=VALIDATION_TEMPLATE_PATH + ".xlsx",
        )
