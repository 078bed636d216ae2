"""Cart mapping (issue 16): `recordOrders` with 10 basket positions per order, mapped by a
version of 2,000 rules, against the same orders without a mapping (every position then takes
the default category) and against the same orders naming each position's category themselves
(the category the bench works out with the same 2,000 rules: what a shop sends without a
mapping). Against the latter, what differs is the matching, the explicit field in the bodies
and the one statement that reads the mapping's versions. Each run in a database of its own,
over HTTP (ASGI transport, the whole GraphQL stack), in batches of 500.

    PORTAL_BENCH_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/cart_mapping.py [--batches 6] [--rules 2000]

Prints orders/s, SQL statements per request and peak memory (the compiled matcher, measured
with tracemalloc, and the process's maximum RSS), and the matcher alone in positions/s.

    ... --served 2 --clients 8 --batches 30 [--rounds 3]

runs `portal serve` (uvicorn, 2 workers) instead, over real HTTP, in `--rounds` interleaved
rounds of the three; prints each run, the best and the median, and the CPU per order of the
workers, PostgreSQL and the client.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.record_orders import MUTATION, SINCE, SYSTEM, bench_app, build, orders
from bench.serve_list import cpu_seconds, wait_healthy
from portal.adapters.database import create_engine, migrate
from portal.adapters.tables import tracking_categories
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.attribution import TouchpointKind
from portal.domain.cart_mapping import (
    CategoryMatch,
    CompiledMapping,
    MappingRule,
    ShopPosition,
    first_match,
)
from portal.global_ids import decode_id
from portal.heap import freeze_startup_heap
from portal.services.cart_mappings import set_cart_mapping
from portal.services.order_types import BasketLineInput, OrderInput, TouchpointInput
from portal.services.orders import record_orders

POSITIONS = 10
DEPARTMENTS = 40
SUBS = 25
CATEGORIES = ("electronics", "fashion", "home", "sale", "zero")


def make_rules(count: int, rng: random.Random) -> list[MappingRule]:
    """A realistic plan: sale and price rules first, then SKUs, brands, globs, prefixes and
    many exact category paths."""
    rules: list[MappingRule] = [
        MappingRule("sale", on_sale=True, max_unit_price=Decimal("20")),
        MappingRule("zero", "Gift Cards", CategoryMatch.PREFIX),
    ]
    kinds = ["exact"] * 8 + ["prefix"] * 4 + ["sku"] * 4 + ["brand"] + ["glob"] * 2
    n = 0
    while len(rules) < count:
        n += 1
        kind = rng.choice(kinds)
        category = rng.choice(CATEGORIES)
        d, s = rng.randrange(DEPARTMENTS), rng.randrange(SUBS)
        if kind == "exact":
            rules.append(MappingRule(category, f"Dept {d} > Sub {s} > Leaf {n % 7}"))
        elif kind == "prefix":
            rules.append(MappingRule(category, f"Dept {d} > Sub {s}", CategoryMatch.PREFIX))
        elif kind == "sku":
            rules.append(MappingRule(category, skus=tuple(f"SKU-{n}-{i}" for i in range(5))))
        elif kind == "brand":
            rules.append(MappingRule(category, brand=f"Brand {n}"))
        else:
            rules.append(MappingRule(category, f"Dept {d} > * > Outlet*", CategoryMatch.GLOB))
    return rules


def basket(rng: random.Random, n: int) -> list[dict[str, Any]]:
    lines = []
    for i in range(POSITIONS):
        d, s = rng.randrange(DEPARTMENTS), rng.randrange(SUBS)
        lines.append(
            {
                "orderValue": f"{rng.randint(100, 20000) / 100:.2f}",
                "quantity": rng.randint(1, 3),
                "shopCategory": f"Dept {d} > Sub {s} > Leaf {rng.randrange(9)}",
                "sku": f"SKU-{rng.randrange(4 * n + 10)}-{i % 5}",
                "brand": f"Brand {rng.randrange(3000)}",
                "onSale": rng.random() < 0.1,
            }
        )
    return lines


@asynccontextmanager
async def database() -> AsyncIterator[AsyncEngine]:
    base_url = os.environ.get("PORTAL_BENCH_POSTGRES_URL")
    if not base_url:
        with tempfile.TemporaryDirectory() as tmp:
            engine = create_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
            try:
                yield engine
            finally:
                await engine.dispose()
        return
    admin_url = make_url(base_url)
    name = f"portal_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        admin_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(admin_url.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def _order_input(
    raw: dict[str, Any], rng: random.Random, explicit: CompiledMapping | None
) -> OrderInput:
    return OrderInput(
        program_id=decode_id(raw["programId"])[1],
        order_id=raw["orderId"],
        tracking_time=datetime.fromisoformat(raw["trackingTime"]),
        order_value=None,
        discount=Decimal(raw["discount"]),
        customer_id=raw["customerId"],
        customer_email=raw["customerEmail"],
        sub_ids=tuple(raw["subIds"]),
        touchpoints=tuple(
            TouchpointInput(
                TouchpointKind(t["kind"]),
                decode_id(t["partnerId"])[1],
                datetime.fromisoformat(t["at"]),
                None,
                t["reference"],
            )
            for t in raw["touchpoints"]
        ),
        basket=tuple(
            BasketLineInput(
                order_value=Decimal(line["orderValue"]),
                category=(
                    explicit.match(_shop_position(line)).category if explicit is not None else None
                ),
                quantity=line["quantity"],
                shop_category=line["shopCategory"],
                sku=line["sku"],
                brand=line["brand"],
                on_sale=line["onSale"],
            )
            for line in basket(rng, 1)
        ),
    )


async def prepare(engine: AsyncEngine, rule_count: int) -> tuple[str, int, list[int]]:
    """The bench program (`build`) with its tracking categories and, unless `rule_count` is 0,
    a mapping version of that many rules; answers the token, program and partners."""
    await migrate(engine)
    token, program_id, partner_ids = await build(engine)
    async with UnitOfWork(engine) as uow:
        await uow.execute(
            insert(tracking_categories),
            [{"program_id": program_id, "key": k, "name": k, "active": True} for k in CATEGORIES],
        )
        if rule_count:
            await set_cart_mapping(uow, SYSTEM, program_id, SINCE, plan(rule_count))
        await uow.commit()
    return token, program_id, partner_ids


@dataclass(frozen=True)
class Variant:
    """What a run measures: the program's mapping version of `rules` rules (0: none), and
    whether the shop sends, besides its own attributes, the tracking category of each position
    itself (`explicit`: the category the bench's plan of that many rules gives it; an explicit
    category wins, so no mapping is consulted)."""

    rules: int
    explicit: int = 0

    @property
    def label(self) -> str:
        if self.explicit:
            return "explicit categories"
        return f"{self.rules} rules" if self.rules else "no mapping"


def batches_of(
    count: int,
    size: int,
    program_id: int,
    partner_ids: list[int],
    rng: random.Random,
    explicit: CompiledMapping | None = None,
) -> list[list[dict[str, Any]]]:
    """`count` batches of `size` orders with baskets of POSITIONS (no order value: it is the
    sum of the positions); with `explicit`, each position names the tracking category that
    mapping gives it."""
    payloads = []
    for b in range(count):
        batch = orders(b, size, program_id, partner_ids, rng)
        for n, order in enumerate(batch):
            order["basket"] = basket(rng, n)
            order.pop("orderValue")
            if explicit is not None:
                for line in order["basket"]:
                    line["trackingCategory"] = explicit.match(_shop_position(line)).category
        payloads.append(batch)
    return payloads


def _shop_position(line: dict[str, Any]) -> ShopPosition:
    return ShopPosition(
        Decimal(line["orderValue"]),
        line["shopCategory"],
        line["sku"],
        line["brand"],
        line["onSale"],
        line["quantity"],
    )


def plan(rule_count: int) -> list[MappingRule]:
    """The bench's mapping plan of `rule_count` rules (the same every run)."""
    return make_rules(rule_count, random.Random(7))


def variant_payloads(
    variant: Variant, count: int, size: int, program_id: int, partner_ids: list[int]
) -> list[list[dict[str, Any]]]:
    """The batches a run of `variant` sends (the same orders for every variant)."""
    return batches_of(count, size, program_id, partner_ids, random.Random(42), _explicit(variant))


def _explicit(variant: Variant) -> CompiledMapping | None:
    """The mapping whose categories the shop sends itself in `variant` (None: it sends none)."""
    return CompiledMapping(1, plan(variant.explicit), "default") if variant.explicit else None


async def run(variant: Variant, batches: int, size: int) -> tuple[float, float, float, float]:
    """Orders/s over HTTP, SQL statements per request, orders/s of the service alone, and this
    process's CPU ms per order over HTTP (client and app), of one run of `variant`."""
    async with database() as engine:
        token, program_id, partner_ids = await prepare(engine, variant.rules)
        statements = 0

        def count(*_: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(engine.sync_engine, "before_cursor_execute", count)
        app = bench_app(engine)
        payloads = variant_payloads(variant, batches + 1, size, program_id, partner_ids)
        rng = random.Random(43)
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=300
            ) as client,
        ):

            async def send(batch: list[dict[str, Any]]) -> None:
                response = await client.post(
                    "/graphql",
                    headers=headers,
                    json={"query": MUTATION, "variables": {"input": {"orders": batch}}},
                )
                body = response.json()
                assert "errors" not in body, body["errors"]
                assert body["data"]["recordOrders"]["errorCount"] == 0, body

            await send(payloads[0])  # warm-up: caches, connections, the compiled matcher
            gc.collect()
            statements = 0
            started, cpu_started = time.perf_counter(), time.process_time()
            for batch in payloads[1:]:
                await send(batch)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        # The service alone (what recordOrders calls, without HTTP and GraphQL coercion).
        service_payloads = [
            orders(b, size, program_id, partner_ids, rng)
            for b in range(batches + 1, 2 * batches + 1)
        ]
        explicit = _explicit(variant)
        inputs = [[_order_input(o, rng, explicit) for o in batch] for batch in service_payloads]
        viewer = SYSTEM
        started = time.perf_counter()
        for batch_inputs in inputs:
            async with UnitOfWork(engine) as uow:
                results = await record_orders(uow, viewer, batch_inputs, b"bench-secret")
                assert all(not r.errors for r in results), [r.errors for r in results][:3]
                await uow.commit()
        service_elapsed = time.perf_counter() - started
        total = batches * size
        return total / elapsed, statements / batches, total / service_elapsed, cpu / total * 1000


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """`portal serve`'s app under uvicorn on `url`, without Redis and without the cost limit
    getting in the way of the load (every request is still costed and charged)."""
    env = dict(
        os.environ,
        PORTAL_DATABASE_URL=url,
        PORTAL_SECRET_KEY="bench-secret",
        PORTAL_DATA_DIR=tempfile.mkdtemp(),
        PORTAL_REDIS_URL="",
        PORTAL_RATE_LIMIT_RESTORE_RATE=str(10**9),
        PORTAL_LOG_LEVEL="WARNING",
    )
    command = [
        str(Path(sys.executable).parent / "uvicorn"), "--factory",
        "portal.web.app:create_served_app", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env)


@dataclass
class Served:
    """One run through `portal serve`: orders/s, and CPU ms per order of the workers,
    PostgreSQL and this process (the client)."""

    rate: float
    workers_cpu: float
    database_cpu: float
    client_cpu: float

    @property
    def cpu(self) -> float:
        return self.workers_cpu + self.database_cpu + self.client_cpu


async def served(variant: Variant, batches: int, size: int, workers: int, clients: int) -> Served:
    """Orders/s of `portal serve`'s app (uvicorn, `workers` processes, real HTTP on localhost)
    with `clients` connections each sending its next batch as soon as the last is answered;
    the bodies are encoded beforehand, so the client costs little CPU of the shared machine.
    Prints the run and the CPU per order of the servers and the client."""
    async with database() as engine:
        token, program_id, partner_ids = await prepare(engine, variant.rules)
        bodies = [
            orjson.dumps({"query": MUTATION, "variables": {"input": {"orders": batch}}})
            for batch in variant_payloads(
                variant, batches + 2 * clients, size, program_id, partner_ids
            )
        ]
        port = 8790
        server = start_server(engine.url.render_as_string(hide_password=False), port, workers)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            # A connection per batch: the workers take turns as a load balancer would make them
            # (kept-alive connections stay with the worker that accepted them, and uvicorn's
            # workers do not accept evenly); a handshake per 500 orders costs nothing.
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                timeout=300,
                headers=headers,
                limits=httpx.Limits(max_keepalive_connections=0),
            ) as client:
                await wait_healthy(client, server)

                async def send(body: bytes) -> None:
                    response = await client.post("/graphql", content=body)
                    answer = orjson.loads(response.content)
                    assert "errors" not in answer, answer["errors"]
                    assert answer["data"]["recordOrders"]["errorCount"] == 0, answer

                # Warm-up: every worker compiles the mapping, opens connections.
                await asyncio.gather(*(send(b) for b in bodies[: 2 * clients]))
                queue = list(reversed(bodies[2 * clients :]))
                # The bench's own heap (bodies, rules, earlier runs) out of the collector's way.
                gc.collect()
                gc.freeze()
                try:
                    pids = _children(server.pid)
                    cpu_before = sum(cpu_seconds(pid) for pid in pids)
                    database_before = _postgres_cpu()
                    client_before = time.process_time()

                    async def client_loop() -> None:
                        while queue:
                            await send(queue.pop())

                    started = time.perf_counter()
                    await asyncio.gather(*(client_loop() for _ in range(clients)))
                    elapsed = time.perf_counter() - started
                    cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
                    database_cpu = _postgres_cpu() - database_before
                    client_cpu = time.process_time() - client_before
                finally:
                    gc.unfreeze()
        finally:
            server.terminate()
            server.wait(timeout=30)
    total = batches * size
    run = Served(
        total / elapsed,
        cpu / total * 1000,
        database_cpu / total * 1000,
        client_cpu / total * 1000,
    )
    print(
        f"  {variant.label}: {run.rate:,.0f} orders/s through `portal serve` ({workers} workers, "
        f"{clients} clients); CPU per order: the workers {run.workers_cpu:.3f} ms, PostgreSQL "
        f"{run.database_cpu:.3f} ms, the client {run.client_cpu:.3f} ms",
        flush=True,
    )
    return run


def _children(pid: int) -> list[int]:
    """uvicorn's worker processes (or the one process serving itself)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found or [pid]


def _postgres_cpu() -> float:
    """CPU seconds of this machine's PostgreSQL processes (all of them: the bench has the
    server to itself; those that ended meanwhile are not counted)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    total += cpu_seconds(int(entry.name))
            except OSError:
                continue
    return total


def bench_matcher(rule_count: int) -> None:
    rng = random.Random(7)
    rules = make_rules(rule_count, rng)
    tracemalloc.start()
    compiled = CompiledMapping(1, rules, "default")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    positions = [_shop_position(line) for n in range(200) for line in basket(rng, n)]
    started = time.perf_counter()
    rounds = 0
    while time.perf_counter() - started < 1.0:
        for p in positions:
            compiled.match_index(p)
        rounds += 1
    compiled_rate = rounds * len(positions) / (time.perf_counter() - started)
    started = time.perf_counter()
    sample = positions[:200]
    for p in sample:
        assert first_match(rules, p) == compiled.match_index(p)
    naive_rate = len(sample) / (time.perf_counter() - started)
    print(
        f"  matcher of {rule_count} rules: compiled in memory {peak / 1024:,.0f} KiB; "
        f"{compiled_rate:,.0f} positions/s compiled vs {naive_rate:,.0f} positions/s by a "
        "first-match scan"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rules", type=int, default=2000)
    parser.add_argument(
        "--served",
        type=int,
        metavar="WORKERS",
        help="instead: `portal serve` with this many workers over real HTTP (PostgreSQL)",
    )
    parser.add_argument("--clients", type=int, default=4, help="with --served: connections")
    parser.add_argument(
        "--rounds", type=int, default=3, help="with --served: interleaved rounds of runs"
    )
    args = parser.parse_args()
    if args.rules < 1:
        parser.error("--rules: at least 1 (the bench compares a mapping against none)")
    variants = (Variant(0), Variant(0, explicit=args.rules), Variant(args.rules))
    without, explicit, mapped = variants
    if args.served:
        runs: dict[Variant, list[Served]] = {v: [] for v in variants}
        for round_ in range(args.rounds):
            # Interleaved (the machine is shared, and noisy), each variant in every place of
            # the order in turn (a run after another may pay for its database's removal;
            # balanced when the rounds are a multiple of the three variants).
            turn = round_ % len(variants)
            for variant in variants[turn:] + variants[:turn]:
                runs[variant].append(
                    await served(variant, args.batches, args.batch_size, args.served, args.clients)
                )
        for what, of in (("best", max), ("median", statistics.median)):
            rate = {v: of(r.rate for r in runs[v]) for v in variants}
            print(
                f"  {what} of {args.rounds}: "
                + ", ".join(f"{v.label} {rate[v]:,.0f} orders/s" for v in variants)
                + f"; {mapped.label} against {without.label} "
                f"{rate[mapped] / rate[without] - 1:+.1%}, against {explicit.label} "
                f"{rate[mapped] / rate[explicit] - 1:+.1%}"
            )
        cpu = {v: statistics.median(r.cpu for r in runs[v]) for v in variants}
        print(
            "  median CPU per order (workers, PostgreSQL and client): "
            + ", ".join(f"{v.label} {cpu[v]:.3f} ms" for v in variants)
            + f"; {os.cpu_count()} CPUs give at most {os.cpu_count() * 1000 / cpu[mapped]:,.0f} "
            f"orders/s at the cost of {mapped.label}"
        )
        return
    # As `portal serve` and `portal worker` run: the start-up heap frozen, fewer collections.
    freeze_startup_heap()
    dialect = "postgresql" if os.environ.get("PORTAL_BENCH_POSTGRES_URL") else "sqlite"
    print(
        f"recordOrders over HTTP ({dialect}), batches of {args.batch_size}, "
        f"{POSITIONS} positions per order:"
    )
    results: dict[Variant, list[tuple[float, float]]] = {}
    for variant in variants + variants:  # interleaved: the machine is shared
        rate, per_request, service, cpu_ms = await run(variant, args.batches, args.batch_size)
        results.setdefault(variant, []).append((rate, service))
        print(
            f"  {variant.label}: {rate:,.0f} orders/s over HTTP ({cpu_ms:.3f} ms CPU per order, "
            f"client and app), {per_request:.1f} SQL statements per request; the service alone "
            f"{service:,.0f} orders/s"
        )
    for index, what in ((0, "over HTTP"), (1, "service alone")):
        best = {v: max(r[index] for r in results[v]) for v in variants}
        print(
            f"  best of two, {what}: "
            + ", ".join(f"{v.label} {best[v]:,.0f} orders/s" for v in variants)
            + f"; {mapped.label} against {without.label} {best[mapped] / best[without] - 1:+.1%}"
            f", against {explicit.label} {best[mapped] / best[explicit] - 1:+.1%}"
        )
    bench_matcher(args.rules)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"  process peak RSS: {peak_kib / 1024:,.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
