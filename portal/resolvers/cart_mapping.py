"""setCartMapping, cartMapping, cartMappingVersions, previewCartMapping (issue 16)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload

from portal.adapters.cart_mapping_store import VersionHead
from portal.adapters.request_files import FILE_READ_CODES
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain import cart_mapping as domain
from portal.domain.access import Viewer
from portal.domain.cart_mapping import MAX_RULES, ShopAttributes
from portal.domain.errors import DomainError, ValidationFailed
from portal.global_ids import encode_id
from portal.resolvers.imports import save_upload
from portal.resolvers.support import (
    MUTATION_INPUT,
    Info,
    pk,
    require_pk,
    run_in_uow,
    user_error_type,
)
from portal.schema.errors import bad_input
from portal.services import cart_mapping_files, cart_mappings

CART_MAPPING_FILES_PATH = "/files/cart-mappings/"
MAX_MAPPING_FILE_BYTES = 20 * 1024 * 1024

CategoryMatchEnum = strawberry.enum(
    domain.CategoryMatch,
    name="CategoryMatch",
    description="How a rule's shop category compares with a position's (segments split at "
    "` > `, compared case-insensitively).",
)

SetCartMappingErrorCode, SetCartMappingUserError = user_error_type(
    "SetCartMapping",
    [
        "TOO_MANY_RULES",
        "EMPTY_RULE",
        "INVALID_GLOB",
        "UNKNOWN_CATEGORY",
        "INACTIVE_CATEGORY",
        "INVALID_PRICE_RANGE",
        "NEGATIVE_VALUE",
        "INVALID_AMOUNT",
        "TOO_LONG",
        "TOO_MANY_SKUS",
        "BLANK",
        "INVALID_DATETIME",
        "CONVERSION_PAID",
        "VERSION_EXISTS",
    ],
)


@strawberry.input(
    description="One rule of a cart mapping: every condition given must hold (give at least "
    "one); the first rule that matches a position gives it its tracking category."
)
class CartMappingRuleInput:
    tracking_category: str = strawberry.field(
        description="The tracking category (an active key of the program) the position gets."
    )
    shop_category: str | None = strawberry.field(
        default=None,
        description="The shop's category path (segments separated by ` > `), compared as "
        "`categoryMatch` says.",
    )
    category_match: CategoryMatchEnum = strawberry.field(  # type: ignore[valid-type]
        default=domain.CategoryMatch.EXACT,
        description="EXACT: the whole path; PREFIX: the path or any below it, by segments; GLOB: "
        "`*` any characters and `?` one within a segment, a segment `**` any number of "
        "segments (`[ ] { }` are reserved; a glob needs a wildcard).",
    )
    skus: list[str] | None = strawberry.field(
        default=None, description="The position's SKU is one of these (compared exactly)."
    )
    brand: str | None = strawberry.field(
        default=None, description="The position's brand (compared case-insensitively)."
    )
    on_sale: bool | None = strawberry.field(
        default=None, description="The position's sale flag is this."
    )
    min_unit_price: Decimal | None = strawberry.field(
        default=None,
        description="The unit price (value ÷ quantity, program currency) is at least this.",
    )
    max_unit_price: Decimal | None = strawberry.field(
        default=None, description="The unit price is at most this (min ≤ max)."
    )

    def to_domain(self) -> domain.MappingRule:
        return domain.MappingRule(
            tracking_category=self.tracking_category,
            shop_category=self.shop_category,
            category_match=self.category_match,
            skus=tuple(self.skus or ()),
            brand=self.brand,
            on_sale=self.on_sale,
            min_unit_price=self.min_unit_price,
            max_unit_price=self.max_unit_price,
        )


@strawberry.input(description="A new version of a program's cart mapping.")
class SetCartMappingInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    valid_from: datetime = strawberry.field(
        description="First instant the version is in effect; it stays in effect until the next "
        "version's validFrom. Refused (CONVERSION_PAID) when a paid conversion of the program "
        "was tracked at or after it: a version may not start inside an already rated and paid "
        "period. Rated conversions that are not paid do not block it: they keep their "
        "commission until re-rated (then with the version in effect at their tracking time). "
        "Two versions never start at the same instant (VERSION_EXISTS)."
    )
    rules: list[CartMappingRuleInput] = strawberry.field(
        description=f"The rules, in order: the first that matches wins (at most {MAX_RULES}; "
        "an empty list maps every position to `default` from validFrom on)."
    )
    dry_run: bool = strawberry.field(
        default=False, description="Check everything, write nothing (the version has no id)."
    )


@strawberry.type(description="A rule of a cart-mapping version.")
class CartMappingRule:
    number: int = strawberry.field(description="1-based position of the rule in its version.")
    tracking_category: str = strawberry.field(description="The category it gives.")
    shop_category: str | None = strawberry.field(description="Shop category path, if any.")
    category_match: CategoryMatchEnum = strawberry.field(  # type: ignore[valid-type]
        description="How the shop category compares."
    )
    skus: list[str] = strawberry.field(description="SKUs (empty: any).")
    brand: str | None = strawberry.field(description="Brand, if any.")
    on_sale: bool | None = strawberry.field(description="Sale flag, if any.")
    min_unit_price: Decimal | None = strawberry.field(description="Lowest unit price, if any.")
    max_unit_price: Decimal | None = strawberry.field(description="Highest unit price, if any.")

    @classmethod
    def of(cls, number: int, r: domain.MappingRule) -> CartMappingRule:
        return cls(
            number=number,
            tracking_category=r.tracking_category,
            shop_category=r.shop_category,
            category_match=r.category_match,
            skus=list(r.skus),
            brand=r.brand,
            on_sale=r.on_sale,
            min_unit_price=r.min_unit_price,
            max_unit_price=r.max_unit_price,
        )


@strawberry.type(description="A version of a program's cart mapping, with its rules.")
class CartMappingVersion:
    id: strawberry.ID | None = strawberry.field(
        description="Global id of the version (null for a dry run)."
    )
    program_id: strawberry.ID = strawberry.field(description="The program.")
    valid_from: datetime = strawberry.field(description="In effect from this instant.")
    rule_count: int = strawberry.field(description="Number of rules.")
    rules: list[CartMappingRule] = strawberry.field(description="The rules, in order.")
    created_at: datetime | None = strawberry.field(description="When it was stored.")

    @classmethod
    def of(cls, v: domain.MappingVersion) -> CartMappingVersion:
        return cls(
            id=strawberry.ID(encode_id("CartMappingVersion", v.id)) if v.id else None,
            program_id=strawberry.ID(encode_id("Program", v.program_id)),
            valid_from=v.valid_from,
            rule_count=len(v.rules),
            rules=[CartMappingRule.of(i + 1, r) for i, r in enumerate(v.rules)],
            created_at=v.created_at,
        )


@strawberry.type(description="A version of a program's cart mapping, without its rules.")
class CartMappingVersionSummary:
    id: strawberry.ID = strawberry.field(description="Global id of the version.")
    valid_from: datetime = strawberry.field(description="In effect from this instant.")
    rule_count: int = strawberry.field(description="Number of rules.")
    created_at: datetime = strawberry.field(description="When it was stored.")

    @classmethod
    def of(cls, h: VersionHead) -> CartMappingVersionSummary:
        return cls(
            id=strawberry.ID(encode_id("CartMappingVersion", h.id)),
            valid_from=h.valid_from,
            rule_count=h.rule_count,
            created_at=h.created_at,
        )


@strawberry.type(description="The new version, or why it was refused.")
class SetCartMappingPayload:
    version: CartMappingVersion | None = strawberry.field(
        description="The stored (or, dry run, checked) version; null on errors."
    )
    user_errors: list[SetCartMappingUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems, each naming its field (`rules.<i>.<field>`); nothing is written."
    )


@strawberry.input(description="A sample basket position to preview.")
class CartPreviewPositionInput:
    order_value: Decimal = strawberry.field(
        description="The position's value (its total) in the program currency."
    )
    quantity: int = strawberry.field(default=1, description="Quantity (default 1).")
    shop_category: str | None = strawberry.field(default=None, description="Shop category path.")
    sku: str | None = strawberry.field(default=None, description="SKU.")
    brand: str | None = strawberry.field(default=None, description="Brand.")
    on_sale: bool | None = strawberry.field(default=None, description="Sale flag.")
    tracking_category: str | None = strawberry.field(
        default=None, description="An explicit category: it wins over the mapping."
    )


@strawberry.type(description="How a sample position is mapped and rated.")
class CartPreviewLine:
    position: int = strawberry.field(description="1-based, in input order.")
    version_id: strawberry.ID | None = strawberry.field(
        description="The mapping version used (null: explicit category, or no version then)."
    )
    rule_number: int | None = strawberry.field(
        description="1-based number of the rule that matched (null: none; the default category)."
    )
    tracking_category: str = strawberry.field(description="The category the position gets.")
    mapped: bool = strawberry.field(description="Whether the mapping decided the category.")
    commission: Decimal | None = strawberry.field(
        description="The position's commission share (null: no model or rate to rate with)."
    )


@strawberry.type(description="A preview of the cart mapping; nothing is written.")
class CartMappingPreview:
    lines: list[CartPreviewLine] = strawberry.field(description="One per sample position.")
    commission: Decimal | None = strawberry.field(
        description="The commission of the positions as one conversion (null: not ratable)."
    )
    commission_model_name: str | None = strawberry.field(description="The model rated with.")


ImportCartMappingErrorCode, ImportCartMappingUserError = user_error_type(
    "ImportCartMapping",
    [
        "INVALID_DATETIME",
        "CONVERSION_PAID",
        "VERSION_EXISTS",
        "TOO_MANY_RULES",
        *FILE_READ_CODES,
    ],
)


@strawberry.input(
    description="A cart-mapping version as a file (CSV or XLSX; see `cartMappingFiles`)."
)
class ImportCartMappingInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    valid_from: datetime = strawberry.field(
        description="First instant the version is in effect (as in `setCartMapping`)."
    )
    file: Upload = strawberry.field(
        description="One rule per row, in order; columns in any order (headers "
        "case-insensitive): tracking_category (required), shop_category, category_match "
        "(EXACT, PREFIX, GLOB), skus (separated by `|`), brand, on_sale (true/false), "
        "min_unit_price, max_unit_price. GraphQL multipart request."
    )
    dry_run: bool = strawberry.field(default=False, description="Check only, write nothing.")


@strawberry.type(description="A bad cell (or row, when `column` is empty) of a mapping file.")
class CartMappingFileError:
    row: int = strawberry.field(description="1-based row (the header is row 1; 0: the file).")
    column: str = strawberry.field(description="The column, e.g. `shop_category`.")
    value: str | None = strawberry.field(description="The cell as read, where it helps.")
    code: str = strawberry.field(description="Stable code, as in setCartMapping's errors.")
    message: str = strawberry.field(description="What is wrong, for people.")


@strawberry.type(description="The imported version, or the file's bad cells.")
class ImportCartMappingPayload:
    version: CartMappingVersion | None = strawberry.field(
        description="The stored (dry run: checked) version; null when anything is wrong."
    )
    cell_errors: list[CartMappingFileError] = strawberry.field(
        description="Every bad cell; nothing is written when there is one."
    )
    user_errors: list[ImportCartMappingUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems of the input as a whole (program, validFrom, the file)."
    )


@strawberry.type(description="Where to download a program's cart mapping as a file.")
class CartMappingFiles:
    csv_url: str = strawberry.field(
        description="The version in effect now as CSV (add `?at=<ISO date-time>` for another "
        "instant); the header alone when none is: the template."
    )
    xlsx_url: str = strawberry.field(description="The same as XLSX.")


SetCartMappingArgument = Annotated[
    SetCartMappingInput, strawberry.argument(description="The program, validFrom and rules.")
]
ProgramArg = Annotated[strawberry.ID, strawberry.argument(description="The program.")]


@strawberry.type
class CartMappingMutations:
    @strawberry.mutation(
        description="Store a new, effective-dated version of a program's cart mapping (admins, "
        "or the program's advertiser; never partners). Rating uses the version in effect at a "
        "conversion's tracking time, for positions sent without explicit tracking category."
    )
    async def set_cart_mapping(
        self, info: Info, input: SetCartMappingArgument
    ) -> SetCartMappingPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> CartMappingVersion:
            version = await cart_mappings.set_cart_mapping(
                uow,
                viewer,
                require_pk(input.program_id, "Program", "programId"),
                input.valid_from,
                [r.to_domain() for r in input.rules],
                dry_run=input.dry_run,
            )
            return CartMappingVersion.of(version)

        version, errors = await run_in_uow(
            info, SetCartMappingUserError, SetCartMappingErrorCode, use_case
        )
        return SetCartMappingPayload(version=version, user_errors=errors)

    @strawberry.mutation(
        description="Import a cart-mapping version from a CSV or XLSX file (admins, or the "
        "program's advertiser): the same checks as setCartMapping, each bad cell named by row "
        "and column; nothing is written when anything is wrong."
    )
    async def import_cart_mapping(
        self, info: Info, input: Annotated[ImportCartMappingInput, MUTATION_INPUT]
    ) -> ImportCartMappingPayload:
        cells: list[CartMappingFileError] = []
        saved: list[Path] = []

        async def use_case(uow: UnitOfWork, viewer: Viewer) -> CartMappingVersion | None:
            program = require_pk(input.program_id, "Program", "programId")
            await cart_mappings.mapping_program(uow, viewer, program)
            path = await save_upload(input.file, MAX_MAPPING_FILE_BYTES)
            saved.append(path)
            result = await cart_mapping_files.import_cart_mapping(
                uow,
                viewer,
                program,
                input.valid_from,
                path,
                getattr(input.file, "filename", None),
                dry_run=input.dry_run,
            )
            cells.extend(
                CartMappingFileError(
                    row=e.row, column=e.column, value=e.value, code=e.code, message=e.message
                )
                for e in result.errors
            )
            return CartMappingVersion.of(result.version) if result.version else None

        try:
            version, errors = await run_in_uow(
                info, ImportCartMappingUserError, ImportCartMappingErrorCode, use_case
            )
        finally:
            for path in saved:
                path.unlink(missing_ok=True)
        return ImportCartMappingPayload(version=version, cell_errors=cells, user_errors=errors)


async def _read(info: Info, call):  # type: ignore[no-untyped-def]
    viewer = info.context.require_viewer()
    async with UnitOfWork(info.context.engine) as uow:
        try:
            return await call(uow, viewer)
        except ValidationFailed as failed:
            raise bad_input(failed.errors[0]) from None
        except DomainError as error:
            raise bad_input(error) from None


@strawberry.type
class CartMappingQueries:
    @strawberry.field(
        description="Where to download the program's cart mapping (and its template) as CSV or "
        "XLSX. The download answers 404 to partners and to other advertisers."
    )
    def cart_mapping_files(self, info: Info, program_id: ProgramArg) -> CartMappingFiles:
        info.context.require_viewer()
        base = f"{CART_MAPPING_FILES_PATH}{program_id}"
        return CartMappingFiles(csv_url=base + ".csv", xlsx_url=base + ".xlsx")

    @strawberry.field(
        description="The version of a program's cart mapping in effect at `at` (null: none is). "
        "Admins and the program's advertiser; partners get NOT_FOUND."
    )
    async def cart_mapping(
        self,
        info: Info,
        program_id: ProgramArg,
        at: Annotated[datetime, strawberry.argument(description="The instant.")],
    ) -> CartMappingVersion | None:
        async def call(uow: UnitOfWork, viewer: Viewer) -> CartMappingVersion | None:
            program = require_pk(program_id, "Program", "programId")
            found = await cart_mappings.cart_mapping(uow, viewer, program, at)
            return CartMappingVersion.of(found) if found else None

        return await _read(info, call)  # type: ignore[no-any-return]

    @strawberry.field(
        description="The versions of a program's cart mapping, latest validFrom first. Admins "
        "and the program's advertiser; partners get NOT_FOUND."
    )
    async def cart_mapping_versions(
        self, info: Info, program_id: ProgramArg
    ) -> list[CartMappingVersionSummary]:
        async def call(uow: UnitOfWork, viewer: Viewer) -> list[CartMappingVersionSummary]:
            program = require_pk(program_id, "Program", "programId")
            heads = await cart_mappings.cart_mapping_versions(uow, viewer, program)
            return [CartMappingVersionSummary.of(h) for h in heads]

        return await _read(info, call)  # type: ignore[no-any-return]

    @strawberry.field(
        description="How sample positions would be mapped by the version in effect at `at`, and "
        "what commission a model of the program would give them as one conversion. Writes "
        "nothing. Admins and the program's advertiser; partners get NOT_FOUND."
    )
    async def preview_cart_mapping(
        self,
        info: Info,
        program_id: ProgramArg,
        at: Annotated[datetime, strawberry.argument(description="The tracking time to map at.")],
        positions: Annotated[
            list[CartPreviewPositionInput],
            strawberry.argument(description="1–100 sample positions."),
        ],
        conversion_target: Annotated[
            str, strawberry.argument(description="The target to rate as.")
        ] = "SALE_NEW_CUSTOMER",
        commission_model_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="The model to rate with (default: the first)."),
        ] = None,
    ) -> CartMappingPreview:
        async def call(uow: UnitOfWork, viewer: Viewer) -> CartMappingPreview:
            program = require_pk(program_id, "Program", "programId")
            model = pk(commission_model_id, "CommissionModel", "commissionModelId")
            preview = await cart_mappings.preview_cart_mapping(
                uow,
                viewer,
                program,
                at,
                [
                    cart_mappings.PreviewPosition(
                        p.order_value,
                        p.quantity,
                        ShopAttributes(p.shop_category, p.sku, p.brand, p.on_sale),
                        p.tracking_category,
                    )
                    for p in positions
                ],
                target=conversion_target,
                model_id=model,
            )
            return CartMappingPreview(
                lines=[
                    CartPreviewLine(
                        position=line.position,
                        version_id=strawberry.ID(encode_id("CartMappingVersion", line.version_id))
                        if line.version_id
                        else None,
                        rule_number=None if line.rule is None else line.rule + 1,
                        tracking_category=line.category,
                        mapped=line.mapped,
                        commission=line.commission,
                    )
                    for line in preview.lines
                ],
                commission=preview.commission,
                commission_model_name=preview.model_name,
            )

        return await _read(info, call)  # type: ignore[no-any-return]
