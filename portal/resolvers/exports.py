"""exportConversionRequests (and the `exports` list of the viewer's export jobs)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from portal.adapters.job_store import load_job
from portal.adapters.pagination import PageRequest
from portal.adapters.spreadsheets import TableFormat
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.errors import DomainError
from portal.domain.jobs import JobKind
from portal.resolvers.support import MUTATION_INPUT, Info, run_in_uow, user_error_type
from portal.schema.errors import bad_input
from portal.schema.request_queries import ConversionRequestFilterInput, request_filter
from portal.schema.types.base import Connection
from portal.schema.types.jobs import ExportJob, TableFormatEnum
from portal.services.exports import start_request_export

ExportRequestsCode, ExportRequestsError = user_error_type("ExportConversionRequests", [])


@strawberry.input(description="Export the explorer's filtered list.")
class ExportConversionRequestsInput:
    format: TableFormatEnum = strawberry.field(description="CSV or XLSX.")
    filter: ConversionRequestFilterInput | None = strawberry.field(
        default=None, description="As in conversionRequests."
    )


@strawberry.type(description="The started export; poll it (node/exports) until SUCCEEDED.")
class ExportConversionRequestsPayload:
    export: ExportJob | None = strawberry.field(description="The export job.")
    user_errors: list[ExportRequestsError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.type
class ExportMutations:
    @strawberry.mutation(
        description="Export conversion requests as CSV or XLSX, in the background."
    )
    async def export_conversion_requests(
        self, info: Info, input: Annotated[ExportConversionRequestsInput, MUTATION_INPUT]
    ) -> ExportConversionRequestsPayload:
        parsed = request_filter(input.filter)

        async def use_case(uow: UnitOfWork, viewer: Viewer) -> ExportJob:
            job_id = await start_request_export(
                uow, viewer, parsed, TableFormat(input.format.value)
            )
            job = await load_job(uow, job_id)
            assert job is not None
            return ExportJob.from_domain(job)

        job, errors = await run_in_uow(info, ExportRequestsError, ExportRequestsCode, use_case)
        return ExportConversionRequestsPayload(export=job, user_errors=errors)


@strawberry.type
class ExportQueries:
    @strawberry.field(description="Your export jobs, newest first.")
    async def exports(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="First n (1–100, default 50).")
        ] = None,
        after: Annotated[str | None, strawberry.argument(description="After this cursor.")] = None,
    ) -> Connection[ExportJob]:
        kinds = [JobKind.EXPORT_CONVERSION_REQUESTS, JobKind.EXPORT_CONVERSIONS]
        try:
            listing = await info.context.reader.list_jobs(
                kinds, PageRequest(first=first, after=after)
            )
        except DomainError as error:
            raise bad_input(error) from None
        return Connection.of(listing, ExportJob.from_domain)  # type: ignore[return-value]
