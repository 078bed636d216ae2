"""Choosing the queue at start-up: arq when PORTAL_REDIS_URL is set, in-process otherwise."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from portal.config import Settings
from portal.jobs.context import JobContext
from portal.jobs.queue import ArqQueue, InProcessQueue, JobQueue

PRUNE_SECONDS = 3600
"""How often the embedded mode prunes the events outbox (portal.services.webhooks)."""
PRUNE_BUDGET_SECONDS = 30
"""A run starts no batch after this: on SQLite each batch holds the one write lock, so a backlog
is worked off in short runs, hour by hour, between the requests' writes."""


async def start_queue(settings: Settings, engine: AsyncEngine) -> JobQueue:
    from portal.adapters.event_store import register_dispatch_queue

    if settings.redis_url:
        arq_queue = await ArqQueue.connect(settings.redis_url, settings.database_url)
        register_dispatch_queue(engine, arq_queue)
        return arq_queue
    queue = InProcessQueue()
    register_dispatch_queue(engine, queue)
    queue.bind(JobContext(engine=engine, settings=settings, queue=queue))
    # Embedded mode has no worker to pick up what a previous run left: resume it now, and
    # look again every minute for jobs whose (earlier) process died.
    from portal.services.job_recovery import requeue_unfinished_jobs
    from portal.services.request_processing import requeue_stale_accepted

    await requeue_stale_accepted(engine, queue, stale_after_seconds=0)
    await requeue_unfinished_jobs(engine, queue, queued_for=timedelta(0))

    async def sweep() -> None:
        await requeue_unfinished_jobs(engine, queue)

    queue.every(60, sweep)

    async def webhooks() -> None:
        from portal.services.webhooks import sweep as sweep_webhooks

        await sweep_webhooks(engine, queue)

    # Retries come due at their time, give or take this interval.
    queue.every(30, webhooks)

    async def prune_events() -> None:
        from portal.services.webhooks import prune_events as prune

        await prune(engine, settings.event_retention_days, budget_seconds=PRUNE_BUDGET_SECONDS)

    # Hourly, the first time a minute after start-up (not in the way of starting).
    queue.every(PRUNE_SECONDS, prune_events, first_after=60)
    return queue
