"""The job queue port and its two runners.

- `ArqQueue` (PORTAL_REDIS_URL set): jobs go to Redis; `portal worker` runs them.
- `InProcessQueue` (embedded mode): jobs run as tasks of the serving process.

Both run the same job functions (portal.jobs.functions). Jobs are enqueued after the commit
that makes them necessary, receive ids only, and record their state in database rows, so a
job that runs twice or dies half-way is harmless (arq runs a job again after a worker dies)."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from portal.jobs.context import JobContext

log = logging.getLogger("portal.jobs")


class JobQueue(Protocol):
    async def enqueue(self, function: str, *args: Any, job_id: str | None = None) -> None: ...

    async def depth(self) -> int:
        """Jobs waiting or running in this queue."""
        ...

    async def close(self) -> None: ...


def namespace_of(database_url: str) -> str:
    """arq's job ids are global to the Redis database: ids are prefixed with a digest of the
    database URL so two deployments (or test runs) sharing a Redis never drop each other's jobs."""
    return hashlib.sha256(database_url.encode()).hexdigest()[:12]


def queue_name_of(database_url: str) -> str:
    """The deployment's own queue: a worker of one deployment sharing a Redis with another
    must not run the other's jobs (their ids name rows of another database)."""
    return f"arq:queue:{namespace_of(database_url)}"


class ArqQueue:
    def __init__(self, pool: ArqRedis, namespace: str = "") -> None:
        self.pool = pool
        self.namespace = namespace

    @classmethod
    async def connect(cls, redis_url: str, database_url: str) -> ArqQueue:
        """The queue of the deployment whose database is `database_url`."""
        pool = await create_pool(
            RedisSettings.from_dsn(redis_url), default_queue_name=queue_name_of(database_url)
        )
        return cls(pool, namespace_of(database_url))

    async def enqueue(self, function: str, *args: Any, job_id: str | None = None) -> None:
        # A None result means a job with this id is queued or its result is kept: it runs once.
        if job_id is not None and self.namespace:
            job_id = f"{self.namespace}:{job_id}"
        await self.pool.enqueue_job(function, *args, _job_id=job_id)

    async def depth(self) -> int:
        return int(await self.pool.zcard(self.pool.default_queue_name))

    async def close(self) -> None:
        await self.pool.aclose()


class InProcessQueue:
    def __init__(self) -> None:
        self.context: JobContext | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ids: set[str] = set()
        self._periodic: list[asyncio.Task[None]] = []

    def every(
        self,
        seconds: float,
        chore: Callable[[], Awaitable[Any]],
        *,
        first_after: float | None = None,
    ) -> None:
        """Runs `chore` every `seconds` (the first time after `first_after`, by default
        `seconds`) until the queue closes (a failure is logged)."""

        async def repeat() -> None:
            await asyncio.sleep(seconds if first_after is None else first_after)
            while True:
                try:
                    await chore()
                except Exception:
                    log.exception("periodic %s failed", getattr(chore, "__name__", chore))
                await asyncio.sleep(seconds)

        self._periodic.append(asyncio.create_task(repeat()))

    def bind(self, context: JobContext) -> None:
        self.context = context

    async def enqueue(self, function: str, *args: Any, job_id: str | None = None) -> None:
        from portal.jobs.functions import JOBS

        if job_id is not None:
            if job_id in self._ids:
                return
            self._ids.add(job_id)
        assert self.context is not None, "bind the queue to a JobContext first"
        # A context of its own: the job is not part of the request that queued it (its SQL
        # statements and log lines are the job's).
        task = asyncio.create_task(
            self._run(JOBS[function], args, job_id), context=contextvars.Context()
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Any, args: tuple[Any, ...], job_id: str | None) -> None:
        try:
            await job(self.context, *args)
        except Exception:
            log.exception("in-process job %s failed", job.__name__)
        finally:
            if job_id is not None:
                self._ids.discard(job_id)

    async def depth(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every queued job (and the jobs they enqueue) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in self._periodic:
            task.cancel()
        await asyncio.gather(*self._periodic, return_exceptions=True)
        await self.drain()
