"""Conversion requests processed by a real arq worker on Redis and PostgreSQL (SPEC §6): the job
is queued after the commit, runs twice harmlessly, and a worker killed mid-job (SIGKILL) leaves
nothing behind — arq runs the job again and the request is applied exactly once.

Every test uses its own queue name and request ids that no other test run uses (arq's job ids
are global to the Redis database), and removes only its own keys: Redis may be shared."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from arq import create_pool
from arq.connections import ArqRedis
from arq.jobs import Job
from arq.worker import Worker
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests
from portal.config import Settings
from portal.domain.requests import RequestKind, RequestStatus
from portal.jobs.context import JobContext
from portal.jobs.queue import ArqQueue
from portal.jobs.worker import WorkerSettings
from portal.services.requests import PROCESS_JOB
from tests import request_factories as rf
from tests.conftest import REDIS_URL
from tests.factories import World, build_world
from tests.integration.conftest import redis_settings

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.parametrize("engine", ["postgres"], indirect=True),
]
ROOT = Path(__file__).resolve().parents[2]


def _test_settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url="the engine is passed in",
        redis_url=REDIS_URL,
        secret_key="test",
        data_dir=tmp_path,
    )


async def _run_worker(pool: ArqRedis, engine: AsyncEngine, settings: Settings) -> Worker:
    """One burst of a worker with the production job functions on this test's queue."""
    own_pool = await create_pool(redis_settings(), default_queue_name=pool.default_queue_name)

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["portal"] = JobContext(engine=engine, settings=settings, queue=ArqQueue(ctx["redis"]))

    worker = Worker(
        functions=WorkerSettings.functions,
        redis_pool=own_pool,
        queue_name=pool.default_queue_name,
        burst=True,
        poll_delay=0,
        max_jobs=10,
        on_startup=startup,
        handle_signals=False,
    )
    try:
        await asyncio.wait_for(worker.main(), 60)
    finally:
        await worker.close()
    return worker


async def _accepted_through_arq(engine: AsyncEngine, world: World, pool: ArqRedis) -> int:
    raised = await rf.raise_new_order(engine, world)
    await rf.accept(engine, raised.id, queue=ArqQueue(pool))
    return raised.id


async def test_an_accepted_request_is_processed_by_the_worker(
    engine: AsyncEngine, arq_pool: ArqRedis, tmp_path: Path
) -> None:
    world = await build_world(engine)
    request_id = await _accepted_through_arq(engine, world, arq_pool)
    assert await arq_pool.zcard(arq_pool.default_queue_name) == 1, "queued on commit"
    assert (await rf.request(engine, request_id)).status is RequestStatus.ACCEPTED

    worker = await _run_worker(arq_pool, engine, _test_settings(tmp_path))

    assert (worker.jobs_complete, worker.jobs_failed, worker.jobs_retried) == (1, 0, 0)
    assert await Job(f"request:{request_id}:0", arq_pool).result(timeout=5) == "processed"
    done = await rf.request(engine, request_id)
    assert done.status is RequestStatus.PROCESSED and done.conversion_id is not None
    assert done.requested.order_id is not None
    assert await rf.conversions_of_order(engine, done.requested.order_id) == 1
    assert await rf.revisions_of_request(engine, request_id) == 1


async def test_the_same_job_twice_applies_the_request_once(
    engine: AsyncEngine, arq_pool: ArqRedis, tmp_path: Path
) -> None:
    world = await build_world(engine)
    raised = await rf.raise_change(engine, world)
    await rf.accept(engine, raised.id)  # no queue: the test enqueues
    first, second = (f"request:{raised.id}:{uuid.uuid4().hex}" for _ in range(2))
    assert await arq_pool.enqueue_job(PROCESS_JOB, raised.id, _job_id=first) is not None
    assert await arq_pool.enqueue_job(PROCESS_JOB, raised.id, _job_id=second) is not None
    assert await arq_pool.enqueue_job(PROCESS_JOB, raised.id, _job_id=first) is None, (
        "arq dedupes an id"
    )

    worker = await _run_worker(arq_pool, engine, _test_settings(tmp_path))

    assert (worker.jobs_complete, worker.jobs_failed) == (2, 0)
    results = sorted([await Job(i, arq_pool).result(timeout=5) for i in (first, second)])
    assert results == ["processed", "skipped: PROCESSED"]
    done = await rf.request(engine, raised.id)
    assert (done.status, done.attempts) == (RequestStatus.PROCESSED, 1)
    assert await rf.revisions_of_request(engine, raised.id) == 1
    assert (
        await rf.count(
            engine,
            conversion_requests,
            conversion_requests.c.kind == RequestKind.CHANGE_EXISTING.value,
        )
        == 1
    )


# -- a worker process killed in the middle of the job ------------------------------------------

WORKER = """
import logging
import os
from arq import run_worker
from portal.jobs.worker import WorkerSettings

logging.basicConfig(level=logging.INFO)
run_worker(
    WorkerSettings,
    queue_name=os.environ["TEST_QUEUE_NAME"],
    burst=os.environ["TEST_BURST"] == "1",
    job_timeout=int(os.environ["TEST_JOB_TIMEOUT"]),
    poll_delay=0.05,
)
"""


class WorkerProcesses:
    """`portal worker` processes (arq's run_worker with WorkerSettings); all killed at teardown."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *, burst: bool, job_timeout: int, log: Path) -> subprocess.Popen[bytes]:
        env = {
            **self.env,
            "TEST_BURST": "1" if burst else "0",
            "TEST_JOB_TIMEOUT": str(job_timeout),
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", WORKER],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        return process

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(10)


@pytest.fixture
def worker_processes(
    postgres_database: str, arq_pool: ArqRedis, tmp_path: Path
) -> Iterator[WorkerProcesses]:
    assert REDIS_URL
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": postgres_database,
        "PORTAL_REDIS_URL": REDIS_URL,
        "PORTAL_SECRET_KEY": "test",
        "PORTAL_DATA_DIR": str(tmp_path / "worker"),
        "TEST_QUEUE_NAME": arq_pool.default_queue_name,
    }
    processes = WorkerProcesses(env)
    try:
        yield processes
    finally:
        processes.kill_all()


async def _wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_worker_killed_mid_job_leaves_nothing_and_the_job_runs_again_once(
    engine: AsyncEngine, arq_pool: ArqRedis, worker_processes: WorkerProcesses, tmp_path: Path
) -> None:
    world = await build_world(engine)
    raised = await rf.raise_new_order(engine, world)
    job_id = f"request:{raised.id}:0"
    order_id = raised.requested.order_id
    assert order_id is not None

    await rf.accept(engine, raised.id, queue=ArqQueue(arq_pool))  # enqueues job_id on commit
    assert await arq_pool.zscore(arq_pool.default_queue_name, job_id) is not None

    # The test holds the request's row lock, so the worker's job blocks inside process_request.
    lock = await engine.connect()
    try:
        await lock.begin()
        await lock.execute(
            select(conversion_requests.c.id)
            .where(conversion_requests.c.id == raised.id)
            .with_for_update()
        )

        doomed = worker_processes.start(burst=False, job_timeout=4, log=tmp_path / "worker-1.log")

        async def job_blocked_on_the_lock() -> bool:
            assert doomed.poll() is None, (tmp_path / "worker-1.log").read_text()
            # (Not by the query text: pg_stat_activity cuts it at 1 kB, before "FOR UPDATE".)
            async with engine.connect() as conn:
                waiting = await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
            return bool(waiting)

        await _wait_for(job_blocked_on_the_lock, 30, "the worker's job to wait for the row lock")
        assert await arq_pool.exists(f"arq:in-progress:{job_id}")
        doomed.kill()  # SIGKILL: no shutdown, no cleanup, the job stays in progress
        doomed.wait(10)
    finally:
        await lock.rollback()
        await lock.close()

    left = await rf.request(engine, raised.id)
    assert (left.status, left.attempts) == (RequestStatus.ACCEPTED, 0)
    assert await rf.conversions_of_order(engine, order_id) == 0
    assert await arq_pool.zscore(arq_pool.default_queue_name, job_id) is not None, (
        "arq keeps the job queued"
    )

    # A new worker runs the same job again once the dead worker's in-progress mark expires
    # (job_timeout + 10 s), then stops (burst).
    survivor = worker_processes.start(burst=True, job_timeout=60, log=tmp_path / "worker-2.log")
    exit_code = await asyncio.to_thread(survivor.wait, 90)
    assert exit_code == 0, (tmp_path / "worker-2.log").read_text()

    info = await Job(job_id, arq_pool).result_info()
    assert info is not None and info.success and info.result == "processed", info
    assert info.job_try == 2, "the same job, run again"
    done = await rf.request(engine, raised.id)
    assert (done.status, done.attempts) == (RequestStatus.PROCESSED, 1)
    assert await rf.conversions_of_order(engine, order_id) == 1
    assert await rf.revisions_of_request(engine, raised.id) == 1
