"""Jobs nothing is running: queued again. A job's queue may lose it (Redis down at the commit,
an embedded server stopped before it ran), and a worker may die in the middle of one (arq
runs it again only after its timeout). `claim_job` lets one run at a time take such a job
over, and an import goes on after its last committed batch (`imports.run_import`)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.job_store import JOB_LEASE, MAX_ATTEMPTS, give_up_job, unfinished_jobs
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.jobs import EXPORT_KINDS, Job, JobKind, JobStatus
from portal.services.billing_runs import BILLING_JOB
from portal.services.exports import EXPORT_JOB
from portal.services.imports import IMPORT_JOB
from portal.services.sales_validation_files import VALIDATION_IMPORT_JOB

log = logging.getLogger("portal.jobs")
# How long a job may wait in its queue before it counts as lost.
QUEUED_FOR = timedelta(minutes=5)
_FUNCTIONS = {
    JobKind.IMPORT_CONVERSION_REQUESTS: (IMPORT_JOB, "import"),
    JobKind.IMPORT_SALES_VALIDATION: (VALIDATION_IMPORT_JOB, "validation"),
    **{kind: (EXPORT_JOB, "export") for kind in EXPORT_KINDS},
    JobKind.BILLING_RUN: (BILLING_JOB, "billing"),
}


async def requeue_unfinished_jobs(
    engine: AsyncEngine,
    queue: Any,
    queued_for: timedelta = QUEUED_FOR,
    lease: timedelta = JOB_LEASE,
) -> int:
    """Queues the jobs that wait too long or stopped beating; fails the ones whose worker died
    `MAX_ATTEMPTS` times (a file that kills its worker must not kill the next ones)."""
    async with UnitOfWork(engine) as uow:
        found = await unfinished_jobs(uow, uow.now - queued_for, lease)
        dead = [j for j in found if j.status is JobStatus.RUNNING and j.attempts >= MAX_ATTEMPTS]
        given_up = [
            job
            for job in dead
            if await give_up_job(
                uow,
                job,
                f"WORKER_LOST: the job stopped {job.attempts} times without finishing",
                lease,
            )
        ]
        await uow.commit()
    again = [j for j in found if j not in dead]
    for job in again:
        function, prefix = _FUNCTIONS[job.kind]
        await queue.enqueue(function, job.id, job_id=_queue_id(prefix, job))
    if again or given_up:
        log.info(
            "jobs queued again: %s; given up: %s", [j.id for j in again], [j.id for j in given_up]
        )
    return len(again)


def _queue_id(prefix: str, job: Job) -> str:
    """A lost QUEUED job goes under the id of its first enqueue: should the queue still hold
    it after all, arq drops the copy. A dead RUNNING job needs an id of its own, per attempt:
    arq drops an enqueue while the same id's in-progress key lives, and the dead worker's key
    lives for arq's whole job timeout (10 minutes) — the take-over would wait for it."""
    if job.status is JobStatus.QUEUED:
        return f"{prefix}:{job.id}"
    return f"{prefix}:{job.id}:after-attempt:{job.attempts}"
