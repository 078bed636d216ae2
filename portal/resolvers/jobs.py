"""What the export and import resolvers share: listing the viewer's jobs of some kinds, reading
back a job just started, and starting an export job as a mutation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from portal.adapters.job_store import load_job
from portal.adapters.pagination import PageRequest
from portal.adapters.reader import Listing
from portal.adapters.spreadsheets import TableFormat
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.jobs import Job, JobKind
from portal.resolvers.support import Info, run_in_uow
from portal.schema.errors import as_bad_input
from portal.schema.types.jobs import ExportJob
from portal.services.exports import start_job_export


async def job_page(
    info: Info, kinds: Sequence[JobKind], first: int | None, after: str | None
) -> Listing:
    """The viewer's jobs of `kinds`, newest first; a bad page argument is a coded bad input."""
    with as_bad_input():
        return await info.context.reader.list_jobs(kinds, PageRequest(first=first, after=after))


async def started_job(uow: UnitOfWork, job_id: int) -> Job:
    """The job this transaction has just inserted."""
    job = await load_job(uow, job_id)
    assert job is not None
    return job


async def start_export(
    info: Info,
    kind: JobKind,
    parameters: dict[str, Any],
    fmt: TableFormat,
    error_type: type[Any],
    code_enum: Any,
) -> tuple[ExportJob | None, list[Any]]:
    """Start an export job of `kind` for the viewer; failures come back as user errors."""

    async def use_case(uow: UnitOfWork, viewer: Viewer) -> ExportJob:
        job_id = await start_job_export(uow, viewer, kind, parameters, fmt)
        return ExportJob.from_domain(await started_job(uow, job_id))

    return await run_in_uow(info, error_type, code_enum, use_case)
