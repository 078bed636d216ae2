"""Throughput of conversion requests on PostgreSQL with arq workers on Redis:

1. N CREATE_NEW requests raised through services.requests.create_request, one transaction
   each (like one API call each), by `--concurrency` concurrent callers → created/s;
2. all accepted through services.requests.decide_requests in batches of `--batch` (one
   transaction per batch; the jobs are queued on Redis after each commit) while `--workers`
   `portal worker` processes (arq run_worker with WorkerSettings) run → accepted/s and
   accepted-and-processed/s (from the first decision until every request is PROCESSED).

    .venv/bin/python -m bench.requests_throughput [--requests 2000] [--batch 100] \
        [--concurrency 8] [--workers 1] [--max-jobs 10]

PostgreSQL: PORTAL_BENCH_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test);
a throw-away database is created next to it and dropped afterwards. Redis: PORTAL_BENCH_REDIS_URL
(default redis://127.0.0.1:6379/0); the run uses its own queue and removes its keys at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.database import create_engine, migrate
from portal.adapters.tables import conversion_requests
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.requests import Decision
from portal.jobs.queue import ArqQueue
from portal.services.requests import create_request, decide_requests
from tests import request_factories as rf
from tests.factories import build_world

ROOT = Path(__file__).resolve().parents[1]
WORKER = """
import logging
import os
from arq import run_worker
from portal.jobs.worker import WorkerSettings

logging.basicConfig(level=logging.WARNING)
run_worker(WorkerSettings, queue_name=os.environ["BENCH_QUEUE_NAME"],
           max_jobs=int(os.environ["BENCH_MAX_JOBS"]))
"""


class Statements:
    """SQL statements the engine sends (this process only: not the workers')."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, *args: object) -> None:
        self.count += 1

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


class TimedQueue(ArqQueue):
    """ArqQueue that adds up the time spent enqueueing (after the commits)."""

    seconds = 0.0

    async def enqueue(self, function: str, *args: Any, job_id: str | None = None) -> None:
        started = time.perf_counter()
        await super().enqueue(function, *args, job_id=job_id)
        self.seconds += time.perf_counter() - started


async def create_requests(engine: AsyncEngine, count: int, concurrency: int) -> list[int]:
    world = await build_world(engine, conversions_per_partner=0)
    partner = await rf.viewer(engine, "A")
    # Request ids (and so arq job ids `request:<id>:0`) that no other run on this Redis uses.
    async with engine.begin() as conn:
        await conn.execute(
            text("SELECT setval(pg_get_serial_sequence('conversion_requests', 'id'), :n)"),
            {"n": random.randrange(10**9, 10**15)},
        )
    ids: list[int] = []
    numbers = iter(range(count))
    statements = Statements(engine)

    async def caller() -> None:
        for n in numbers:
            async with UnitOfWork(engine) as uow:
                raised = await create_request(
                    uow, partner, rf.new_order_draft(world, f"BENCH-{n}", f"{100 + n % 400}.00")
                )
                await uow.commit()
            ids.append(raised.id)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    print(
        f"created   {count:>6} requests in {elapsed:6.2f} s = {count / elapsed:8.1f}/s "
        f"(create_request, one transaction each, {concurrency} concurrent callers; "
        f"{statements.take() / count:.1f} SQL statements per request)"
    )
    return sorted(ids)


async def count_status(engine: AsyncEngine, status: str) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                select(func.count())
                .select_from(conversion_requests)
                .where(conversion_requests.c.status == status)
            )
            or 0
        )


async def accept_and_process(
    engine: AsyncEngine, pool: ArqRedis, ids: list[int], batch: int
) -> None:
    adv1 = await rf.viewer(engine, "adv1")
    queue = TimedQueue(pool)
    statements = Statements(engine)
    started = time.perf_counter()
    for i in range(0, len(ids), batch):
        async with UnitOfWork(engine, queue=queue) as uow:
            outcomes = await decide_requests(
                uow, adv1, [(rid, Decision.ACCEPT, None, None, None) for rid in ids[i : i + batch]]
            )
            await uow.commit()
        failed = [o for o in outcomes if o.errors]
        assert not failed, failed[0].errors
    accepted_at = time.perf_counter() - started
    rate = len(ids) / accepted_at
    print(
        f"accepted  {len(ids):>6} requests in {accepted_at:6.2f} s = {rate:8.1f}/s "
        f"(decide_requests, {batch} per transaction, jobs queued after each commit; "
        f"{statements.take() / len(ids):.1f} SQL statements per request; "
        f"{queue.seconds:.2f} s of it enqueueing)"
    )
    while True:
        processed = await count_status(engine, "PROCESSED")
        failed_count = await count_status(engine, "FAILED")
        if processed + failed_count >= len(ids):
            break
        if time.perf_counter() - started > 600:
            raise SystemExit(f"gave up after 600 s: {processed} of {len(ids)} processed")
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    print(
        f"processed {processed:>6} requests in {elapsed:6.2f} s = {processed / elapsed:8.1f}/s "
        f"(accepted-and-processed, from the first decision; {failed_count} FAILED; "
        f"the last {elapsed - accepted_at:.2f} s after the last decision)"
    )
    if failed_count:
        raise SystemExit(f"{failed_count} requests FAILED")


async def run(
    engine: AsyncEngine, database_url: str, redis_url: str, args: argparse.Namespace
) -> None:
    await migrate(engine)
    ids = await create_requests(engine, args.requests, args.concurrency)
    queue_name = f"portal-bench:{uuid.uuid4().hex}"
    pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=queue_name)
    workers: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "PORTAL_DATABASE_URL": database_url,
            "PORTAL_REDIS_URL": redis_url,
            "PORTAL_SECRET_KEY": "bench",
            "PORTAL_DATA_DIR": tmp,
            "BENCH_QUEUE_NAME": queue_name,
            "BENCH_MAX_JOBS": str(args.max_jobs),
        }
        try:
            for _ in range(args.workers):
                command = [sys.executable, "-c", WORKER]
                workers.append(subprocess.Popen(command, env=env, cwd=ROOT))  # noqa: ASYNC220
            await asyncio.sleep(2)  # the workers import and connect
            print(f"{args.workers} worker process(es), max_jobs={args.max_jobs}")
            await accept_and_process(engine, pool, ids, args.batch)
        finally:
            for worker in workers:
                worker.kill()
                worker.wait(10)
            keys = [queue_name, f"{queue_name}:health-check"]
            for rid in ids:
                keys += [
                    f"arq:{kind}:request:{rid}:0"
                    for kind in ("job", "result", "retry", "in-progress")
                ]
            for i in range(0, len(keys), 1000):
                await pool.delete(*keys[i : i + 1000])
            await pool.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-jobs", type=int, default=10)
    args = parser.parse_args()
    base_url = os.environ.get(
        "PORTAL_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    )
    redis_url = os.environ.get("PORTAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    admin_url = make_url(base_url)
    name = f"portal_bench_requests_{uuid.uuid4().hex[:8]}"
    database_url = admin_url.set(database=name).render_as_string(hide_password=False)
    admin = create_engine(
        admin_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(database_url)
    try:
        await run(engine, database_url, redis_url, args)
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
