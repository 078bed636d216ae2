"""Persistence of job rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row

from portal.adapters.tables import jobs
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.jobs import Job, JobKind, JobStatus


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
        finished_at=m["finished_at"],
    )


async def insert_job(
    uow: UnitOfWork, kind: JobKind, created_by: int, parameters: dict[str, Any], fmt: str | None
) -> int:
    return await uow.insert(
        insert(jobs).values(
            kind=kind.value,
            status=JobStatus.QUEUED.value,
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


async def claim_job(uow: UnitOfWork, job_id: int) -> bool:
    """QUEUED → RUNNING; False when another run has it or it is done (a job runs once)."""
    result = await uow.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == JobStatus.QUEUED.value)
        .values(status=JobStatus.RUNNING.value, started_at=uow.now)
    )
    return bool(result.rowcount == 1)


async def finish_job(uow: UnitOfWork, job_id: int, status: JobStatus, **values: Any) -> None:
    await uow.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(status=status.value, finished_at=uow.now, **values)
    )
