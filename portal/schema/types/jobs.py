"""Export jobs: their state and where to download the file."""

from __future__ import annotations

from datetime import datetime

import strawberry

from portal.adapters.spreadsheets import TableFormat
from portal.domain import jobs as domain
from portal.schema.ids import encode_id
from portal.schema.types.base import Node

JobStatusEnum = strawberry.enum(
    domain.JobStatus, description="QUEUED → RUNNING → SUCCEEDED | FAILED."
)
JobKindEnum = strawberry.enum(domain.JobKind, description="What a job does.")
TableFormatEnum = strawberry.enum(TableFormat, description="CSV (UTF-8 with BOM) or XLSX.")

DOWNLOAD_PATH = "/files/exports/"


@strawberry.type(
    description="An export running in the background; download the file when SUCCEEDED."
)
class ExportJob(Node):
    kind: JobKindEnum = strawberry.field(description="What is exported.")
    status: JobStatusEnum = strawberry.field(description="Where the job is.")
    format: TableFormatEnum = strawberry.field(description="File format.")
    row_count: int = strawberry.field(description="Rows written so far.")
    download_url: str | None = strawberry.field(
        description="Plain HTTP GET (same authentication) once SUCCEEDED; null before."
    )
    error: str | None = strawberry.field(
        description="Why it failed: "
        "`CODE: message`, for people. INTERNAL (an unexpected fault: the message names an "
        "error id that is in the server log) and SERVICE_UNAVAILABLE (the database could not be "
        "used for minutes; a shorter outage is waited out) are the service's; the others name "
        "a problem of the input, e.g. WORKER_LOST (it stopped its worker three times)."
    )
    created_at: datetime = strawberry.field(description="When it was started.")
    finished_at: datetime | None = strawberry.field(description="When it ended.")

    @classmethod
    def from_domain(cls, j: domain.Job) -> ExportJob:
        gid = encode_id("ExportJob", j.id)
        return cls(
            id=strawberry.ID(gid),
            kind=j.kind,
            status=j.status,
            format=TableFormat(j.format or "CSV"),
            row_count=j.processed,
            download_url=DOWNLOAD_PATH + gid if j.status is domain.JobStatus.SUCCEEDED else None,
            error=j.error,
            created_at=j.created_at,
            finished_at=j.finished_at,
        )
