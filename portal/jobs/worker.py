"""The arq worker: `portal worker` (or `arq portal.jobs.worker.WorkerSettings`)."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from arq import cron, func
from arq.connections import RedisSettings

from portal.adapters.database import create_engine
from portal.config import Settings, database_url_from_env
from portal.heap import freeze_startup_heap
from portal.jobs.context import JobContext
from portal.jobs.functions import JOBS
from portal.jobs.queue import ArqQueue, namespace_of, queue_name_of
from portal.observability.logs import configure_logging


async def startup(ctx: dict[str, Any]) -> None:
    settings = Settings.from_env()
    configure_logging(secrets=[settings.secret_key])  # the secret key is redacted too
    engine = create_engine(settings.database_url)
    ctx["portal"] = JobContext(
        engine=engine,
        settings=settings,
        # The worker's pool enqueues on the queue the worker serves.
        queue=ArqQueue(ctx["redis"], namespace_of(settings.database_url)),
    )
    from portal.adapters.event_store import register_dispatch_queue

    register_dispatch_queue(engine, ctx["portal"].queue)
    from portal.adapters.event_store import register_live_relay
    from portal.adapters.live_events import RedisRelay

    ctx["live_relay"] = RedisRelay.connect(
        os.environ.get("PORTAL_REDIS_URL") or "redis://127.0.0.1:6379/0",
        namespace_of(settings.database_url),
    )
    register_live_relay(engine, ctx["live_relay"])
    # What the jobs import lazily, imported now, so it is frozen with the rest.
    import portal.services.exports
    import portal.services.imports
    import portal.services.request_processing  # noqa: F401

    freeze_startup_heap()


async def shutdown(ctx: dict[str, Any]) -> None:
    portal: JobContext | None = ctx.get("portal")
    if portal is not None:
        await portal.engine.dispose()
    if ctx.get("live_relay") is not None:
        await ctx["live_relay"].close()


def _adapt(name: str) -> Any:
    job = JOBS[name]

    async def run(ctx: dict[str, Any], *args: Any) -> Any:
        return await job(ctx["portal"], *args)

    run.__name__ = name
    run.__qualname__ = name
    return func(run, name=name)


async def requeue_accepted(ctx: dict[str, Any]) -> int:
    """Safety net: accepted requests whose job never reached the queue (Redis was down at
    the commit) are queued again. Processing is idempotent, so a duplicate is harmless."""
    from portal.services.request_processing import requeue_stale_accepted

    portal: JobContext = ctx["portal"]
    return await requeue_stale_accepted(portal.engine, portal.queue)


async def requeue_jobs(ctx: dict[str, Any]) -> int:
    """Safety net: imports and exports their queue lost, or whose worker died, queued again
    (each goes on where it stopped, or fails after a few such deaths)."""
    from portal.services.job_recovery import requeue_unfinished_jobs

    portal: JobContext = ctx["portal"]
    return await requeue_unfinished_jobs(portal.engine, portal.queue)


def redis_settings() -> RedisSettings:
    """From PORTAL_REDIS_URL alone: the class below is built at import, and importing it must
    have no side effects (`Settings.from_env` makes the data directory and a secret key)."""
    url = os.environ.get("PORTAL_REDIS_URL") or "redis://127.0.0.1:6379/0"
    return RedisSettings.from_dsn(url)


async def sweep_webhooks(ctx: dict[str, Any]) -> int:
    """Dispatches events a lost queue message left, and queues the due webhook retries."""
    from portal.services.webhooks import sweep

    portal: JobContext = ctx["portal"]
    return await sweep(portal.engine, portal.queue)


PRUNE_BUDGET_SECONDS = 300
"""A pruning run stops starting batches after this, well within the job timeout (600 s); a
backlog (the first run) goes on at the next hour."""


async def prune_events(ctx: dict[str, Any]) -> int:
    """Deletes the events past PORTAL_EVENT_RETENTION_DAYS whose deliveries are all final."""
    from portal.services.webhooks import prune_events as prune

    portal: JobContext = ctx["portal"]
    return await prune(
        portal.engine, portal.settings.event_retention_days, budget_seconds=PRUNE_BUDGET_SECONDS
    )


# How often a worker looks for jobs whose worker died: with heartbeats every 15 s and a lease
# of 60 s, such a job is taken over 60–70 s after its last heartbeat.
RECOVERY_SECONDS = set(range(0, 60, 10))


class WorkerSettings:
    functions: ClassVar[list[Any]] = [_adapt(name) for name in JOBS]
    cron_jobs: ClassVar[list[Any]] = [
        cron(requeue_accepted, second={0}, run_at_startup=True),
        cron(requeue_jobs, second=RECOVERY_SECONDS, run_at_startup=True),
        cron(sweep_webhooks, second=set(range(0, 60, 5)), run_at_startup=True),
        # Hourly. No longer timeout than the other jobs': arq keeps every job's in-progress
        # mark for the longest timeout, which is how long a dead worker's job waits.
        cron(prune_events, minute={23}, run_at_startup=True),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    queue_name = queue_name_of(database_url_from_env())  # as Settings, with no file made
    max_tries = 5
    job_timeout = 600
    keep_result = 60
