"""Persistence of job rows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import billing_runs, jobs
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import visible
from portal.domain.access import Viewer
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


async def visible_job(engine: AsyncEngine, viewer: Viewer, job_id: int) -> Job | None:
    """The job, if the viewer may see it (its author, or an admin)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(jobs).where(jobs.c.id == job_id, visible(jobs, viewer)))
        ).first()
    return job_from_row(row) if row else None


async def billing_run_job(engine: AsyncEngine, viewer: Viewer, run_id: int) -> int | None:
    """The job of a billing run the viewer may see."""
    async with engine.connect() as conn:
        job_id = await conn.scalar(
            select(billing_runs.c.job_id).where(
                billing_runs.c.id == run_id, visible(billing_runs, viewer)
            )
        )
    return None if job_id is None else int(job_id)


async def load_job(uow: UnitOfWork, job_id: int) -> Job | None:
    row = await uow.first(select(jobs).where(jobs.c.id == job_id))
    return job_from_row(row) if row else None


# A RUNNING job that has not beaten for this long lost its worker (it beats every 15 s).
JOB_LEASE = timedelta(seconds=60)
# A job whose worker died this many times is not taken over again: it fails.
MAX_ATTEMPTS = 3


class LeaseLost(Exception):
    """Another run took the job over (this one was silent too long): this run must stop
    without writing anything more of it."""


@dataclass(frozen=True, slots=True)
class Lease:
    """The right of one run to a job: its writes name the attempt, so a run the job was taken
    from cannot write over the one that took it."""

    job_id: int
    attempt: int
    taken_over: bool  # the job was RUNNING: an earlier run died (or went silent)

    def owns(self) -> Any:
        """The condition of every write of this run."""
        return and_(jobs.c.id == self.job_id, jobs.c.attempts == self.attempt)


async def claim_job(uow: UnitOfWork, job_id: int, lease: timedelta = JOB_LEASE) -> Lease | None:
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
        .returning(jobs.c.attempts)
    )
    attempt = started.scalar()
    if attempt is not None:
        return Lease(job_id, attempt, taken_over=False)
    taken = await uow.execute(
        update(jobs)
        .where(
            jobs.c.id == job_id,
            jobs.c.status == JobStatus.RUNNING.value,
            jobs.c.attempts < MAX_ATTEMPTS,
            or_(jobs.c.heartbeat_at.is_(None), jobs.c.heartbeat_at < uow.now - lease),
        )
        .values(**running)
        .returning(jobs.c.attempts)
    )
    attempt = taken.scalar()
    return None if attempt is None else Lease(job_id, attempt, taken_over=True)


async def keep_lease(uow: UnitOfWork, lease: Lease, **values: Any) -> None:
    """Writes `values` (progress) to the job and beats; LeaseLost when it is no longer ours."""
    written = await uow.execute(
        update(jobs).where(lease.owns()).values(heartbeat_at=uow.now, **values)
    )
    if written.rowcount != 1:
        raise LeaseLost(f"job {lease.job_id} was taken over from attempt {lease.attempt}")


@contextlib.asynccontextmanager
async def heartbeat(
    engine: AsyncEngine, lease: Lease, every: timedelta = JOB_LEASE / 4
) -> AsyncIterator[None]:
    """Keeps the lease of a running job while the block runs: its heartbeat, in transactions
    of its own (one that fails, e.g. while SQLite is locked, is retried at the next beat)."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every.total_seconds())
            try:
                async with UnitOfWork(engine) as uow:
                    await keep_lease(uow, lease)
                    await uow.commit()
            except LeaseLost:
                log.warning("job %s: lease lost", lease.job_id)
                return
            except Exception:
                log.warning("heartbeat of job %s failed", lease.job_id, exc_info=True)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def give_up_job(uow: UnitOfWork, job: Job, error: str, lease: timedelta = JOB_LEASE) -> bool:
    """FAILED, if it is still RUNNING without a heartbeat; the attempt moves on, so a run that
    was only silent (not dead) loses its lease and cannot end the job after all."""
    given_up = await uow.execute(
        update(jobs)
        .where(
            jobs.c.id == job.id,
            jobs.c.status == JobStatus.RUNNING.value,
            jobs.c.attempts == job.attempts,
            or_(jobs.c.heartbeat_at.is_(None), jobs.c.heartbeat_at < uow.now - lease),
        )
        .values(
            status=JobStatus.FAILED.value,
            attempts=jobs.c.attempts + 1,
            error=error,
            finished_at=uow.now,
        )
    )
    return bool(given_up.rowcount == 1)


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


async def finish_job(
    uow: UnitOfWork, job_id: int, status: JobStatus, *, lease: Lease | None = None, **values: Any
) -> None:
    """Ends the job; with `lease`, only while this run holds it (LeaseLost otherwise)."""
    condition = lease.owns() if lease is not None else jobs.c.id == job_id
    ended = await uow.execute(
        update(jobs).where(condition).values(status=status.value, finished_at=uow.now, **values)
    )
    if lease is not None and ended.rowcount != 1:
        raise LeaseLost(f"job {job_id} was taken over from attempt {lease.attempt}")
    from portal.adapters.event_payloads import record_job_event

    await record_job_event(uow, job_id)


async def finish_succeeded(engine: AsyncEngine, lease: Lease, **values: Any) -> None:
    """Ends the leased job as SUCCEEDED in its own transaction (LeaseLost if taken over)."""
    async with UnitOfWork(engine) as uow:
        await finish_job(uow, lease.job_id, JobStatus.SUCCEEDED, lease=lease, **values)
        await uow.commit()


def enqueue_after_commit(uow: UnitOfWork, task: str, job_id: int, prefix: str) -> None:
    """Queue `task` for the job once the transaction that created it has committed, so a worker
    never sees a job that rolled back; arq's job id `<prefix>:<job_id>` keeps it queued once."""
    queue = uow.queue
    if queue is None:
        return

    async def enqueue() -> None:
        await queue.enqueue(task, job_id, job_id=f"{prefix}:{job_id}")

    uow.after_commit(enqueue)
