"""Property: every statistics answer equals a plain GROUP BY over `conversions` computed here.

Random orders are recorded through the tracking service (`record_orders`), then random status
and value changes go through conversion requests (raised by the partner, accepted by the
advertiser, processed), so every write path the statistics read from is the real one. Random
queries (viewer, time grain, dimensions, filters, time zone, currency) are then answered by
the statistics reader and compared, cell by cell, with:
- a `GROUP BY` in SQL over the conversions the viewer may see (the visibility written out
  here: the partner's own, or the advertiser's programs'), grouped by local date (the time zone
  in SQL: `timezone()` on PostgreSQL, a fixed offset on SQLite, which has no zones), UTC date,
  currency, status and the asked dimensions, with sums in integer micro-units;
- the time buckets, the conversion at the test's own rate table (7-day fallback written out)
  and the half-up rounding computed here from those groups.
Exact equality, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Date, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import statistics_rollup as rollup
from portal.adapters.database import create_engine
from portal.adapters.rate_store import upsert_rates
from portal.adapters.statistics_reader import StatisticsReader
from portal.adapters.tables import (
    conversions,
    programs,
    statistics_daily,
    statistics_daily_programs,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.conversions import ConversionStatus
from portal.domain.errors import DomainError
from portal.domain.exchange_rates import ReferenceRate
from portal.domain.requests import RequestedValues, RequestKind
from portal.domain.statistics import Dimension, StatisticsQuery, TimeGrain
from portal.domain.touchpoints import TouchpointKind
from portal.services.order_types import OrderInput, TouchpointInput
from portal.services.orders import record_orders
from portal.services.request_processing import process_request
from portal.services.requests import Draft, create_request
from tests import request_factories as rf
from tests.conftest import run_in_thread, truncate
from tests.factories import World, build_world

SECRET = b"statistics-property"
START = datetime(2026, 3, 1, tzinfo=UTC)
SPAN_MINUTES = 40 * 24 * 60
FIRST_DAY, LAST_DAY = date(2026, 2, 27), date(2026, 4, 12)
# JPY per EUR every third day only: most days take the fallback (at most 2 days back).
RATES = {
    FIRST_DAY - timedelta(days=7) + timedelta(days=3 * i): Decimal(150) + Decimal(i) / 7
    for i in range(25)
}
RATES = {day: rate.quantize(Decimal("0.0001")) for day, rate in RATES.items()}
# Fixed offsets only on SQLite (no time zone database in SQL); zones with DST on PostgreSQL.
ZONES = {
    "sqlite": {"UTC": 0, "Asia/Kolkata": 330, "America/Bogota": -300},
    "postgres": {"UTC": 0, "Asia/Kolkata": 330, "Europe/Berlin": None, "America/New_York": None},
}
VIEWERS = ("admin", "adv1", "adv2", "A", "B", "C")
PROGRAM_OF = {"A": "p1", "B": "p1", "C": "p2"}
ADVERTISER_OF = {"p1": "adv1", "p2": "adv2"}
MICRO = 1_000_000

order_strategy = st.fixed_dictionaries(
    {
        "partner": st.sampled_from("ABC"),
        # Any minute, or one just before a midnight somewhere (UTC, Kolkata, Bogotá, Berlin).
        "minute": st.integers(0, SPAN_MINUTES)
        | st.builds(
            lambda day, at: day * 1440 + at,
            st.integers(0, 39),
            st.sampled_from([1410, 1439, 1110, 1109, 290, 300, 1350]),
        ),
        "cents": st.integers(1, 5_000_000),
        "target": st.sampled_from(["SALE_NEW_CUSTOMER", "SALE_EXISTING_CUSTOMER"]),
        "device": st.sampled_from([None, "mobile", "desktop"]),
        "status": st.sampled_from([ConversionStatus.OPEN, ConversionStatus.CONFIRMED]),
    }
)
change_strategy = st.fixed_dictionaries(
    {
        "order": st.integers(0, 10**6),
        "cents": st.none() | st.integers(1, 5_000_000),
        "device": st.none() | st.sampled_from(["tablet", "mobile"]),
    }
)
query_strategy = st.fixed_dictionaries(
    {
        "viewer": st.sampled_from(VIEWERS),
        "grain": st.sampled_from([None, TimeGrain.DAY, TimeGrain.WEEK, TimeGrain.MONTH]),
        "dimensions": st.lists(st.sampled_from(list(Dimension)), max_size=3, unique=True),
        "statuses": st.lists(st.sampled_from(list(ConversionStatus)), max_size=2, unique=True),
        "devices": st.sampled_from([(), ("mobile",), ("mobile", "desktop")]),
        "zone": st.integers(0, 3),
        "currency": st.sampled_from([None, "EUR", "JPY"]),
        "first": st.integers(0, 10),
        "last": st.integers(0, 10),
    }
)


def _amount(cents: int, currency: str) -> Decimal:
    return Decimal(cents) if currency == "JPY" else Decimal(cents) / 100


def _rate_on(day: date) -> Decimal:
    """JPY per EUR on `day`: that day's rate, else the latest of the 7 days before."""
    for back in range(8):
        found = RATES.get(day - timedelta(days=back))
        if found is not None:
            return found
    raise AssertionError(f"the test's rates must cover {day}")


def _convert(amount: Fraction, source: str, target: str | None, utc_day: date) -> Fraction:
    if target is None or source == target:
        return amount
    rate = Fraction(_rate_on(utc_day))
    return amount / rate if source == "JPY" else amount * rate


def _round(value: Fraction, currency: str) -> Decimal:
    """Half-up to the minor unit, from the exact fraction (integer arithmetic)."""
    scale = 1 if currency == "JPY" else 100
    scaled = value * scale
    whole, rest = divmod(abs(scaled.numerator), scaled.denominator)
    if 2 * rest >= scaled.denominator:
        whole += 1
    signed = -whole if scaled < 0 else whole
    places = Decimal(1) if currency == "JPY" else Decimal("0.01")
    return (Decimal(signed) / scale).quantize(places)


def _bucket(grain: TimeGrain | None, day: date) -> date | None:
    if grain is None:
        return None
    if grain is TimeGrain.DAY:
        return day
    if grain is TimeGrain.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


async def _viewer(engine: AsyncEngine, who: str) -> Viewer:
    return await rf.viewer(engine, who)


async def _record(engine: AsyncEngine, world: World, orders: list[dict[str, Any]]) -> list[int]:
    inputs = []
    for n, o in enumerate(orders):
        at = START + timedelta(minutes=o["minute"])
        program = PROGRAM_OF[o["partner"]]
        currency = "JPY" if program == "p2" else "EUR"
        inputs.append(
            OrderInput(
                program_id=world.ids[program],
                order_id=f"P-{n}",
                tracking_time=at,
                order_value=_amount(o["cents"], currency),
                conversion_target=o["target"],
                status=o["status"],
                device=o["device"],
                touchpoints=(
                    TouchpointInput(
                        TouchpointKind.COOKIE, world.ids[o["partner"]], at - timedelta(hours=1)
                    ),
                ),
            )
        )
    ids = []
    admin = await _viewer(engine, "admin")
    async with UnitOfWork(engine) as uow:
        results = await record_orders(uow, admin, inputs, SECRET)
        await uow.commit()
    for result in results:
        assert not result.errors, result.errors
        ids.append(result.conversion.id)
    return ids


async def _change(
    engine: AsyncEngine, world: World, orders: list[dict[str, Any]], ids: list[int], change: Any
) -> bool:
    """A CHANGE_EXISTING request by the conversion's partner, accepted by the program's
    advertiser and processed; False when the services refuse it (nothing changes then)."""
    index = change["order"] % len(ids)
    partner = orders[index]["partner"]
    program = PROGRAM_OF[partner]
    currency = "JPY" if program == "p2" else "EUR"
    requested = RequestedValues(
        order_value=None if change["cents"] is None else _amount(change["cents"], currency),
        device=change["device"],
    )
    if requested.order_value is None and requested.device is None:
        return False
    draft = Draft(RequestKind.CHANGE_EXISTING, None, None, ids[index], requested, "changed")
    try:
        async with UnitOfWork(engine) as uow:
            raised = await create_request(uow, await _viewer(engine, partner), draft)
            await uow.commit()
    except DomainError:
        return False
    await rf.accept(engine, raised.id, await _viewer(engine, ADVERTISER_OF[program]))
    return await process_request(engine, raised.id) == "processed"


def _micro(column: Any) -> Any:
    """An amount in integer millionths (exact in SQL on both databases)."""
    return cast(func.round(column * literal_column(str(MICRO))), BigInteger)


async def _oracle(
    engine: AsyncEngine, world: World, viewer: str, query: StatisticsQuery, offset: int | None
) -> tuple[dict[Any, Any], dict[Any, Any]]:
    c = conversions.c
    dialect = engine.dialect.name
    first: Any = query.first_day
    last: Any = query.last_day
    if dialect == "sqlite":
        local = func.date(c.tracking_time, f"{offset:+d} minutes")
        utc = func.date(c.tracking_time)
        first, last = str(first), str(last)
    else:
        local = cast(func.timezone(query.time_zone, c.tracking_time), Date)
        utc = cast(func.timezone("UTC", c.tracking_time), Date)
    columns = {
        Dimension.PARTNER: c.partner_id,
        Dimension.PROGRAM: c.program_id,
        Dimension.CATEGORY: c.category,
        Dimension.TARGET: c.target,
        Dimension.STATUS: c.status,
        Dimension.DEVICE: c.device,
    }
    keys = [local.label("local"), utc.label("utc"), c.currency, c.status] + [
        columns[d].label(f"k{i}") for i, d in enumerate(query.dimensions)
    ]
    where = []
    if viewer in "ABC":
        where.append(c.partner_id == world.ids[viewer])
    elif viewer.startswith("adv"):
        where.append(
            c.program_id.in_(
                select(programs.c.id).where(programs.c.advertiser_id == world.ids[viewer])
            )
        )
    where += [local >= first, local <= last]
    if query.statuses:
        where.append(c.status.in_([s.value for s in query.statuses]))
    if query.devices:
        where.append(c.device.in_(query.devices))
    statement = (
        select(
            *keys,
            func.count().label("n"),
            func.sum(
                cast(func.round(c.order_value * literal_column(str(MICRO))), BigInteger)
            ).label("ov"),
            func.sum(cast(func.round(c.commission * literal_column(str(MICRO))), BigInteger)).label(
                "com"
            ),
        )
        .where(*where)
        .group_by(*keys)
    )
    cells: dict[Any, Any] = defaultdict(lambda: defaultdict(lambda: [0, Fraction(0), Fraction(0)]))
    totals: dict[Any, Any] = defaultdict(lambda: defaultdict(lambda: [0, Fraction(0), Fraction(0)]))
    async with engine.connect() as conn:
        for row in (await conn.execute(statement)).mappings():
            local_day = row["local"]
            local_day = date.fromisoformat(local_day) if isinstance(local_day, str) else local_day
            utc_day = row["utc"]
            utc_day = date.fromisoformat(utc_day) if isinstance(utc_day, str) else utc_day
            currency = query.currency or row["currency"]
            ov = _convert(Fraction(int(row["ov"]), MICRO), row["currency"], query.currency, utc_day)
            com = _convert(
                Fraction(int(row["com"]), MICRO), row["currency"], query.currency, utc_day
            )
            dims = tuple(
                ConversionStatus(row[f"k{i}"]) if d is Dimension.STATUS else row[f"k{i}"]
                for i, d in enumerate(query.dimensions)
            )
            cell_key = (_bucket(query.grain, local_day), dims, currency)
            for holder in (cells[cell_key], totals[currency]):
                for part in ("all", row["status"]):
                    holder[part][0] += row["n"]
                    holder[part][1] += ov
                    holder[part][2] += com
    return cells, totals


def _expected(holder: Any, currency: str) -> dict[str, Any]:
    count, ov, com = holder["all"]
    out: dict[str, Any] = {
        "all": (count, _round(ov, currency), _round(com, currency)),
        "average": _round(ov / count, currency) if count else None,
    }
    for status in ConversionStatus:
        n, v, m = holder[status.value] if status.value in holder else (0, Fraction(0), Fraction(0))
        out[status.value] = (n, _round(v, currency), _round(m, currency))
    return out


def _answered(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "all": (row.total.count, row.total.order_value, row.total.commission),
        "average": row.average_order_value,
    }
    for status in ConversionStatus:
        m = row.by_status[status]
        out[status.value] = (m.count, m.order_value, m.commission)
    return out


async def _scenario(engine: AsyncEngine, data: Any, backend: str) -> None:
    world = await build_world(engine, conversions_per_partner=0)
    async with engine.begin() as conn:
        await upsert_rates(
            conn, [ReferenceRate("EUR", "JPY", day, rate) for day, rate in RATES.items()]
        )
    orders = data["orders"]
    ids = await _record(engine, world, orders)
    for change in data["changes"]:
        await _change(engine, world, orders, ids, change)
    await _rollup_is_exact(engine)
    zones = list(ZONES[backend].items())
    for q in data["queries"]:
        zone, offset = zones[q["zone"] % len(zones)]
        query = StatisticsQuery(
            first_day=FIRST_DAY + timedelta(days=q["first"]),
            last_day=LAST_DAY - timedelta(days=q["last"]),
            time_zone=zone,
            grain=q["grain"],
            dimensions=tuple(q["dimensions"]),
            statuses=tuple(q["statuses"]),
            devices=q["devices"],
            currency=q["currency"],
        )
        viewer = await _viewer(engine, q["viewer"])
        answer = await StatisticsReader(engine, viewer).statistics(query)
        cells, totals = await _oracle(engine, world, q["viewer"], query, offset)
        got = {
            (r.period_start, tuple(r.keys.get(d) for d in query.dimensions), r.currency): r
            for r in answer.rows
        }
        assert set(got) == set(cells), (query, set(got) ^ set(cells))
        for key, holder in cells.items():
            assert _answered(got[key]) == _expected(holder, key[2]), (query, key)
        got_totals = {r.currency: _answered(r) for r in answer.totals if r.total.count}
        assert got_totals == {cur: _expected(h, cur) for cur, h in totals.items()}, query
        if query.currency is not None:
            assert [r.currency for r in answer.totals] == [query.currency]


async def _rollup_is_exact(engine: AsyncEngine) -> None:
    """The daily rollups the stores kept while recording and changing equal a recount of
    `conversions` (rows whose sums went back to zero aside)."""
    tables = (statistics_daily, statistics_daily_programs)
    async with engine.begin() as conn:
        kept = [
            sorted(tuple(r) for r in await conn.execute(select(t).where(t.c.conversion_count != 0)))
            for t in tables
        ]
        await rollup.rebuild(conn)
        recounted = [sorted(tuple(r) for r in await conn.execute(select(t))) for t in tables]
    assert kept == recounted
    assert kept[0], "the scenario recorded conversions"


scenarios = st.fixed_dictionaries(
    {
        "orders": st.lists(order_strategy, min_size=1, max_size=25),
        "changes": st.lists(change_strategy, max_size=4),
        "queries": st.lists(query_strategy, min_size=1, max_size=6),
    }
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        return "sqlite", f"{template}|{tmp_path / 'property.db'}"
    return "postgres", request.getfixturevalue("postgres_database")


@settings(
    max_examples=20,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=scenarios)
@example(
    data={
        "orders": [
            {
                "partner": "A",
                "minute": 20 * 60,  # 01:30 next day in Kolkata
                "cents": 1001,
                "target": "SALE_NEW_CUSTOMER",
                "device": None,
                "status": ConversionStatus.OPEN,
            },
            {
                "partner": "C",
                "minute": 2 * 1440 + 60,  # a day without a JPY rate: the fallback
                "cents": 12345,
                "target": "SALE_NEW_CUSTOMER",
                "device": "mobile",
                "status": ConversionStatus.CONFIRMED,
            },
        ],
        "changes": [{"order": 0, "cents": 777, "device": "tablet"}],
        "queries": [
            {
                "viewer": "admin",
                "grain": TimeGrain.DAY,
                "dimensions": [Dimension.PARTNER, Dimension.DEVICE],
                "statuses": [],
                "devices": (),
                "zone": 1,
                "currency": "EUR",
                "first": 0,
                "last": 0,
            }
        ],
    }
)
def test_statistics_equal_a_plain_group_by(backend: tuple[str, str], data: Any) -> None:
    kind, where = backend

    async def run() -> None:
        if kind == "sqlite":
            template, path = where.split("|")
            shutil.copyfile(template, path)
            engine = create_engine(f"sqlite+aiosqlite:///{path}")
        else:
            engine = create_engine(where)
            await truncate(engine)
        try:
            await _scenario(engine, data, kind)
        finally:
            await engine.dispose()

    run_in_thread(run())
