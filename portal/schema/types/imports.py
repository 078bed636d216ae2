"""Import jobs, their progress and cell errors; the request file template."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry

from portal.adapters.pagination import PageRequest
from portal.adapters.reader import Listing
from portal.domain import jobs as domain
from portal.schema.arguments import After, First
from portal.schema.ids import encode_id
from portal.schema.types.base import Connection, Node
from portal.schema.types.jobs import JobKindEnum, JobStatusEnum

if TYPE_CHECKING:
    from portal.schema.context import Context

IMPORT_FILES_PATH = "/files/imports/"


@strawberry.type(description="How far a job is.")
class JobProgress:
    processed: int = strawberry.field(description="Rows handled so far.")
    total: int | None = strawberry.field(
        description=(
            "Rows in the file (of a workbook counted on upload without reading them, so an "
            "estimate that never falls short; exact once the import has succeeded)."
        )
    )


@strawberry.type(description="One bad cell (or row, when column is null).")
class ImportCellError:
    row: int = strawberry.field(description="Row number in the file (the header is row 1).")
    column: str | None = strawberry.field(description="Column name.")
    value: str | None = strawberry.field(description="The cell's value as read.")
    code: str = strawberry.field(
        description="Stable code, e.g. NEGATIVE_VALUE or UNKNOWN_CATEGORY."
    )
    message: str = strawberry.field(description="What is wrong.")


@strawberry.type(
    description="A row that an earlier upload of the same file raised already (outcome "
    "ALREADY_IMPORTED): nothing was created for it. A row whose request was withdrawn is no "
    "such row: uploading the file again raises it again."
)
class ImportedRow:
    row: int = strawberry.field(description="Row number in the file (the header is row 1).")
    code: str = strawberry.field(description="ALREADY_IMPORTED.")
    message: str = strawberry.field(description="What happened, naming the request.")
    request_pk: strawberry.Private[int | None]

    @strawberry.field(description="The id of the request the earlier upload raised.")
    def request_id(self) -> strawberry.ID | None:
        if self.request_pk is None:
            return None
        return strawberry.ID(encode_id("ConversionRequest", self.request_pk))


@strawberry.type(
    description="A conversion request file or a sales validation file being validated and "
    "applied (see `kind`)."
)
class ImportJob(Node):
    kind: JobKindEnum = strawberry.field(description="What is imported.")
    status: JobStatusEnum = strawberry.field(
        description="QUEUED, RUNNING, SUCCEEDED (maybe with row errors) or FAILED."
    )
    dry_run: bool = strawberry.field(description="Validated only; nothing written.")
    all_or_nothing: bool = strawberry.field(description="Nothing applied when any row fails.")
    progress: JobProgress = strawberry.field(description="Rows handled of all.")
    created_count: int = strawberry.field(
        description="Requests created; in a dry run, the requests it would create. A sales "
        "validation import: the conversions it changed (dry run: would change)."
    )
    error_count: int = strawberry.field(description="Cell errors found.")
    error: str | None = strawberry.field(
        description="Why the job failed as a whole (one bad cell never fails it): "
        "`CODE: message`, for people. INTERNAL (an unexpected fault: the message names an "
        "error id that is in the server log) and SERVICE_UNAVAILABLE (the database could not be "
        "used for minutes; a shorter outage is waited out) are the service's; the others name "
        "a problem of the input, e.g. WORKER_LOST (it stopped its worker three times)."
    )
    filename: str | None = strawberry.field(description="Name of the uploaded file.")
    created_at: datetime = strawberry.field(description="When it was uploaded.")
    finished_at: datetime | None = strawberry.field(description="When it ended.")
    pk: strawberry.Private[int]
    finished: strawberry.Private[bool]
    job_kind: strawberry.Private[domain.JobKind]

    @classmethod
    def from_domain(cls, j: domain.Job) -> ImportJob:
        return cls(
            id=strawberry.ID(encode_id("ImportJob", j.id)),
            pk=j.id,
            kind=j.kind,
            status=j.status,
            dry_run=bool(j.parameters.get("dry_run")),
            all_or_nothing=bool(j.parameters.get("all_or_nothing")),
            progress=JobProgress(processed=j.processed, total=j.total),
            created_count=j.created_count,
            error_count=j.error_count,
            error=j.error,
            filename=j.parameters.get("filename") or None,
            created_at=j.created_at,
            finished_at=j.finished_at,
            finished=j.status is domain.JobStatus.SUCCEEDED,
            job_kind=j.kind,
        )

    async def _already_imported(self, info: strawberry.Info[Context, None]) -> int:
        loader = info.context.loaders.batched(
            "already_imported", info.context.reader.already_imported_counts
        )
        return int(await loader.load(self.pk))

    @strawberry.field(
        description="Rows an earlier upload of the same file had raised already (outcome "
        "ALREADY_IMPORTED): nothing was created for them (see `alreadyImported`)."
    )
    async def already_imported_count(self, info: strawberry.Info[Context, None]) -> int:
        return await self._already_imported(info)

    @strawberry.field(
        description=(
            "Report of the rows with errors or an outcome (ALREADY_IMPORTED), as a plain GET of "
            "CSV: the rows as the file has them, with their row number first and an `errors` "
            "column last; `…/errors.xlsx` also marks the faulty cells in red. Fixed, a report "
            "can be uploaded again as it is. Null until the import succeeded, when every "
            "row was fine, and for sales validation imports (see `resultReportUrl`)."
        )
    )
    async def error_report_url(self, info: strawberry.Info[Context, None]) -> str | None:
        if not self.finished or self.job_kind is domain.JobKind.IMPORT_SALES_VALIDATION:
            return None
        if not self.error_count and not await self._already_imported(info):
            return None
        return f"{IMPORT_FILES_PATH}{self.id}/errors.csv"

    @strawberry.field(
        description="A sales validation import's result report, as a plain GET of CSV: every "
        "row as the file has it, its row number first, then `outcome` (as in "
        "`validateConversions`), `applied` (yes/no), `conversion_id`, `errors` and `changes` "
        "(field: old → new); `…/results.xlsx` is the same as a workbook. Null until the import "
        "succeeded, and for request imports (see `errorReportUrl`)."
    )
    def result_report_url(self) -> str | None:
        if not self.finished or self.job_kind is not domain.JobKind.IMPORT_SALES_VALIDATION:
            return None
        return f"{IMPORT_FILES_PATH}{self.id}/results.csv"

    @strawberry.field(description="The cell errors, in row order.")
    async def errors(
        self,
        info: strawberry.Info[Context, None],
        first: First = None,
        after: After = None,
    ) -> Connection[ImportCellError]:
        listing = await _job_rows(info, self.pk, first, after, already_imported=False)
        return Connection.of(listing, _cell_error)

    @strawberry.field(
        description="The rows an earlier upload of the same file had raised already, with the "
        "request each raised, in row order."
    )
    async def already_imported(
        self,
        info: strawberry.Info[Context, None],
        first: First = None,
        after: After = None,
    ) -> Connection[ImportedRow]:
        listing = await _job_rows(info, self.pk, first, after, already_imported=True)
        return Connection.of(listing, _imported_row)


async def _job_rows(
    info: strawberry.Info[Context, None],
    job_id: int,
    first: int | None,
    after: str | None,
    *,
    already_imported: bool,
) -> Listing:
    from portal.schema.errors import as_bad_input

    with as_bad_input():
        return await info.context.reader.job_rows(
            job_id, PageRequest(first=first, after=after), already_imported=already_imported
        )


def _cell_error(row: Any) -> ImportCellError:
    return ImportCellError(
        row=row.row, column=row.column, value=row.value, code=row.code, message=row.message
    )


def _imported_row(row: Any) -> ImportedRow:
    return ImportedRow(row=row.row, code=row.code, message=row.message, request_pk=row.request_id)


@strawberry.type(description="A column of the request file.")
class TemplateColumn:
    name: str = strawberry.field(description="Header (matched case-insensitively, any order).")
    required: bool = strawberry.field(description="Whether the column must be present.")
    description: str = strawberry.field(description="What it holds.")
    allowed_values: list[str] = strawberry.field(
        description="For enumerations, the allowed values."
    )


@strawberry.type(description="The request file format for the viewer, with template downloads.")
class ConversionRequestTemplate:
    columns: list[TemplateColumn] = strawberry.field(description="Every column.")
    csv_url: str = strawberry.field(description="Template as CSV (plain GET, same authentication).")
    xlsx_url: str = strawberry.field(description="Template as XLSX with drop-down lists.")
