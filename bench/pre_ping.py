"""What checking pooled connections before use (`pool_pre_ping`, issue 10) costs: the same
GraphQL list served with the check on and off, over HTTP (ASGI transport, the whole stack) on
PostgreSQL, at a few concurrencies.

    .venv/bin/python -m bench.pre_ping \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test [--seconds 10]

A throw-away database is created next to the given one (seeded with the test world: a partner
with 100 conversions) and dropped afterwards. Prints requests/s and latency percentiles per
setting and concurrency. Wall-clock numbers: compare them on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from portal.adapters.database import create_engine, migrate
from portal.config import Settings
from portal.web.app import create_app
from tests.factories import build_world

QUERY = "{ conversions(first: 20) { nodes { id orderId program { name } partner { name } } } }"


async def measure(url: str, pre_ping: bool, concurrency: int, seconds: float, token: str) -> str:
    engine = create_engine(url, pool_pre_ping=pre_ping)
    settings = Settings(
        database_url=url,
        redis_url=None,
        secret_key="bench",
        data_dir=Path(tempfile.mkdtemp()),
        rate_limit_capacity=10**9,
        rate_limit_restore_rate=10**9,
    )
    app = create_app(settings, engine=engine)
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        for _ in range(20):  # warm the pool and the caches
            await client.post("/graphql", json={"query": QUERY}, headers=headers)
        end = time.perf_counter() + seconds

        async def client_loop() -> None:
            while time.perf_counter() < end:
                start = time.perf_counter()
                response = await client.post("/graphql", json={"query": QUERY}, headers=headers)
                assert response.status_code == 200 and "errors" not in response.json()
                latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    await engine.dispose()
    cuts = statistics.quantiles(latencies, n=100)
    rate = len(latencies) / elapsed
    return (
        f"pre_ping={pre_ping!s:5} concurrency={concurrency:2}: {rate:7.1f} req/s"
        f"  p50 {cuts[49] * 1000:6.1f} ms  p95 {cuts[94] * 1000:6.1f} ms"
    )


async def main(database_url: str, seconds: float, concurrencies: list[int]) -> None:
    admin_url = make_url(database_url)
    name = f"portal_bench_preping_{uuid.uuid4().hex[:6]}"
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    admin = create_engine(
        admin_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = create_engine(url)
        await migrate(engine)
        world = await build_world(engine, conversions_per_partner=100)
        await engine.dispose()
        for concurrency in concurrencies:
            for pre_ping in (False, True):
                print(await measure(url, pre_ping, concurrency, seconds, world.tokens["A"]))
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    asyncio.run(main(args.database_url, args.seconds, args.concurrency))
