"""The conversions list under load: uvicorn serving the app, httpx clients at fixed concurrency.

    .venv/bin/python -m bench.serve_list [--concurrency 1 8 32] [--requests 2000] [--seconds 30]

Reads bench/out/tokens.json (written by `python -m bench.generate`). Reports, per scenario and
concurrency, requests/s, p50/p95/p99 latency, errors, and the server's peak RSS; in a separate
in-process pass, SQL statements per request and EXPLAIN ANALYZE of the list statement
(written to bench/out/explain.txt). Everything stays on 127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.database import create_engine
from portal.adapters.pagination import SortKey
from portal.adapters.tables import conversions
from portal.config import Settings
from portal.schema.ids import decode_typed
from portal.web.app import create_app

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
VENV_BIN = Path(sys.executable).parent
DEPTHS = (50, 1_000, 10_000, 50_000)
HEADER = (
    f"{'scenario':<36} {'conc':>4} {'n':>5} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
    f"{'p99 ms':>7} {'err':>4} {'CPU ms/req server':>17} {'client':>6}"
)

LIST = """
query Conversions($after: String, $filter: ConversionFilterInput) {
  conversions(first: 50, after: $after, filter: $filter) {
    nodes {
      id orderId trackingTime status
      orderValue { amount currency } commission { amount currency }
      partner { id name } program { id name currency }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""
COUNT = """
query Count($filter: ConversionFilterInput) {
  conversions(first: 1, filter: $filter) { totalCount }
}"""


@dataclass(frozen=True)
class Scenario:
    name: str
    token: str
    query: str
    filter: dict[str, Any] | None = None
    follow_pages: int = 0  # after the first page, follow this many cursors, then start over


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    client_cpu: float = 0.0  # seconds of this process (the httpx clients)


def scenarios(setup: dict[str, Any]) -> list[Scenario]:
    tokens = setup["tokens"]
    programs = {"programIds": setup["advertiser_program_ids"][:2]}
    return [
        Scenario("partner list", tokens["partner"], LIST, follow_pages=1),
        Scenario("advertiser list (programIds)", tokens["advertiser"], LIST, programs, 1),
        Scenario("partner totalCount", tokens["partner"], COUNT),
        Scenario("advertiser totalCount (programIds)", tokens["advertiser"], COUNT, programs),
    ]


async def post(client: httpx.AsyncClient, s: Scenario, after: str | None) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": s.query, "variables": {"after": after, "filter": s.filter}},
        headers={"Authorization": f"Bearer {s.token}"},
    )
    body: dict[str, Any] = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{response.status_code}: {str(body)[:300]}")
    return body


async def drive(
    client: httpx.AsyncClient, s: Scenario, concurrency: int, requests: int, seconds: float
) -> tuple[Result, float]:
    """`concurrency` clients share a budget of `requests` and a deadline; each alternates first
    pages and cursor-following pages."""
    result = Result()
    budget = [requests]
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        after: str | None = None
        followed = 0
        while budget[0] > 0 and time.perf_counter() < deadline:
            budget[0] -= 1
            began = time.perf_counter()
            try:
                body = await post(client, s, after)
            except (RuntimeError, httpx.HTTPError, ValueError) as error:
                result.errors += 1
                result.first_error = result.first_error or repr(error)
                after = None
                continue
            result.latencies.append(time.perf_counter() - began)
            info = body["data"]["conversions"].get("pageInfo")
            if info and info["hasNextPage"] and followed < s.follow_pages:
                after, followed = info["endCursor"], followed + 1
            else:
                after, followed = None, 0

    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    result.client_cpu = time.process_time() - cpu
    return result, time.perf_counter() - began


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0])
    return fields


def cpu_seconds(pid: int) -> float:
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


# -- SQL statements per request and the plan, in process --------------------------------------


class StatementCounter:
    """The statements of every engine of this process on the database of `engine` (the
    compiled read path has a pool of its own: `create_read_engine`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.url = engine.url
        event.listen(Engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        housekeeping = statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))
        if c.engine.url == self.url and not housekeeping:
            self.statements.append((statement, parameters))


async def count_statements(url: str, setup: dict[str, Any], repeat: int = 5) -> None:
    engine = create_engine(url)
    counter = StatementCounter(engine)
    settings = Settings(url, None, "bench", OUT_DIR / "data")
    app = create_app(settings, engine=engine)
    lines = []
    list_sql: tuple[str, Any] | None = None
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench.test"
        ) as client,
    ):
        for s in scenarios(setup):
            await post(client, s, None)  # warm: the token's last_used_at update happens once
            after = None
            per_request = []
            for _ in range(repeat):
                counter.statements.clear()
                body = await post(client, s, after)
                per_request.append(len(counter.statements))
                if s.name == "partner list" and after is None:
                    list_sql = next(x for x in counter.statements if "FROM conversions" in x[0])
                info = body["data"]["conversions"].get("pageInfo")
                after = info["endCursor"] if info and after is None else None
            lines.append(f"  {s.name:<36} {per_request} statements/request")
            if s.name == "partner list":
                lines.extend(f"      {_summary(sql)}" for sql, _ in counter.statements)
        print("SQL statements per request (auth + list + loaders; first page, next page, …):")
        print("\n".join(lines))
        assert list_sql is not None
        await explain(engine, *list_sql)
        await deep_pages(client, engine, scenarios(setup)[0], setup["partner_id"])
    await engine.dispose()


async def deep_pages(
    client: httpx.AsyncClient, engine: AsyncEngine, s: Scenario, partner_id: str
) -> None:
    """Latency of one page after a cursor `depth` rows into the big partner's list (the cursor
    comes from the app's own encoder, as a client that paged that far would hold it)."""
    c = conversions.c
    key = SortKey("TRACKING_TIME", c.tracking_time, c.id, True, "datetime")
    partner_pk = decode_typed(partner_id, "Partner")
    print("Partner list, one page after a cursor `depth` rows deep (in process, median of 3):")
    for depth in DEPTHS:
        async with engine.connect() as conn:
            row: Any = (  # the Row type parameters differ between SQLAlchemy 2.0 and 2.1
                await conn.execute(
                    select(c.tracking_time, c.id)
                    .where(c.partner_id == partner_pk)
                    .order_by(c.tracking_time.desc(), c.id.desc())
                    .offset(depth - 1)
                    .limit(1)
                )
            ).one()
        times = []
        for _ in range(3):
            began = time.perf_counter()
            await post(client, s, key.encode(row))
            times.append((time.perf_counter() - began) * 1000)
        print(f"  depth {depth:>7,}: {statistics.median(times):8.1f} ms")


def _summary(sql: str) -> str:
    words = sql.split()
    at = words.index("FROM") if "FROM" in words else 1
    return f"{words[0]} … {' '.join(words[at : at + 2])}"


async def explain(engine: AsyncEngine, sql: str, parameters: Any) -> None:
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        rows = await raw.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *parameters)
    plan = "\n".join(r[0] for r in rows)
    (OUT_DIR / "explain.txt").write_text(f"{sql}\n-- parameters: {parameters!r}\n\n{plan}\n")
    print(f"\nEXPLAIN ANALYZE of the partner list statement (first page):\n{plan}\n")


# -- the served app ---------------------------------------------------------------------------


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        PORTAL_DATABASE_URL=url,
        PORTAL_SECRET_KEY="bench",
        PORTAL_DATA_DIR=str(OUT_DIR / "data"),
    )
    command = [
        str(VENV_BIN / "uvicorn"), "--factory", "portal.web.app:create_served_app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env)


async def wait_healthy(client: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    for _ in range(100):
        if server.poll() is not None:
            raise SystemExit(f"uvicorn exited with {server.returncode}")
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("uvicorn did not become healthy in 20 s")


async def load(setup: dict[str, Any], args: argparse.Namespace) -> None:
    server = start_server(setup["database_url"], args.port)
    limits = httpx.Limits(max_connections=max(args.concurrency), max_keepalive_connections=64)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{args.port}", limits=limits, timeout=60
        ) as client:
            await wait_healthy(client, server)
            print(HEADER)
            for s in scenarios(setup):
                heavy = "totalCount" in s.name
                await drive(client, s, 2, 10 if heavy else 50, args.seconds)  # warm up
                for concurrency in args.concurrency:
                    requests = args.requests // 10 if heavy else args.requests
                    cpu_before = cpu_seconds(server.pid)
                    result, elapsed = await drive(client, s, concurrency, requests, args.seconds)
                    report(s, concurrency, result, elapsed, cpu_seconds(server.pid) - cpu_before)
            memory = memory_kib(server.pid)
            print(f"server peak RSS (VmHWM) {memory['VmHWM'] / 1024:.0f} MiB, "
                  f"now (VmRSS) {memory['VmRSS'] / 1024:.0f} MiB")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)


def report(s: Scenario, concurrency: int, r: Result, elapsed: float, cpu: float) -> None:
    n = len(r.latencies)
    if not n:
        print(f"{s.name:<36} {concurrency:>4} no successful request; {r.first_error}")
        return
    ms = [x * 1000 for x in r.latencies]
    print(
        f"{s.name:<36} {concurrency:>4} {n:>5} {n / elapsed:>7.1f} {statistics.median(ms):>7.1f} "
        f"{percentile(ms, 95):>7.1f} {percentile(ms, 99):>7.1f} {r.errors:>4} "
        f"{cpu * 1000 / n:>17.1f} {r.client_cpu * 1000 / n:>6.1f}",
        flush=True,
    )
    if r.errors:
        print(f"    first error: {r.first_error}")


async def main_async(setup: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"database {setup['database_url']}; load average {os.getloadavg()[0]:.2f}")
    if not args.skip_statements:
        await count_statements(setup["database_url"], setup)
    if not args.skip_load:
        await load(setup, args)
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} CPUs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", default=str(OUT_DIR / "tokens.json"))
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=2000, help="per scenario and concurrency")
    parser.add_argument("--seconds", type=float, default=30, help="time cap, likewise")
    parser.add_argument("--skip-statements", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()
    asyncio.run(main_async(json.loads(Path(args.tokens).read_text()), args))


if __name__ == "__main__":
    main()
