"""The life of one run of a background job (an import, an export): claim the job, keep its
lease while the work runs, and end it FAILED when the work fails — unless another run took the
job over, in which case this one stops without writing more.

A transient failure of the database does not fail the job: the work is tried again with
backoff (`job_failures.retrying`), going on where it stopped, as a run that takes over a job
does. Only a permanent failure ends it FAILED, with a code and a message for people."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.faults import is_transient
from portal.adapters.job_store import Lease, LeaseLost, claim_job, finish_job, heartbeat
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.jobs import JobStatus
from portal.services.job_failures import failure_message, retrying

log = logging.getLogger("portal.jobs")


async def _claim(engine: AsyncEngine, job_id: int) -> Lease | None:
    async with UnitOfWork(engine) as uow:
        lease = await claim_job(uow, job_id)
        if lease is not None:
            await uow.commit()
        return lease


async def run_leased(
    engine: AsyncEngine, job_id: int, what: str, work: Callable[[Lease], Awaitable[None]]
) -> str:
    """Runs `work` (which ends the job SUCCEEDED itself) under the job's lease. Answers
    "succeeded", "failed", "skipped" (another run has the job, or it is done), "taken over",
    or "interrupted" (the database went away for good: the job is left to a later run)."""
    name = f"{what} {job_id}"
    lease = await retrying(f"claiming {name}", lambda _: _claim(engine, job_id))
    if lease is None:
        return "skipped"

    async def attempt(number: int) -> None:
        # After a transient failure, go on where the work stopped, as a take-over does.
        await work(lease if number == 1 else replace(lease, taken_over=True))

    try:
        async with heartbeat(engine, lease):
            await retrying(name, attempt)
        return "succeeded"
    except LeaseLost:
        log.warning("%s: taken over by another run; this one stops", name)
        return "taken over"
    except Exception as error:
        message = failure_message(error, name)
    try:
        async with UnitOfWork(engine) as uow:
            await finish_job(uow, job_id, JobStatus.FAILED, lease=lease, error=message[:4000])
            await uow.commit()
    except LeaseLost:
        return "taken over"
    except Exception as error:
        if not is_transient(error):
            raise
        # The job stays RUNNING; once its heartbeat is a minute old, a later run takes it over.
        log.error("%s: could not record its failure (%s); left to a later run", name, error)
        return "interrupted"
    return "failed"
