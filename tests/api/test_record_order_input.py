"""recordOrder / recordOrders: bad input coded per order, batches, re-sends, foreign currency,
and nothing half-written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.rate_store import upsert_rates
from portal.adapters.tables import conversion_revisions
from portal.domain.exchange_rates import ReferenceRate
from portal.domain.money import round_half_up
from tests.api.order_world import (
    RECORD_ORDER,
    RECORD_ORDERS,
    T0,
    OrderWorld,
    build_order_world,
    record,
    record_many,
)
from tests.conftest import Api


@pytest.fixture
async def world(engine: AsyncEngine) -> OrderWorld:
    return await build_order_world(engine)


def with_cookie(world: OrderWorld, order_id: str, **extra: object) -> dict[str, object]:
    extra.setdefault("touchpoints", [world.cookie("A", T0 - timedelta(hours=1))])
    return world.order(order_id, **extra)


async def add_usd_rate(world: OrderWorld, day: datetime, rate: str) -> None:
    async with world.engine.begin() as conn:
        await upsert_rates(conn, [ReferenceRate("EUR", "USD", day.date(), Decimal(rate))])


async def test_a_re_sent_order_answers_with_the_existing_conversion_and_writes_nothing(
    api: Api, world: OrderWorld
) -> None:
    order = with_cookie(world, "O-1", customerId="c-1")
    first = await record(api, world, order)
    again = await record(api, world, order)
    assert again["userErrors"] == []
    assert again["created"] is False
    assert again["conversion"]["id"] == first["conversion"]["id"]
    assert again["conversion"]["conversionTarget"] == "SALE_NEW_CUSTOMER"
    assert again["attribution"]["rule"] == "ALREADY_RECORDED"
    assert again["attribution"]["partner"]["id"] == world.partner("A")
    assert "already recorded" in again["attribution"]["reason"]
    assert await world.count() == 1
    assert await world.count(conversion_revisions) == 1


async def test_the_same_order_id_with_another_category_is_refused(
    api: Api, world: OrderWorld
) -> None:
    await record(api, world, with_cookie(world, "O-1"))
    other = await record(api, world, with_cookie(world, "O-1", trackingCategory="fashion"))
    assert other["created"] is False
    assert [e["code"] for e in other["userErrors"]] == ["ORDER_ALREADY_RECORDED"]
    assert await world.count() == 1


async def test_a_partner_may_not_record_orders(api: Api, world: OrderWorld) -> None:
    payload = await record(api, world, with_cookie(world, "O-1"), token="A")
    assert [e["code"] for e in payload["userErrors"]] == ["PERMISSION_DENIED"]
    assert payload["conversion"] is None
    assert await world.count() == 0


@pytest.mark.parametrize("token", ["other", "adv"])
async def test_a_program_outside_the_viewers_scope_is_not_found(
    api: Api, world: OrderWorld, token: str
) -> None:
    program = "P" if token == "other" else "Q"
    payload = await record(api, world, world.order("O-1", program=program), token=token)
    assert payload["userErrors"] == [
        {"field": ["input", "programId"], "code": "NOT_FOUND", "message": "program not found"}
    ]


async def test_an_admin_records_for_any_program(api: Api, world: OrderWorld) -> None:
    payload = await record(api, world, with_cookie(world, "O-1", program="Q"), token="admin")
    assert payload["conversion"]["commission"]["amount"] == "5.00"


async def test_a_category_of_another_program_falls_back_to_default_unless_strict(
    api: Api, world: OrderWorld
) -> None:
    # New programs are strict (issue 16): an unknown explicit key is refused, on the order and
    # on a basket position, and nothing is written.
    basket = [{"orderValue": "10.00", "trackingCategory": "electronics"}]
    payload = await record(api, world, with_cookie(world, "O-1", trackingCategory="electronics"))
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "trackingCategory"], "UNKNOWN_CATEGORY")
    ]
    payload = await record(api, world, with_cookie(world, "O-1", basket=basket, orderValue=None))
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "basket", "0", "trackingCategory"], "UNKNOWN_CATEGORY")
    ]
    assert await world.count() == 0
    # A program that is not strict (as every program created before) books it as `default`.
    await world.program_settings(strict_tracking_categories=False)
    payload = await record(api, world, with_cookie(world, "O-1", trackingCategory="electronics"))
    assert payload["userErrors"] == []
    assert payload["conversion"]["trackingCategory"] == "default"


@pytest.mark.parametrize(
    ("extra", "field", "code"),
    [
        ({"trackingCategory": "outlet"}, ["input", "trackingCategory"], "INACTIVE_CATEGORY"),
        ({"conversionTarget": "NEWSLETTER"}, ["input", "conversionTarget"], "INACTIVE_TARGET"),
        ({"conversionTarget": "NOPE"}, ["input", "conversionTarget"], "UNKNOWN_TARGET"),
        ({"orderValue": "-1.00"}, ["input", "orderValue"], "NEGATIVE_VALUE"),
        ({"discount": "-1"}, ["input", "discount"], "NEGATIVE_VALUE"),
        ({"discount": "100.01"}, ["input", "discount"], "DISCOUNT_EXCEEDS_VALUE"),
        ({"orderId": "  "}, ["input", "orderId"], "BLANK"),
        ({"orderId": "x" * 201}, ["input", "orderId"], "TOO_LONG"),
        ({"subIds": ["a"] * 7}, ["input", "subIds"], "TOO_MANY_SUB_IDS"),
        ({"subIds": ["a", "b" * 256]}, ["input", "subIds", "1"], "TOO_LONG"),
        ({"conversionNote": "NOPE"}, ["input", "conversionNote"], "UNKNOWN_CONVERSION_NOTE"),
        (
            {"trackingTime": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
            ["input", "trackingTime"],
            "FUTURE_TRACKING_TIME",
        ),
        (
            {"orderValue": "10", "basket": [{"orderValue": "10", "trackingCategory": "outlet"}]},
            ["input", "basket", "0", "trackingCategory"],
            "INACTIVE_CATEGORY",
        ),
        (
            {"touchpoints": [{"kind": "COOKIE", "partnerId": "bm9wZQ==", "at": T0.isoformat()}]},
            ["input", "touchpoints", "0", "partnerId"],
            "INVALID_ID",
        ),
    ],
)
async def test_bad_input_is_a_coded_user_error_and_writes_nothing(
    api: Api, world: OrderWorld, extra: dict[str, object], field: list[str], code: str
) -> None:
    payload = await record(api, world, with_cookie(world, "O-1", **extra))
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(field, code)]
    assert payload["conversion"] is None and payload["attribution"] is None
    assert await world.count() == 0
    assert await world.count(conversion_revisions) == 0


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"currency": "XYZ"}, "CurrencyCode"),
        ({"trackingTime": "2024-06-01T12:00:00"}, "offset"),
        ({"orderValue": 12.5}, "Decimal"),
    ],
)
async def test_malformed_scalars_are_graphql_validation_errors(
    api: Api, world: OrderWorld, extra: dict[str, object], fragment: str
) -> None:
    body = await api.query(
        RECORD_ORDER, {"input": with_cookie(world, "O-1", **extra)}, token=world.tokens["adv"]
    )
    assert body.get("data") is None
    assert fragment in str(body["errors"])
    assert await world.count() == 0


async def test_a_foreign_currency_order_is_converted_with_the_rate_of_its_day(
    api: Api, world: OrderWorld
) -> None:
    await add_usd_rate(world, T0, "1.0823")
    payload = await record(api, world, with_cookie(world, "O-1", value="123.45", currency="USD"))
    assert payload["userErrors"] == []
    conversion = payload["conversion"]
    rate = Context(prec=34).divide(Decimal(1), Decimal("1.0823"))  # EUR per USD, via EUR base
    exact = Decimal("123.45") * rate
    assert conversion["originalOrderValue"] == {"amount": "123.45", "currency": "USD"}
    assert conversion["orderValue"] == {
        "amount": str(round_half_up(exact, "EUR")),
        "currency": "EUR",
    }
    assert conversion["orderValue"]["amount"] == "114.06"
    assert Decimal(conversion["exchangeRate"]) == rate.quantize(Decimal("1e-12"))
    expected = round_half_up(exact * Decimal("0.10"), "EUR")
    assert conversion["commission"] == {"amount": str(expected), "currency": "EUR"}
    assert conversion["commission"]["amount"] == "11.41"
    assert conversion["commissionBreakdown"]["exchange"]["originalCurrency"] == "USD"


async def test_a_rate_up_to_7_days_old_applies_an_older_one_is_missing_exchange_rate(
    api: Api, world: OrderWorld
) -> None:
    await add_usd_rate(world, T0 - timedelta(days=7), "1.25")
    ok = await record(api, world, with_cookie(world, "O-1", currency="USD"))
    assert ok["conversion"]["orderValue"]["amount"] == "80.00"
    late = T0 + timedelta(days=1)
    payload = await record(
        api,
        world,
        world.order("O-2", at=late, currency="USD", touchpoints=[world.cookie("A", late)]),
    )
    [error] = payload["userErrors"]
    assert error["code"] == "MISSING_EXCHANGE_RATE"
    assert error["field"] == ["input", "currency"]
    assert "USD" in error["message"] and late.date().isoformat() in error["message"]
    assert await world.count() == 1


async def test_a_batch_answers_one_result_per_order_and_a_failing_order_affects_no_other(
    api: Api, world: OrderWorld
) -> None:
    cookie = [world.cookie("A", T0 - timedelta(hours=1))]
    orders = [
        world.order("B-0", touchpoints=cookie),
        world.order("B-1", value="-5", touchpoints=cookie),
        world.order("B-0", touchpoints=cookie),
        world.order("B-3", program="Q", touchpoints=cookie),
        world.order("B-4", currency="USD", touchpoints=cookie),
        world.order("B-5"),
        world.order("B-6", trackingCategory="fashion", touchpoints=cookie),
    ]
    payload = await record_many(api, world, orders)
    assert payload["userErrors"] == []
    results = payload["results"]
    assert [r["index"] for r in results] == list(range(7))
    assert [r["orderId"] for r in results] == [o["orderId"] for o in orders]
    assert [[(e["field"], e["code"]) for e in r["userErrors"]] for r in results] == [
        [],
        [(["input", "orders", "1", "orderValue"], "NEGATIVE_VALUE")],
        [(["input", "orders", "2", "orderId"], "DUPLICATE_IN_BATCH")],
        [(["input", "orders", "3", "programId"], "NOT_FOUND")],
        [(["input", "orders", "4", "currency"], "MISSING_EXCHANGE_RATE")],
        [],
        [],
    ]
    assert [r["created"] for r in results] == [True, False, False, False, False, False, True]
    assert results[5]["attribution"]["rule"] == "NO_TOUCHPOINT"
    assert results[6]["conversion"]["commission"]["amount"] == "20.00"
    assert (payload["createdCount"], payload["errorCount"]) == (2, 4)
    assert await world.count() == 2
    assert await world.count(conversion_revisions) == 2


async def test_a_batch_of_501_orders_is_refused_as_a_whole(api: Api, world: OrderWorld) -> None:
    orders = [world.order(f"O-{i}") for i in range(501)]
    payload = await record_many(api, world, orders)
    assert payload["results"] == []
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "orders"], "BATCH_TOO_LARGE")
    ]
    assert await world.count() == 0


async def test_a_full_batch_of_500_is_recorded_with_a_bounded_number_of_reads(
    api: Api, world: OrderWorld, statements: object
) -> None:
    from tests.conftest import StatementCounter

    assert isinstance(statements, StatementCounter)
    cookie = [world.cookie("A", T0 - timedelta(hours=1))]
    orders = [world.order(f"O-{i}", customerId=f"c-{i}", touchpoints=cookie) for i in range(500)]
    statements.reset()
    payload = await record_many(api, world, orders)
    assert payload["createdCount"] == 500
    selects = [s for s in statements.statements if s.lstrip().upper().startswith("SELECT")]
    # program, categories, targets, notes, relationships, 3 × models, existing, customers, plus
    # auth and the nested fields' loaders: independent of the batch size.
    assert len(selects) < 25, selects
    assert await world.count() == 500


async def test_re_sending_a_batch_creates_nothing(api: Api, world: OrderWorld) -> None:
    cookie = [world.cookie("A", T0 - timedelta(hours=1))]
    orders = [
        world.order(f"O-{i}", customerEmail=f"{i}@x.test", touchpoints=cookie) for i in range(5)
    ]
    first = await record_many(api, world, orders)
    again = await record_many(api, world, orders)
    assert again["createdCount"] == 0
    assert [r["attribution"]["rule"] for r in again["results"]] == ["ALREADY_RECORDED"] * 5
    assert [r["conversion"]["id"] for r in again["results"]] == [
        r["conversion"]["id"] for r in first["results"]
    ]
    assert await world.count() == 5


async def test_a_batch_by_a_partner_is_refused(api: Api, world: OrderWorld) -> None:
    body = await api.data(
        RECORD_ORDERS, {"input": {"orders": [world.order("O-1")]}}, token=world.tokens["A"]
    )
    assert [e["code"] for e in body["recordOrders"]["userErrors"]] == ["PERMISSION_DENIED"]
