"""Work waiting in the database: imports and exports not yet finished, and accepted
conversion requests not yet processed (what /metrics reports as queue depth)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests, jobs
from portal.domain.jobs import JobStatus
from portal.domain.requests import RequestStatus

UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


async def unfinished_work(engine: AsyncEngine) -> dict[tuple[str, str], int]:
    """(kind, status) → count; request processing counts as kind `PROCESS_CONVERSION_REQUEST`
    with status `QUEUED` (an accepted request waits for its job)."""
    async with engine.connect() as conn:
        job_rows = await conn.execute(
            select(jobs.c.kind, jobs.c.status, func.count())
            .where(jobs.c.status.in_(UNFINISHED))
            .group_by(jobs.c.kind, jobs.c.status)
        )
        counts = {(kind, status): int(n) for kind, status, n in job_rows}
        accepted = await conn.scalar(
            select(func.count())
            .select_from(conversion_requests)
            .where(conversion_requests.c.status == RequestStatus.ACCEPTED.value)
        )
    counts[("PROCESS_CONVERSION_REQUEST", JobStatus.QUEUED.value)] = int(accepted or 0)
    return counts
