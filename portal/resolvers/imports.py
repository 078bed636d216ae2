"""importConversionRequests, exportConversions, and the `imports` and template queries."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import strawberry
from strawberry.file_uploads import Upload

from portal.adapters.filter_json import filter_to_json
from portal.adapters.spreadsheets import TableFormat
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.errors import DomainError
from portal.domain.jobs import JobKind
from portal.resolvers.jobs import job_page, start_export, started_job
from portal.resolvers.support import MUTATION_INPUT, Info, run_in_uow, user_error_type
from portal.schema.arguments import After, First
from portal.schema.queries import ConversionFilterInput, conversion_filter
from portal.schema.types.base import Connection
from portal.schema.types.imports import ConversionRequestTemplate, ImportJob, TemplateColumn
from portal.schema.types.jobs import ExportJob, TableFormatEnum
from portal.services.imports import ImportLimits, ImportOptions, start_import
from portal.services.templates import template_columns

TEMPLATE_PATH = "/files/templates/conversion-requests"
READ_CHUNK = 1 << 20

ImportCode, ImportError_ = user_error_type(
    "ImportConversionRequests",
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
        "UNKNOWN_TIME_ZONE",
    ],
)
ExportConversionsCode, ExportConversionsError = user_error_type("ExportConversions", [])


@strawberry.input(description="A request file (CSV or XLSX) and how to apply it.")
class ImportConversionRequestsInput:
    file: Upload = strawberry.field(description="The file (GraphQL multipart request).")
    dry_run: bool = strawberry.field(default=False, description="Validate only; write nothing.")
    all_or_nothing: bool = strawberry.field(
        default=False, description="Apply nothing when any row fails."
    )
    time_zone: str = strawberry.field(
        default="UTC",
        description=(
            "IANA zone of times without offset (e.g. `dd.mm.yyyy hh:mm`), e.g. Europe/Berlin."
        ),
    )


@strawberry.type(description="The queued import; its structure was checked already.")
class ImportConversionRequestsPayload:
    import_job: ImportJob | None = strawberry.field(description="The import job.")
    user_errors: list[ImportError_] = strawberry.field(
        description="Problems with the file as a whole."
    )  # type: ignore[valid-type]


@strawberry.input(description="Export conversions as a CHANGE_EXISTING request file.")
class ExportConversionsInput:
    format: TableFormatEnum = strawberry.field(description="CSV or XLSX.")
    filter: ConversionFilterInput | None = strawberry.field(
        default=None, description="As in `conversions`."
    )


async def save_upload(upload: Any, limit: int) -> Path:
    """Copies the upload to a temporary file, refusing it past `limit` bytes without reading on."""
    handle, name = tempfile.mkstemp(prefix="portal-upload-")
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := await upload.read(READ_CHUNK):
                size += len(chunk)
                if size > limit:
                    Path(name).unlink(missing_ok=True)  # noqa: ASYNC240 - a local temp file
                    raise DomainError(
                        "FILE_TOO_LARGE", f"the file exceeds {limit} bytes", ("file",)
                    )
                out.write(chunk)
    finally:
        await upload.close()
    return Path(name)


@strawberry.type
class ImportMutations:
    @strawberry.mutation(
        description="Upload a request file; rows are validated and applied by a job."
    )
    async def import_conversion_requests(
        self, info: Info, input: Annotated[ImportConversionRequestsInput, MUTATION_INPUT]
    ) -> ImportConversionRequestsPayload:
        limits = ImportLimits.from_env()
        options = ImportOptions(input.dry_run, input.all_or_nothing, input.time_zone)
        saved: list[Path] = []

        async def use_case(uow: UnitOfWork, viewer: Viewer) -> ImportJob:
            path = await save_upload(input.file, limits.max_bytes)
            saved.append(path)
            job_id = await start_import(
                uow,
                viewer,
                info.context.settings,
                path,
                getattr(input.file, "filename", None),
                options,
                limits,
            )
            return ImportJob.from_domain(await started_job(uow, job_id))

        try:
            job, errors = await run_in_uow(info, ImportError_, ImportCode, use_case)
        finally:
            for path in saved:
                path.unlink(missing_ok=True)
        return ImportConversionRequestsPayload(import_job=job, user_errors=errors)

    @strawberry.mutation(
        description="Export conversions as a request file (edit it, upload it as requests)."
    )
    async def export_conversions(
        self, info: Info, input: Annotated[ExportConversionsInput, MUTATION_INPUT]
    ) -> ExportConversionsPayload:
        job, errors = await start_export(
            info,
            JobKind.EXPORT_CONVERSIONS,
            filter_to_json(conversion_filter(input.filter)),
            TableFormat(input.format.value),
            ExportConversionsError,
            ExportConversionsCode,
        )
        return ExportConversionsPayload(export=job, user_errors=errors)


@strawberry.type(description="The started export; poll it until SUCCEEDED.")
class ExportConversionsPayload:
    export: ExportJob | None = strawberry.field(description="The export job.")
    user_errors: list[ExportConversionsError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.type
class ImportQueries:
    @strawberry.field(
        description="Your import jobs (request files and sales validation files), newest first."
    )
    async def imports(
        self,
        info: Info,
        first: First = None,
        after: After = None,
    ) -> Connection[ImportJob]:
        listing = await job_page(
            info,
            [JobKind.IMPORT_CONVERSION_REQUESTS, JobKind.IMPORT_SALES_VALIDATION],
            first,
            after,
        )
        return Connection.of(listing, ImportJob.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="The request file's columns for you, and template downloads.")
    async def conversion_request_template(self, info: Info) -> ConversionRequestTemplate:
        columns = await template_columns(info.context.engine, info.context.require_viewer())
        return ConversionRequestTemplate(
            columns=[
                TemplateColumn(
                    name=c.name,
                    required=c.required,
                    description=c.description,
                    allowed_values=list(c.allowed),
                )
                for c in columns
            ],
            csv_url=TEMPLATE_PATH + ".csv",
            xlsx_url=TEMPLATE_PATH + ".xlsx",
        )
