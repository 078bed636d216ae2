"""The life of one run of a background job (an import, an export): claim the job, keep its
lease while the work runs, and end it FAILED when the work fails — unless another run took the
job over, in which case this one stops without writing more."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.job_store import Lease, LeaseLost, claim_job, finish_job, heartbeat
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.errors import DomainError
from portal.domain.jobs import JobStatus

log = logging.getLogger("portal.jobs")


async def run_leased(
    engine: AsyncEngine, job_id: int, what: str, work: Callable[[Lease], Awaitable[None]]
) -> str:
    """Runs `work` (which ends the job SUCCEEDED itself) under the job's lease. Answers
    "succeeded", "failed", "skipped" (another run has the job, or it is done) or "taken over"."""
    async with UnitOfWork(engine) as uow:
        lease = await claim_job(uow, job_id)
        if lease is None:
            return "skipped"
        await uow.commit()
    try:
        async with heartbeat(engine, lease):
            await work(lease)
        return "succeeded"
    except LeaseLost:
        log.warning("%s %s: taken over by another run; this one stops", what, job_id)
        return "taken over"
    except Exception as error:
        if isinstance(error, DomainError):
            message = f"{error.code}: {error.message}"
        else:
            log.exception("%s %s failed", what, job_id)
            message = f"{type(error).__name__}: {error}"
        async with UnitOfWork(engine) as uow:
            try:
                await finish_job(uow, job_id, JobStatus.FAILED, lease=lease, error=message[:4000])
            except LeaseLost:
                return "taken over"
            await uow.commit()
        return "failed"
