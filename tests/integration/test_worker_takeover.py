"""A `portal worker` process SIGKILLed in the middle of an import, on PostgreSQL and Redis:
another `portal worker` takes the job over about a minute after the dead one's last heartbeat
(not after arq's ten-minute job timeout), and every row of the file is applied exactly once.

Real processes with the production settings (heartbeat 15 s, lease 60 s, recovery every 10 s),
so this test takes about a minute and a half."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.database import create_engine
from portal.adapters.tables import conversion_requests, import_errors, jobs
from portal.config import Settings
from portal.jobs.queue import ArqQueue, namespace_of
from tests.conftest import REDIS_URL, truncate, unavailable
from tests.factories import build_world
from tests.import_files import csv_bytes, start_import_of

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
ROOT = Path(__file__).resolve().parents[2]
ROWS = 40_000
BAD = {7, 20_001, 39_998}  # negative order values: cell errors, not requests
HEADER = ["request_type", "program", "order_id", "conversion_target", "tracking_time"]
HEADER += ["order_value"]


def _file() -> bytes:
    t = "2026-06-01T10:00:00Z"
    rows = [
        ["CREATE_NEW", "Nordwind DE", f"K-{i}", "SALE_NEW_CUSTOMER", t, "-1" if i in BAD else "10"]
        for i in range(ROWS)
    ]
    return csv_bytes(HEADER, rows)


class Workers:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "portal.cli", "worker"],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(10)


@pytest.fixture
def workers(postgres_database: str, settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    if not REDIS_URL:
        unavailable("Redis (PORTAL_TEST_REDIS_URL)")
    assert REDIS_URL
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PORTAL_DATABASE_URL": postgres_database,
        "PORTAL_REDIS_URL": REDIS_URL,
        "PORTAL_SECRET_KEY": "test",
        "PORTAL_DATA_DIR": str(settings.data_dir),
    }
    running = Workers(env, tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


async def _job(engine: AsyncEngine, job_id: int) -> tuple[str, int, int, datetime | None]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).one()
    return row.status, row.processed, row.attempts, row.heartbeat_at


async def _now(engine: AsyncEngine) -> datetime:
    async with engine.connect() as conn:
        now: datetime = await conn.scalar(text("SELECT now()"))
    return now


@pytest.fixture
async def engine(postgres_database: str) -> AsyncIterator[AsyncEngine]:
    """PostgreSQL only: real workers run on PostgreSQL + Redis."""
    engine = create_engine(postgres_database)
    await truncate(engine)
    yield engine
    await engine.dispose()


async def test_a_killed_worker_s_import_is_taken_over_within_about_a_minute(
    engine: AsyncEngine, settings: Settings, workers: Workers
) -> None:
    assert REDIS_URL
    await build_world(engine)
    url = engine.url.render_as_string(hide_password=False)
    queue = await ArqQueue.connect(REDIS_URL, url)
    first = workers.start("first")
    try:
        # Enqueued on the deployment's own queue when the upload commits.
        job_id = await start_import_of(engine, settings, "A", _file(), queue)

        # The first worker takes the job and gets some way into it; then it is killed.
        for _ in range(1200):
            status, processed, attempts, _ = await _job(engine, job_id)
            if processed > 0 or first.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert first.poll() is None, workers.log("first")
        assert status == "RUNNING" and 0 < processed < ROWS and attempts == 1
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        status, processed, attempts, last_beat = await _job(engine, job_id)
        assert (status, attempts) == ("RUNNING", 1) and processed < ROWS and last_beat

        # Another worker (it looks at start, too early, then every 10 s) takes it over.
        workers.start("second")
        taken_after = None
        for _ in range(240):  # 2 minutes at most
            await asyncio.sleep(0.5)
            _, _, attempts, _ = await _job(engine, job_id)
            if attempts >= 2:
                taken_after = (await _now(engine) - last_beat).total_seconds()
                break
        assert taken_after is not None, workers.log("second")
        # Not before the lease of 60 s, and within about a minute of it.
        assert 60 <= taken_after <= 80, taken_after

        for _ in range(600):
            status, processed, attempts, _ = await _job(engine, job_id)
            if status != "RUNNING":
                break
            await asyncio.sleep(0.2)
        assert (status, processed, attempts) == ("SUCCEEDED", ROWS, 2), workers.log("second")
    finally:
        workers.stop_all()
        await queue.close()
        await _forget_deployment(url)

    async with engine.connect() as conn:
        made = (
            await conn.execute(
                select(
                    func.count(), func.count(func.distinct(conversion_requests.c.order_id))
                ).select_from(conversion_requests)
            )
        ).one()
        errors = (
            await conn.scalars(
                select(import_errors.c.row)
                .where(import_errors.c.job_id == job_id)
                .order_by(import_errors.c.row)
            )
        ).all()
        counted = (
            await conn.execute(
                select(jobs.c.created_count, jobs.c.error_count).where(jobs.c.id == job_id)
            )
        ).one()
    good = ROWS - len(BAD)
    assert tuple(made) == (good, good)  # every row applied, none twice
    assert list(errors) == sorted(i + 2 for i in BAD)  # file rows: the header is row 1
    assert tuple(counted) == (good, len(BAD))


async def _forget_deployment(database_url: str) -> None:
    """The queue and job keys of this test's deployment."""
    assert REDIS_URL
    redis = Redis.from_url(REDIS_URL)
    try:
        namespace = namespace_of(database_url)
        keys = [k async for k in redis.scan_iter(match=f"*{namespace}*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()
