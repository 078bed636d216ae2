"""Persistence of job rows."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import jobs
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.jobs import Job, JobKind, JobStatus

log = logging.getLogger("portal.jobs")


def job_from_row(row: Row[Any]) -> Job:
    m = row._mapping
    return Job(
        id=m["id"],
        kind=JobKind(m["kind"]),
        status=JobStatus(m["status"]),
        created_by=m["created_by"],
        parameters=m["parameters"],
        format=m["format"],
        processed=m["processed"],
        total=m["total"],
        created_count=m["created_count"],
        error_count=m["error_count"],
        file_path=m["file_path"],
        error=m["error"],
        created_at=m["created_at"],
        started_at=m["started_at"],
        heartbeat_at=m["heartbeat_at"],
        attempts=m["attempts"],
        finished_at=m["finished_at"],
    )


async def insert_job(
    uow: UnitOfWork, kind: JobKind, created_by: int, parameters: dict[str, Any], fmt: str | None
) -> int:
    return await uow.insert(
        insert(jobs).values(
            kind=kind.value,
            status=JobStatus.QUEUED.value,
            attempts=0,
            created_by=created_by,
            parameters=parameters,
            format=fmt,
            processed=0,
            created_count=0,
            error_count=0,
            created_at=uow.now,
        )
    )


async def load_job(uow: UnitOfWork, job_id: int) -> Job | None:
    row = await uow.first(select(jobs).where(jobs.c.id == job_id))
    return job_from_row(row) if row else None


# A RUNNING job that has not beaten for this long lost its worker (it beats every 15 s).
JOB_LEASE = timedelta(seconds=60)
# A job whose worker died this many times is not taken over again: it fails.
MAX_ATTEMPTS = 3


class Claim(enum.Enum):
    STARTED = "STARTED"  # QUEUED → RUNNING
    TAKEN_OVER = "TAKEN_OVER"  # RUNNING, but its worker died: this run goes on with it


async def claim_job(uow: UnitOfWork, job_id: int, lease: timedelta = JOB_LEASE) -> Claim | None:
    """The right to run the job, or None when another run has it or it is done (a job runs
    once at a time)."""
    running = {
        "status": JobStatus.RUNNING.value,
        "heartbeat_at": uow.now,
        "attempts": jobs.c.attempts + 1,
    }
    started = await uow.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == JobStatus.QUEUED.value)
        .values(started_at=uow.now, **running)
    )
    if started.rowcount == 1:
        return Claim.STARTED
    taken = await uow.execute(
        update(jobs)
        .where(
            jobs.c.id == job_id,
            jobs.c.status == JobStatus.RUNNING.value,
            jobs.c.attempts < MAX_ATTEMPTS,
            or_(jobs.c.heartbeat_at.is_(None), jobs.c.heartbeat_at < uow.now - lease),
        )
        .values(**running)
    )
    return Claim.TAKEN_OVER if taken.rowcount == 1 else None


@contextlib.asynccontextmanager
async def heartbeat(
    engine: AsyncEngine, job_id: int, every: timedelta = JOB_LEASE / 4
) -> AsyncIterator[None]:
    """Keeps the lease of a running job while the block runs: its heartbeat, in transactions
    of its own (one that fails, e.g. while SQLite is locked, is retried at the next beat)."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every.total_seconds())
            try:
                async with UnitOfWork(engine) as uow:
                    await uow.execute(
                        update(jobs).where(jobs.c.id == job_id).values(heartbeat_at=uow.now)
                    )
                    await uow.commit()
            except Exception:
                log.warning("heartbeat of job %s failed", job_id, exc_info=True)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def unfinished_jobs(
    uow: UnitOfWork, queued_before: datetime, lease: timedelta = JOB_LEASE
) -> list[Job]:
    """Jobs that should be running but are not: QUEUED since before `queued_before` (their
    queue lost them), or RUNNING without a heartbeat for the lease."""
    found = await uow.conn.execute(
        select(jobs).where(
            or_(
                and_(jobs.c.status == JobStatus.QUEUED.value, jobs.c.created_at < queued_before),
                and_(
                    jobs.c.status == JobStatus.RUNNING.value,
                    or_(jobs.c.heartbeat_at.is_(None), jobs.c.heartbeat_at < uow.now - lease),
                ),
            )
        )
    )
    return [job_from_row(row) for row in found]


async def finish_job(uow: UnitOfWork, job_id: int, status: JobStatus, **values: Any) -> None:
    await uow.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(status=status.value, finished_at=uow.now, **values)
    )
