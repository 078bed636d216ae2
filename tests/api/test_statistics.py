"""`statistics` through the API: grouping, time zones, currencies, visibility per role, bad
input as coded user errors, and SQL statements that do not grow with the rows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import statistics_reader
from portal.adapters import statistics_rollup as rollup
from portal.adapters.rate_store import upsert_rates
from portal.adapters.rows import program as program_of_row
from portal.adapters.tables import conversions, programs
from portal.adapters.unit_of_work import UnitOfWork
from portal.demo_data import insert_conversion
from portal.domain.exchange_rates import ReferenceRate
from portal.schema.ids import encode_id
from tests.conftest import Api, StatementCounter
from tests.factories import World, build_world

STATISTICS = """
query Stats(
  $filter: StatisticsFilterInput!, $groupBy: [StatisticsGroupBy!], $currency: CurrencyCode,
  $timeZone: String
) {
  statistics(filter: $filter, groupBy: $groupBy, currency: $currency, timeZone: $timeZone) {
    timeZone
    rows {
      periodStart periodEnd trackingCategory conversionTarget status device currency
      partner { id name } program { id name }
      conversionCount orderValue { amount currency } commission { amount currency }
      averageOrderValue { amount }
      confirmed { conversionCount orderValue { amount } commission { amount } }
      open { conversionCount orderValue { amount } commission { amount } }
      rejected { conversionCount orderValue { amount } commission { amount } }
    }
    totals { currency conversionCount orderValue { amount } commission { amount } }
    userErrors { field code message }
  }
}
"""

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


async def stats(api: Api, token: str, **variables: Any) -> dict[str, Any]:
    variables.setdefault("filter", {"period": MARCH})
    data = await api.data(STATISTICS, variables, token=token)
    return data["statistics"]  # type: ignore[no-any-return]


def gid(kind: str, pk: int) -> str:
    return encode_id(kind, pk)


async def test_partner_sees_only_its_own_conversions_by_day(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    answer = await stats(api, world.tokens["A"], groupBy=["DAY"])
    assert answer["userErrors"] == []
    [row] = answer["rows"]
    assert row["periodStart"] == row["periodEnd"] == "2026-03-01"
    assert row["conversionCount"] == 3
    assert row["orderValue"] == {"amount": "303.00", "currency": "EUR"}
    assert row["commission"] == {"amount": "15.15", "currency": "EUR"}
    assert row["averageOrderValue"] == {"amount": "101.00"}
    assert row["open"]["conversionCount"] == 3
    assert row["confirmed"] == {
        "conversionCount": 0,
        "orderValue": {"amount": "0.00"},
        "commission": {"amount": "0.00"},
    }
    assert answer["totals"] == [
        {
            "currency": "EUR",
            "conversionCount": 3,
            "orderValue": {"amount": "303.00"},
            "commission": {"amount": "15.15"},
        }
    ]


@pytest.mark.parametrize(
    ("who", "expected"),
    [("adv1", {"A", "B"}), ("adv2", {"C"}), ("admin", {"A", "B", "C"}), ("B", {"B"})],
)
async def test_each_role_sees_the_partners_of_its_lists(
    api: Api, engine: AsyncEngine, who: str, expected: set[str]
) -> None:
    world = await build_world(engine)
    answer = await stats(api, world.tokens[who], groupBy=["PARTNER", "PROGRAM"])
    seen = {row["partner"]["id"] for row in answer["rows"]}
    assert seen == {gid("Partner", world.ids[k]) for k in expected}
    assert sum(r["conversionCount"] for r in answer["rows"]) == 3 * len(expected)


@pytest.mark.parametrize(
    ("who", "program", "partner"),
    [("adv1", "p2", None), ("A", "p2", None), ("A", None, "B"), ("adv2", None, "A")],
)
async def test_a_foreign_program_or_partner_is_not_found(
    api: Api, engine: AsyncEngine, who: str, program: str | None, partner: str | None
) -> None:
    world = await build_world(engine)
    filter: dict[str, Any] = {"period": MARCH}
    if program:
        filter["programIds"] = [gid("Program", world.ids[program])]
    if partner:
        filter["partnerIds"] = [gid("Partner", world.ids[partner])]
    answer = await stats(api, world.tokens[who], filter=filter)
    [error] = answer["userErrors"]
    assert error["code"] == "NOT_FOUND"
    assert error["field"] == ["filter", "programIds" if program else "partnerIds", "0"]
    assert answer["rows"] == [] and answer["totals"] == []


async def test_without_currency_totals_are_per_program_currency(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    answer = await stats(api, world.tokens["admin"], groupBy=["PROGRAM"])
    assert [t["currency"] for t in answer["totals"]] == ["EUR", "JPY"]
    assert {r["program"]["name"]: r["currency"] for r in answer["rows"]} == {
        "Nordwind DE": "EUR",
        "Kiko JP": "JPY",
    }


async def test_currency_converts_at_the_rate_of_the_tracking_day_with_fallback(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    # JPY rates (per EUR): 2026-02-27 (a Friday) only; 2026-03-01 falls back two days.
    async with engine.begin() as conn:
        await upsert_rates(conn, [ReferenceRate("EUR", "JPY", date(2026, 2, 27), Decimal("160"))])
    answer = await stats(api, world.tokens["admin"], currency="EUR", groupBy=["PROGRAM"])
    assert answer["userErrors"] == []
    jpy = next(r for r in answer["rows"] if r["program"]["name"] == "Kiko JP")
    # JPY 100 + 101 + 102 = 303 ÷ 160 = 1.89375 → EUR 1.89 (rounded once, not 0.63+0.63+0.64).
    assert jpy["orderValue"] == {"amount": "1.89", "currency": "EUR"}
    [total] = answer["totals"]
    assert total["currency"] == "EUR"
    assert total["orderValue"] == {"amount": str(Decimal("606.00") + Decimal("1.89"))}


async def test_a_missing_rate_is_a_coded_error(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    async with engine.begin() as conn:  # 8 days before: too old for the fallback
        await upsert_rates(conn, [ReferenceRate("EUR", "JPY", date(2026, 2, 21), Decimal("160"))])
    answer = await stats(api, world.tokens["admin"], currency="EUR")
    [error] = answer["userErrors"]
    assert (error["code"], error["field"]) == ("MISSING_EXCHANGE_RATE", ["currency"])
    assert "JPY" in error["message"]


async def _sale_at(engine: AsyncEngine, world: World, at: datetime, order_id: str) -> None:
    async with UnitOfWork(engine) as uow:
        row = await uow.first(programs.select().where(programs.c.id == world.ids["p1"]))
        await insert_conversion(
            uow, program_of_row(row), world.ids["A"], order_id, at, Decimal("50.00")
        )
        await uow.commit()


async def test_day_boundaries_follow_the_time_zone(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    # 23:30 UTC on 10 March is 00:30 on 11 March in Berlin (CET, +1); on 28 June 22:30 UTC is
    # 00:30 on 29 June (CEST, +2).
    await _sale_at(engine, world, datetime(2026, 3, 10, 23, 30, tzinfo=UTC), "LATE-1")
    await _sale_at(engine, world, datetime(2026, 6, 28, 22, 30, tzinfo=UTC), "LATE-2")
    filter = {"period": {"from": "2026-03-01", "to": "2026-06-30"}}
    utc = await stats(api, world.tokens["A"], filter=filter, groupBy=["DAY"])
    berlin = await stats(
        api, world.tokens["A"], filter=filter, groupBy=["DAY"], timeZone="Europe/Berlin"
    )
    assert [r["periodStart"] for r in utc["rows"]] == ["2026-03-01", "2026-03-10", "2026-06-28"]
    assert berlin["timeZone"] == "Europe/Berlin"
    assert [r["periodStart"] for r in berlin["rows"]] == [
        "2026-03-01",
        "2026-03-11",
        "2026-06-29",
    ]
    # The first day in Berlin starts at 23:00 UTC on 28 February: the 00:00 UTC sale counts.
    assert berlin["rows"][0]["conversionCount"] == 3
    months = await stats(
        api, world.tokens["A"], filter=filter, groupBy=["MONTH"], timeZone="Europe/Berlin"
    )
    assert [(r["periodStart"], r["periodEnd"]) for r in months["rows"]] == [
        ("2026-03-01", "2026-03-31"),
        ("2026-06-01", "2026-06-30"),
    ]
    weeks = await stats(api, world.tokens["A"], filter=filter, groupBy=["WEEK"])
    assert weeks["rows"][0]["periodStart"] == "2026-02-23"  # the Monday of 1 March's week


async def test_group_keys_and_status_split(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    async with engine.begin() as conn:
        await conn.execute(
            update(conversions)
            .where(conversions.c.id == world.conversions["A"][0])
            .values(status="CONFIRMED", device="mobile")
        )
        # Written behind the stores' back (they keep the rollup): recount it, as a bulk load must.
        await rollup.rebuild(conn)
    answer = await stats(
        api, world.tokens["adv1"], groupBy=["STATUS", "DEVICE", "TARGET", "CATEGORY"]
    )
    keys = [
        (r["status"], r["device"], r["conversionTarget"], r["trackingCategory"])
        for r in answer["rows"]
    ]
    assert keys == [
        ("CONFIRMED", "mobile", "SALE_NEW_CUSTOMER", "default"),
        ("OPEN", None, "SALE_NEW_CUSTOMER", "default"),
    ]
    confirmed, open_ = answer["rows"]
    assert confirmed["confirmed"]["orderValue"] == {"amount": "100.00"}
    assert open_["conversionCount"] == 5
    split = await stats(api, world.tokens["adv1"])
    [row] = split["rows"]
    assert (row["confirmed"]["conversionCount"], row["open"]["conversionCount"]) == (1, 5)
    filtered = await stats(
        api,
        world.tokens["adv1"],
        filter={"period": MARCH, "statuses": ["CONFIRMED"], "devices": ["mobile"]},
    )
    assert filtered["totals"][0]["conversionCount"] == 1


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [
        ({"timeZone": "Mars/Olympus"}, "UNKNOWN_TIME_ZONE", ["timeZone"]),
        ({"timeZone": "../../etc/passwd"}, "UNKNOWN_TIME_ZONE", ["timeZone"]),
        ({"timeZone": "Europe/" + "x" * 5000}, "UNKNOWN_TIME_ZONE", ["timeZone"]),
        ({"timeZone": "europe/berlin"}, "UNKNOWN_TIME_ZONE", ["timeZone"]),
        (
            {"filter": {"period": {"from": "2025-01-01", "to": "2026-02-05"}}, "groupBy": ["DAY"]},
            "PERIOD_TOO_LONG",
            ["filter", "period"],
        ),
        (
            {"filter": {"period": {"from": "2026-03-02", "to": "2026-03-01"}}},
            "INVALID_PERIOD",
            ["filter", "period"],
        ),
        ({"groupBy": ["DAY", "MONTH"]}, "INVALID_GROUP_BY", ["groupBy"]),
        (
            {
                "filter": {
                    "period": {"from": "2025-01-01", "to": "2026-01-31"},
                    "conversionTargets": ["a", "b", "c", "d", "e"],
                },
                "groupBy": ["DAY", "STATUS", "TARGET"],
            },
            "TOO_MANY_ROWS",
            ["groupBy"],
        ),
    ],
)
async def test_bad_input_is_a_coded_user_error(
    api: Api, engine: AsyncEngine, variables: dict[str, Any], code: str, field: list[str]
) -> None:
    world = await build_world(engine)
    answer = await stats(api, world.tokens["adv1"], **variables)
    [error] = answer["userErrors"]
    assert (error["code"], error["field"]) == (code, field), error
    assert answer["rows"] == []


async def test_too_many_rows_found_while_reading_are_refused_with_their_number(
    api: Api, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(engine)
    monkeypatch.setattr(statistics_reader, "MAX_ROWS", 1)
    answer = await stats(api, world.tokens["adv1"], groupBy=["PARTNER"])
    [error] = answer["userErrors"]
    assert error["code"] == "TOO_MANY_ROWS"
    assert "about 2 rows" in error["message"]


async def test_an_unknown_currency_is_refused(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    body = await api.query(
        STATISTICS, {"filter": {"period": MARCH}, "currency": "XYZ"}, token=world.tokens["A"]
    )
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_anonymous_is_refused(api: Api, engine: AsyncEngine) -> None:
    await build_world(engine)
    body = await api.query(STATISTICS, {"filter": {"period": MARCH}})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


STATEMENTS = """
query($filter: StatisticsFilterInput!) {
  statistics(filter: $filter, groupBy: [DAY, PARTNER, PROGRAM]) {
    rows { periodStart partner { id name } program { id name advertiser { name } } conversionCount }
    totals { conversionCount }
  }
}
"""


@pytest.mark.parametrize("per_partner", [2, 30])
async def test_statement_count_does_not_grow_with_rows(
    api: Api, engine: AsyncEngine, statements: StatementCounter, per_partner: int
) -> None:
    world = await build_world(engine, conversions_per_partner=per_partner)
    token = world.tokens["admin"]
    # token read, last use recorded, cached
    await api.data(STATEMENTS, {"filter": {"period": MARCH}}, token=token)
    statements.reset()
    data = await api.data(STATEMENTS, {"filter": {"period": MARCH}}, token=token)
    rows = data["statistics"]["rows"]
    assert len(rows) == 3 * (1 + (per_partner - 1) // 24)
    # the GROUP BY, partners, programs, advertisers (the warm token costs none).
    assert statements.count == 4, statements.statements
