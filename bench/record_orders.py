"""Throughput of order recording: `recordOrders` over HTTP (ASGI transport, the whole GraphQL
stack) on PostgreSQL in batches of 500, and the pure domain functions behind it.

    PORTAL_BENCH_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/record_orders.py [--batches 10] [--batch-size 500]

A throw-away database is created next to the given one and dropped afterwards. Without the
variable the HTTP part runs on a temporary SQLite file.

`--events-overhead R` measures instead what recording events (issue 15: the outbox insert and the
dispatcher job after commit) adds to `recordOrders`: R interleaved pairs of rounds, one with
events, one with the event recording switched off in this process, each of `--batches` batches.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from portal.adapters.commission_store import insert_model, insert_period
from portal.adapters.database import create_engine, migrate
from portal.adapters.unit_of_work import UnitOfWork
from portal.config import Settings
from portal.demo_data import set_relationship
from portal.domain.access import Role, Viewer
from portal.domain.attribution import (
    AttributionSettings,
    OriginalReferral,
    Touchpoint,
    TouchpointKind,
    attribute_order,
)
from portal.domain.commission import CommissionRate
from portal.domain.programs import DEFAULT_TARGETS, ConsentMode, FollowUpPolicy
from portal.domain.rating import OrderLine, RatingInput, rate_conversion
from portal.schema.ids import encode_id
from portal.services import access, setup
from portal.web.app import create_app

SYSTEM = Viewer(user_id=0, role=Role.ADMIN)
SINCE = datetime(2024, 1, 1, tzinfo=UTC)
ORDER_TIME = datetime(2025, 6, 1, 12, tzinfo=UTC)
PARTNERS = 20

MUTATION = """
mutation($input: RecordOrdersInput!) {
  recordOrders(input: $input) {
    createdCount errorCount userErrors { code }
    results { index created conversion { id commission { amount } }
              attribution { rule partner { id } } userErrors { code } }
  }
}
"""


async def build(engine: AsyncEngine) -> tuple[str, int, list[int]]:
    """An advertiser with one EUR program, PARTNERS active partners and an advertiser token."""
    async with UnitOfWork(engine) as uow:
        advertiser = await setup.create_advertiser(uow, SYSTEM, name="Bench Retail")
        program = await setup.create_program(
            uow,
            SYSTEM,
            advertiser_id=advertiser.id,
            name="Bench DE",
            currency="EUR",
            follow_up_policy=FollowUpPolicy.LIFETIME,
        )
        model = await insert_model(uow, program.id, "default", discount_rating=True)
        rates = [
            CommissionRate(t, "default", Decimal("7.5"), Decimal("0.50")) for t in DEFAULT_TARGETS
        ]
        await insert_period(uow, model, SINCE, None, rates)
        partner_ids = []
        for n in range(PARTNERS):
            partner = await setup.create_partner(
                uow, SYSTEM, name=f"Partner {n}", payout_currency="EUR", country="DE"
            )
            await set_relationship(uow, partner.id, program.id, model)
            partner_ids.append(partner.id)
        user = await access.create_user(
            uow,
            None,
            email="bench@bench.test",
            name="bench",
            role=Role.ADVERTISER,
            advertiser_id=advertiser.id,
        )
        token = await access.create_api_token(uow, user.as_viewer(), name="bench", expires_at=None)
        await uow.commit()
    return token.secret, program.id, partner_ids


def orders(
    batch: int, size: int, program_id: int, partner_ids: list[int], rng: random.Random
) -> list[dict[str, Any]]:
    """Realistic orders: 1–3 touchpoints, a third of the customers returning."""
    out = []
    for n in range(size):
        at = ORDER_TIME + timedelta(minutes=batch * size + n)
        touchpoints = [
            {
                "kind": rng.choice(["COOKIE", "COUPON", "CLICK_ID"]),
                "partnerId": encode_id("Partner", rng.choice(partner_ids)),
                "at": (at - timedelta(hours=rng.randint(1, 500))).isoformat(),
                "reference": f"ref-{n}",
            }
            for _ in range(rng.randint(1, 3))
        ]
        customer = rng.randint(0, batch * size + n) if rng.random() < 0.33 else batch * size + n
        out.append(
            {
                "programId": encode_id("Program", program_id),
                "orderId": f"B{batch:04d}-{n:04d}",
                "trackingTime": at.isoformat(),
                "orderValue": f"{rng.randint(500, 50000) / 100:.2f}",
                "discount": "1.00",
                "customerId": f"cust-{customer}",
                "customerEmail": f"Customer{customer}@Example.test",
                "subIds": [f"s{n}"],
                "touchpoints": touchpoints,
            }
        )
    return out


def bench_app(engine: AsyncEngine) -> Starlette:
    """The app as `portal serve` builds it, on `engine`, without Redis and with no limit on the
    size of the benches' documents."""
    settings = Settings(
        database_url="unused",
        redis_url=None,
        secret_key="bench-secret",
        data_dir=Path(tempfile.mkdtemp()),
        max_tokens=1_000_000,
    )
    return create_app(settings, engine=engine)


async def bench_http(engine: AsyncEngine, batches: int, size: int) -> None:
    await migrate(engine)
    token, program_id, partner_ids = await build(engine)
    app = bench_app(engine)
    rng = random.Random(42)
    # Two rounds of `batches` batches each (plus a warm-up): the second after gc.freeze().
    payloads = [orders(b, size, program_id, partner_ids, rng) for b in range(2 * batches + 1)]
    headers = {"Authorization": f"Bearer {token}"}
    print(f"recordOrders over HTTP ({engine.dialect.name}, batches of {size}):")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120
        ) as client,
    ):

        async def send(batch: list[dict[str, Any]]) -> dict[str, Any]:
            response = await client.post(
                "/graphql",
                headers=headers,
                json={"query": MUTATION, "variables": {"input": {"orders": batch}}},
            )
            body: dict[str, Any] = response.json()
            assert "errors" not in body, body["errors"]
            result: dict[str, Any] = body["data"]["recordOrders"]
            assert result["errorCount"] == 0, result
            return result

        async def measure(label: str, round_payloads: list[list[dict[str, Any]]]) -> None:
            created = 0
            started = time.perf_counter()
            for batch in round_payloads:
                created += (await send(batch))["createdCount"]
            elapsed = time.perf_counter() - started
            resent = time.perf_counter()
            await send(round_payloads[0])  # a re-sent batch: nothing created
            resend_elapsed = time.perf_counter() - resent
            total = len(round_payloads) * size
            print(
                f"  {label}: {total} orders in {elapsed:.2f} s → {total / elapsed:,.0f} orders/s "
                f"({created} created); re-sent batch: {size / resend_elapsed:,.0f} orders/s"
            )

        await send(payloads[0])  # warm-up: caches, connections
        await measure("default GC", payloads[1 : batches + 1])
        # A server that freezes its start-up heap (schema, metadata, modules) spares every
        # full collection from walking it; batches allocate enough to trigger many.
        gc.collect()
        gc.freeze()
        try:
            await measure("after gc.freeze()", payloads[batches + 1 :])
        finally:
            gc.unfreeze()


def _median(values: list[float]) -> float:
    """(`statistics` would be bench/statistics.py when this file runs as a script.)"""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


async def _event_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM events")) or 0)


async def _no_events(*_args: object) -> None:
    return None


def switch_events(on: bool, originals: dict[tuple[str, str], Any]) -> None:
    """Switches event recording off (and on again) in every portal module that imported
    `record_event` / `record_events`: the bench's way to measure what the events cost."""
    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "")
        if not name.startswith("portal."):
            continue
        for attr in ("record_event", "record_events"):
            if not hasattr(module, attr):
                continue
            originals.setdefault((name, attr), getattr(module, attr))
            setattr(module, attr, originals[(name, attr)] if on else _no_events)


async def bench_events_overhead(engine: AsyncEngine, pairs: int, batches: int, size: int) -> None:
    await migrate(engine)
    token, program_id, partner_ids = await build(engine)
    app = bench_app(engine)
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}"}
    originals: dict[tuple[str, str], Any] = {}
    rates: dict[bool, list[float]] = {True: [], False: []}
    counter = iter(range(10**9))
    print(f"events' overhead on recordOrders ({engine.dialect.name}, batches of {size}):")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120
        ) as client,
    ):

        async def send(batch: list[dict[str, Any]]) -> None:
            response = await client.post(
                "/graphql",
                headers=headers,
                json={"query": MUTATION, "variables": {"input": {"orders": batch}}},
            )
            body: dict[str, Any] = response.json()
            assert "errors" not in body, body["errors"]
            assert body["data"]["recordOrders"]["errorCount"] == 0, body

        await send(orders(next(counter), size, program_id, partner_ids, rng))  # warm-up
        for pair in range(pairs):
            for on in (True, False) if pair % 2 == 0 else (False, True):
                switch_events(on, originals)
                payloads = [
                    orders(next(counter), size, program_id, partner_ids, rng)
                    for _ in range(batches)
                ]
                before = await _event_count(engine)
                started = time.perf_counter()
                for batch in payloads:
                    await send(batch)
                await app.state.queue.drain()  # the dispatcher jobs the events queued
                rates[on].append(batches * size / (time.perf_counter() - started))
                recorded = await _event_count(engine) - before
                assert recorded == (batches * size if on else 0), (on, recorded)
        switch_events(True, originals)
    with_events, without = _median(rates[True]), _median(rates[False])
    print(f"  with events:    {', '.join(f'{r:,.0f}' for r in rates[True])} orders/s")
    print(f"  without events: {', '.join(f'{r:,.0f}' for r in rates[False])} orders/s")
    print(
        f"  median {with_events:,.0f} vs {without:,.0f} orders/s: the events cost "
        f"{(without - with_events) / without * 100:+.1f} % of the throughput"
    )


def calls_per_second(fn: Callable[[], object], seconds: float = 1.0) -> float:
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(200):
            fn()
        count += 200
    return count / (time.perf_counter() - started)


def bench_domain() -> None:
    settings = AttributionSettings(30, ConsentMode.RELAXED, FollowUpPolicy.WHENEVER_TRACKED, 30)
    eligible = frozenset(range(1, PARTNERS + 1))
    touchpoints = [
        Touchpoint(TouchpointKind.COUPON, 3, ORDER_TIME - timedelta(minutes=3), True, "C"),
        Touchpoint(TouchpointKind.COOKIE, 5, ORDER_TIME - timedelta(days=2), True, "ck-5"),
        Touchpoint(TouchpointKind.COOKIE, 7, ORDER_TIME - timedelta(hours=1), True, "ck-7"),
    ]
    original = OriginalReferral(2, ORDER_TIME - timedelta(days=3), FollowUpPolicy.LIFETIME, 30)

    def new_customer() -> object:
        return attribute_order(
            order_time=ORDER_TIME,
            touchpoints=touchpoints,
            settings=settings,
            original=None,
            eligible_partner_ids=eligible,
        )

    def returning() -> object:
        return attribute_order(
            order_time=ORDER_TIME,
            touchpoints=touchpoints,
            settings=settings,
            original=original,
            eligible_partner_ids=eligible,
        )

    from portal.domain.commission import CommissionModel, CommissionPeriod

    rates = tuple(
        CommissionRate(t, c, Decimal("7.5"), Decimal("0.50"))
        for t in DEFAULT_TARGETS
        for c in ("default", "fashion")
    )
    model = CommissionModel(1, 1, "default", True, (CommissionPeriod(1, 1, SINCE, None, rates),))
    plain = RatingInput(
        "SALE_NEW_CUSTOMER", "default", ORDER_TIME, "EUR", Decimal("123.45"), Decimal("3.00")
    )
    basket = RatingInput(
        "SALE_NEW_CUSTOMER",
        "default",
        ORDER_TIME,
        "EUR",
        Decimal("300"),
        Decimal(0),
        (
            OrderLine("fashion", Decimal("100")),
            OrderLine("default", Decimal("150.55")),
            OrderLine("fashion", Decimal("49.45"), Decimal("5")),
        ),
    )
    print("domain functions (one core):")
    print(
        f"  attribute_order, new customer, 3 touchpoints: "
        f"{calls_per_second(new_customer):,.0f} calls/s"
    )
    print(
        f"  attribute_order, returning customer (LIFETIME): "
        f"{calls_per_second(returning):,.0f} calls/s"
    )
    print(
        f"  rate_conversion, no basket: "
        f"{calls_per_second(lambda: rate_conversion(model, plain)):,.0f} calls/s"
    )
    print(
        f"  rate_conversion, basket of 3: "
        f"{calls_per_second(lambda: rate_conversion(model, basket)):,.0f} calls/s"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--events-overhead", type=int, default=0, metavar="PAIRS")
    args = parser.parse_args()

    async def run(engine: AsyncEngine) -> None:
        if args.events_overhead:
            await bench_events_overhead(engine, args.events_overhead, args.batches, args.batch_size)
        else:
            await bench_http(engine, args.batches, args.batch_size)

    base_url = os.environ.get("PORTAL_BENCH_POSTGRES_URL")
    if base_url:
        admin_url = make_url(base_url)
        name = f"portal_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(
            admin_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
        )
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = create_engine(admin_url.set(database=name).render_as_string(hide_password=False))
        try:
            await run(engine)
        finally:
            await engine.dispose()
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            engine = create_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
            try:
                await run(engine)
            finally:
                await engine.dispose()
    if not args.events_overhead:
        bench_domain()


if __name__ == "__main__":
    asyncio.run(main())
