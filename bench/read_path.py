"""The compiled read path against the general executor (issue 13), served by uvicorn.

    .venv/bin/python -m bench.read_path [--tokens bench/out/tokens.json] [--rounds 3]
        [--requests 300] [--concurrency 1 10]

Reads the tokens file of `python -m bench.generate`. Starts two uvicorn servers (one worker
each) on the same database: one with the compiled path (the default), one with
`PORTAL_COMPILED_READS=false`. For each query and concurrency it interleaves rounds between the
two servers (compiled, general, compiled, …) and reports req/s, p50 latency and the server's CPU
ms per request (from /proc), then SQL statements per request of each path (in process). Every
answer is checked for errors and for the path that served it (`portal-execution-path`).

Not here (yet): the raw Starlette + asyncpg floor and PostGraphile of the issue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from bench.serve_list import OUT_DIR, StatementCounter, cpu_seconds, start_server, wait_healthy
from portal.adapters.database import create_engine
from portal.config import Settings
from portal.web.app import create_app

PAGE = """
query Page($first: Int!, $filter: ConversionFilterInput) {
  conversions(first: $first, filter: $filter) {
    nodes {
      id orderId trackingTime status
      orderValue { amount currency } commission { amount currency }
      partner { id name } program { id name }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""
PAGE_COUNT = PAGE.replace(
    "conversions(first: $first, filter: $filter) {",
    "conversions(first: $first, filter: $filter) { totalCount",
)
NODE = """
query Node($id: ID!) {
  node(id: $id) {
    id
    ... on Conversion {
      orderId trackingTime status
      orderValue { amount currency } commission { amount currency }
      partner { id name } program { id name }
    }
  }
}"""


@dataclass(frozen=True)
class Query:
    name: str
    token: str
    query: str
    variables: dict[str, Any]


def queries(setup: dict[str, Any], conversion_id: str) -> list[Query]:
    tokens = setup["tokens"]
    program = {"programIds": setup["advertiser_program_ids"][:1]}
    return [
        Query(
            "(a) program, 50, advertiser",
            tokens["advertiser"],
            PAGE,
            {"first": 50, "filter": program},
        ),
        Query(
            "(b) program, 100, advertiser",
            tokens["advertiser"],
            PAGE,
            {"first": 100, "filter": program},
        ),
        Query("(c) partner, 50", tokens["partner"], PAGE, {"first": 50}),
        Query(
            "(d) (a) + totalCount",
            tokens["advertiser"],
            PAGE_COUNT,
            {"first": 50, "filter": program},
        ),
        Query("node(id:) of a conversion", tokens["advertiser"], NODE, {"id": conversion_id}),
    ]


async def post(client: httpx.AsyncClient, q: Query) -> httpx.Response:
    response = await client.post(
        "/graphql",
        json={"query": q.query, "variables": q.variables},
        headers={"Authorization": f"Bearer {q.token}"},
    )
    if response.status_code != 200 or b'"errors"' in response.content:
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return response


async def round_(
    client: httpx.AsyncClient, q: Query, concurrency: int, requests: int, path: str
) -> tuple[int, float, list[float]]:
    budget = [requests]
    latencies: list[float] = []

    async def one() -> None:
        while budget[0] > 0:
            budget[0] -= 1
            began = time.perf_counter()
            response = await post(client, q)
            latencies.append(time.perf_counter() - began)
            served = response.headers.get("portal-execution-path")
            if served != path:
                raise RuntimeError(f"{q.name}: served by {served}, expected {path}")

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    return len(latencies), time.perf_counter() - began, latencies


async def load(setup: dict[str, Any], qs: list[Query], args: argparse.Namespace) -> list[str]:
    servers = {
        "compiled": start_server(setup["database_url"], args.port),
        "general": _start_general(setup["database_url"], args.port + 1),
    }
    ports = {"compiled": args.port, "general": args.port + 1}
    lines = [
        "| query | conc | compiled req/s | general req/s | × | compiled CPU ms/req | "
        "general CPU ms/req | × | compiled p50 ms | general p50 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        clients = {
            path: httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60)
            for path, port in ports.items()
        }
        for path, client in clients.items():
            await wait_healthy(client, servers[path])
        for q in qs:
            for path, client in clients.items():  # warm up (plans, caches, token last use)
                await round_(client, q, 2, 40, path)
            for concurrency in args.concurrency:
                totals = {p: [0, 0.0, 0.0, []] for p in clients}
                for _ in range(args.rounds):
                    for path, client in clients.items():
                        cpu = cpu_seconds(servers[path].pid)
                        n, elapsed, latencies = await round_(
                            client, q, concurrency, args.requests, path
                        )
                        t = totals[path]
                        t[0] += n
                        t[1] += elapsed
                        t[2] += cpu_seconds(servers[path].pid) - cpu
                        t[3] += latencies
                c, g = totals["compiled"], totals["general"]
                rps = {p: t[0] / t[1] for p, t in totals.items()}
                cpu_ms = {p: t[2] * 1000 / t[0] for p, t in totals.items()}
                p50 = {p: statistics.median(t[3]) * 1000 for p, t in totals.items()}
                line = (
                    f"| {q.name} | {concurrency} | {rps['compiled']:.0f} | {rps['general']:.0f} "
                    f"| {rps['compiled'] / rps['general']:.1f} | {cpu_ms['compiled']:.2f} "
                    f"| {cpu_ms['general']:.2f} | {cpu_ms['general'] / cpu_ms['compiled']:.1f} "
                    f"| {p50['compiled']:.1f} | {p50['general']:.1f} |"
                )
                del c, g
                print(line, flush=True)
                lines.append(line)
        for client in clients.values():
            await client.aclose()
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=10)
    return lines


def _start_general(url: str, port: int) -> Any:
    previous = os.environ.get("PORTAL_COMPILED_READS")
    os.environ["PORTAL_COMPILED_READS"] = "false"
    try:
        return start_server(url, port)
    finally:
        if previous is None:
            del os.environ["PORTAL_COMPILED_READS"]
        else:
            os.environ["PORTAL_COMPILED_READS"] = previous


async def statements(setup: dict[str, Any]) -> tuple[str, list[str]]:
    """SQL statements per request of each path, and a conversion id for node(id:)."""
    url = setup["database_url"]
    base = Settings(url, None, "bench", OUT_DIR / "data")
    lines = [
        "| query | compiled statements/request | general statements/request |",
        "|---|---:|---:|",
    ]
    counts: dict[str, dict[str, int]] = {}
    conversion_id = ""
    for path in ("compiled", "general"):
        engine = create_engine(url)
        counter = StatementCounter(engine)
        app = create_app(replace(base, compiled_reads=path == "compiled"), engine=engine)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench.test"
            ) as client,
        ):
            if not conversion_id:
                first = queries(setup, "")[0]
                body = (await post(client, first)).json()
                conversion_id = body["data"]["conversions"]["nodes"][0]["id"]
            for q in queries(setup, conversion_id):
                await post(client, q)  # warm: the token's last use is recorded once
                counter.statements.clear()
                response = await post(client, q)
                assert response.headers["portal-execution-path"] == path
                counts.setdefault(q.name, {})[path] = len(counter.statements)
        await engine.dispose()
    for name, by_path in counts.items():
        lines.append(f"| {name} | {by_path['compiled']} | {by_path['general']} |")
    return conversion_id, lines


async def main_async(setup: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"database {setup['database_url']}; load average {os.getloadavg()[0]:.2f}")
    conversion_id, statement_lines = await statements(setup)
    print("\n".join(statement_lines), flush=True)
    lines = await load(setup, queries(setup, conversion_id), args)
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} CPUs")
    out = OUT_DIR / "read_path.md"
    out.write_text("\n".join([*statement_lines, "", *lines]) + "\n")
    print(f"written to {out}")


def main() -> None:
    os.environ.setdefault("PORTAL_LOG_LEVEL", "WARNING")  # the servers' request lines: not measured
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", default=str(OUT_DIR / "tokens.json"))
    parser.add_argument("--port", type=int, default=8775)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per path")
    parser.add_argument("--requests", type=int, default=200, help="per round")
    args = parser.parse_args()
    asyncio.run(main_async(json.loads(Path(args.tokens).read_text()), args))


if __name__ == "__main__":
    main()
