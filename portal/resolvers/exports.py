"""exportConversionRequests (and the `exports` list of the viewer's export jobs)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from portal.adapters.filter_json import filter_to_json
from portal.adapters.spreadsheets import TableFormat
from portal.domain.jobs import EXPORT_KINDS, JobKind
from portal.resolvers.jobs import job_page, start_export
from portal.resolvers.support import MUTATION_INPUT, Info, user_error_type
from portal.schema.arguments import After, First
from portal.schema.request_queries import ConversionRequestFilterInput, request_filter
from portal.schema.types.base import Connection
from portal.schema.types.jobs import ExportJob, TableFormatEnum

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
        job, errors = await start_export(
            info,
            JobKind.EXPORT_CONVERSION_REQUESTS,
            filter_to_json(request_filter(input.filter)),
            TableFormat(input.format.value),
            ExportRequestsError,
            ExportRequestsCode,
        )
        return ExportConversionRequestsPayload(export=job, user_errors=errors)


@strawberry.type
class ExportQueries:
    @strawberry.field(description="Your export jobs, newest first.")
    async def exports(
        self,
        info: Info,
        first: First = None,
        after: After = None,
    ) -> Connection[ExportJob]:
        listing = await job_page(info, EXPORT_KINDS, first, after)
        return Connection.of(listing, ExportJob.from_domain)  # type: ignore[return-value]
