"""Choosing the queue at start-up: arq when PORTAL_REDIS_URL is set, in-process otherwise."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from portal.config import Settings
from portal.jobs.context import JobContext
from portal.jobs.queue import ArqQueue, InProcessQueue, JobQueue, namespace_of


async def start_queue(settings: Settings, engine: AsyncEngine) -> JobQueue:
    if settings.redis_url:
        return await ArqQueue.connect(settings.redis_url, namespace_of(settings.database_url))
    queue = InProcessQueue()
    queue.bind(JobContext(engine=engine, settings=settings, queue=queue))
    # Embedded mode has no worker to pick up what a previous run left: resume it now.
    from portal.services.request_processing import requeue_stale_accepted

    await requeue_stale_accepted(engine, queue, stale_after_seconds=0)
    return queue
