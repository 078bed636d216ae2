"""exportTrackingDifference: the tracking-difference report of a stored order book as an export
job — the file the synchronous download `/files/tracking-difference/…` sends, written off the
request (that download blocks on a large book and is deprecated)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from portal.adapters.spreadsheets import TableFormat
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.order_books import MAX_PERIOD_DAYS, Period
from portal.resolvers.jobs import started_job
from portal.resolvers.support import MUTATION_INPUT, Info, require_pk, run_in_uow, user_error_type
from portal.schema.statistics_queries import DatePeriodInput
from portal.schema.types.jobs import ExportJob, TableFormatEnum
from portal.services.order_book_files import start_report_export

ExportTrackingDifferenceCode, ExportTrackingDifferenceError = user_error_type(
    "ExportTrackingDifference", ["INVALID_PERIOD", "PERIOD_TOO_LONG"]
)


@strawberry.input(description="Export the tracking-difference report of a stored order book.")
class ExportTrackingDifferenceInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    period: DatePeriodInput = strawberry.field(
        description="The book's period, as uploaded (UTC days, both included, at most "
        f"{MAX_PERIOD_DAYS} days)."
    )
    format: TableFormatEnum = strawberry.field(description="CSV or XLSX.")


@strawberry.type(description="The started export; poll it (node/exports) until SUCCEEDED.")
class ExportTrackingDifferencePayload:
    export: ExportJob | None = strawberry.field(description="The export job.")
    user_errors: list[ExportTrackingDifferenceError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.type
class TrackingDifferenceExportMutations:
    @strawberry.mutation(
        description="Export the whole tracking-difference report of the program's order book "
        "of the period (every row, as the download `/files/tracking-difference/…` has it) as "
        "CSV or XLSX, in the background; only you may download the file. Admins and the "
        "program's advertiser; partners, other advertisers and unknown programs get NOT_FOUND "
        "on `programId`, a period without a stored book NOT_FOUND on `period`."
    )
    async def export_tracking_difference(
        self, info: Info, input: Annotated[ExportTrackingDifferenceInput, MUTATION_INPUT]
    ) -> ExportTrackingDifferencePayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> ExportJob:
            job_id = await start_report_export(
                uow,
                viewer,
                require_pk(input.program_id, "Program", "programId"),
                Period(input.period.from_, input.period.to),
                TableFormat(input.format.value),
            )
            return ExportJob.from_domain(await started_job(uow, job_id))

        job, errors = await run_in_uow(
            info, ExportTrackingDifferenceError, ExportTrackingDifferenceCode, use_case
        )
        return ExportTrackingDifferencePayload(export=job, user_errors=errors)
