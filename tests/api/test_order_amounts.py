"""The amounts of an order as a shop, a partner or an advertiser meets them over the API: exact
currency conversion rounded once (issue 9, defect 1), basket positions that must add up to the
order value (2), an order discount spread over the positions (3), and one rule for the
precision of commissions and stored rates on every path (5)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.order_world import (
    SINCE,
    T0,
    OrderWorld,
    all_targets,
    build_order_world,
    record,
)
from tests.api.request_helpers import create, create_input, new_order, raise_request
from tests.conftest import Api

FASHION = "fashion"  # rated at 20 % in the world's `default` model (others 10 %)


@pytest.fixture
async def world(engine: AsyncEngine) -> OrderWorld:
    return await build_order_world(engine)


def usd_order(world: OrderWorld, order_id: str, value: str, **extra: Any) -> dict[str, Any]:
    return world.order(
        order_id,
        value=value,
        currency="USD",
        trackingCategory=FASHION,
        touchpoints=[world.cookie("A", T0)],
        **extra,
    )


# -- 1: into the base currency divides, exactly, and rounds half-up once ----------------------


@pytest.mark.parametrize(
    ("usd", "eur", "commission"),
    [("123.03", "102.53", "20.51"), ("0.03", "0.03", "0.01"), ("1.20", "1.00", "0.20")],
)
async def test_an_order_in_another_currency_is_divided_exactly_and_rounded_half_up(
    api: Api, world: OrderWorld, usd: str, eur: str, commission: str
) -> None:
    # 123.03 USD at an ECB rate of 1.2000 is exactly 102.525 EUR (20 %: 20.505); a reciprocal
    # cut to 34 digits gave 102.52 and 20.50. 0.03 USD is exactly 0.025 EUR.
    await world.add_rate("USD", T0, "1.2000")

    payload = await record(api, world, usd_order(world, "O-1", usd))

    assert payload["userErrors"] == []
    conversion = payload["conversion"]
    assert conversion["orderValue"] == {"amount": eur, "currency": "EUR"}
    assert conversion["commission"] == {"amount": commission, "currency": "EUR"}
    assert conversion["originalOrderValue"] == {"amount": usd, "currency": "USD"}
    assert conversion["exchangeRate"] == "0.833333333333"  # shown rounded to 12 places
    exchange = conversion["commissionBreakdown"]["exchange"]
    assert (exchange["multiplier"], Decimal(exchange["divisor"])) == ("1", Decimal("1.2"))


async def test_a_request_in_another_currency_is_converted_the_same_way(
    api: Api, world: OrderWorld
) -> None:
    await world.add_rate("USD", T0, "1.2000")
    partner = world.tokens["A"]

    request = await raise_request(
        api,
        partner,
        create_input(
            world.gid("Program", "P"),
            new_order(
                "MISSED-USD",
                trackingTime=T0.isoformat(),
                orderValue="123.03",
                currency="USD",
                trackingCategory=FASHION,
            ),
        ),
    )

    assert request["commission"] == {"amount": "20.51", "currency": "EUR"}


async def test_a_basket_in_another_currency_is_rated_from_the_exact_amounts(
    api: Api, world: OrderWorld
) -> None:
    await world.add_rate("USD", T0, "1.2000")
    basket = [
        {"orderValue": "61.515", "trackingCategory": FASHION},  # 51.2625 EUR at 20 %
        {"orderValue": "61.515", "trackingCategory": FASHION},
    ]

    payload = await record(api, world, usd_order(world, "O-1", "123.03", basket=basket))

    conversion = payload["conversion"]
    assert conversion["orderValue"]["amount"] == "102.53"
    assert conversion["commission"]["amount"] == "20.51"  # 20 % of 102.525, rounded once
    shares = [Decimal(p["commission"]) for p in conversion["basket"]]
    assert sum(shares) == Decimal("20.51")


# -- 2: basket positions add up to the order value ----------------------------------------


async def test_positions_that_do_not_add_up_to_the_order_value_are_refused(
    api: Api, world: OrderWorld
) -> None:
    order = world.order(
        "O-1",
        value="10.00",
        basket=[{"orderValue": "1000.00"}],
        touchpoints=[world.cookie("A", T0)],
    )

    payload = await record(api, world, order)

    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "orderValue"], "BASKET_VALUE_MISMATCH")
    ]
    assert "1000.00" in payload["userErrors"][0]["message"]
    assert payload["conversion"] is None
    assert await world.count() == 0


async def test_without_an_order_value_the_positions_make_it(api: Api, world: OrderWorld) -> None:
    order = world.order(
        "O-1",
        value="0",
        basket=[{"orderValue": "30.00"}, {"orderValue": "12.50", "trackingCategory": FASHION}],
        touchpoints=[world.cookie("A", T0)],
    )
    del order["orderValue"]

    payload = await record(api, world, order)

    assert payload["userErrors"] == []
    conversion = payload["conversion"]
    assert conversion["orderValue"]["amount"] == "42.50"
    assert conversion["commission"]["amount"] == "5.50"  # 10 % of 30 + 20 % of 12.50


async def test_neither_an_order_value_nor_a_basket_is_required_input(
    api: Api, world: OrderWorld
) -> None:
    order = world.order("O-1", touchpoints=[world.cookie("A", T0)])
    del order["orderValue"]

    payload = await record(api, world, order)

    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "orderValue"], "REQUIRED")
    ]


# -- 3: an order discount with a basket -------------------------------------------------------


async def _discount_rating(world: OrderWorld) -> None:
    model = await world.add_model(
        "P", "after discount", [(SINCE, None, all_targets("10"))], discount_rating=True
    )
    await world.use_model("A", model)


async def test_an_order_discount_is_spread_over_the_positions_and_rated(
    api: Api, world: OrderWorld
) -> None:
    await _discount_rating(world)
    order = world.order(
        "O-1",
        value="100.00",
        discount="10.00",
        basket=[{"orderValue": "60.00"}, {"orderValue": "40.00"}],
        touchpoints=[world.cookie("A", T0)],
    )

    payload = await record(api, world, order)

    conversion = payload["conversion"]
    assert conversion["commission"]["amount"] == "9.00"  # 10 % of (100 − 10), not of 100
    lines = conversion["commissionBreakdown"]["lines"]
    assert [line["discount"] for line in lines] == ["6.00", "4.00"]  # in proportion


async def test_a_spread_discount_keeps_its_sum_exactly(api: Api, world: OrderWorld) -> None:
    await _discount_rating(world)
    order = world.order(
        "O-1",
        value="30.00",
        discount="0.10",
        basket=[{"orderValue": "10.00"}] * 3,
        touchpoints=[world.cookie("A", T0)],
    )

    payload = await record(api, world, order)

    lines = payload["conversion"]["commissionBreakdown"]["lines"]
    shares = [Decimal(line["discount"]) for line in lines]
    assert shares == [Decimal("0.04"), Decimal("0.03"), Decimal("0.03")]  # largest remainder
    assert sum(shares) == Decimal("0.10")
    assert payload["conversion"]["commission"]["amount"] == "2.99"  # 10 % of 29.90


async def test_discounts_beyond_the_order_value_are_refused(api: Api, world: OrderWorld) -> None:
    order = world.order(
        "O-1",
        value="20.00",
        discount="15.00",
        basket=[{"orderValue": "10.00", "discount": "6.00"}, {"orderValue": "10.00"}],
        touchpoints=[world.cookie("A", T0)],
    )

    payload = await record(api, world, order)

    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "discount"], "DISCOUNT_EXCEEDS_VALUE")
    ]


# -- 5: one rule for commission precision and for stored rates --------------------------------


async def test_a_requested_commission_with_too_many_decimals_is_refused_like_an_orders(
    api: Api, world: OrderWorld
) -> None:
    order = await record(
        api, world, world.order("O-1", commission="5.005", touchpoints=[world.cookie("A", T0)])
    )
    request = await create(
        api,
        world.tokens["A"],
        create_input(
            world.gid("Program", "P"),
            new_order("MISSED-1", trackingTime=T0.isoformat(), commission="5.005"),
        ),
    )

    for errors, path in (
        (order["userErrors"], ["input", "commission"]),
        (request["userErrors"], ["input", "requested", "commission"]),
    ):
        assert [(e["field"], e["code"]) for e in errors] == [(path, "INVALID_AMOUNT")]
        assert "2 decimal places" in errors[0]["message"]


async def test_padding_zeros_are_no_extra_precision(api: Api, world: OrderWorld) -> None:
    payload = await record(
        api, world, world.order("O-1", commission="5.1000", touchpoints=[world.cookie("A", T0)])
    )
    assert payload["conversion"]["commission"]["amount"] == "5.10"


async def test_orders_and_requests_keep_the_same_rate(api: Api, world: OrderWorld) -> None:
    await world.add_rate("USD", T0, "1.2000")
    ordered = await record(api, world, usd_order(world, "O-1", "10.00"))
    request = await raise_request(
        api,
        world.tokens["A"],
        create_input(
            world.gid("Program", "P"),
            new_order("MISSED-1", trackingTime=T0.isoformat(), orderValue="10.00", currency="USD"),
        ),
    )
    await api.data(
        "mutation($input: DecideConversionRequestInput!) "
        "{ decideConversionRequest(input: $input) { userErrors { code } } }",
        {"input": {"requestId": request["id"], "decision": "ACCEPT"}},
        token=world.tokens["adv"],
    )
    await api.drain_jobs()
    created = await api.data(
        '{ conversions(filter: {orderId: "MISSED-1"}) { nodes { exchangeRate orderValue '
        "{ amount } } } }",
        token=world.tokens["adv"],
    )

    [from_request] = created["conversions"]["nodes"]
    assert from_request["exchangeRate"] == ordered["conversion"]["exchangeRate"]
    assert from_request["exchangeRate"] == "0.833333333333"
    assert from_request["orderValue"]["amount"] == ordered["conversion"]["orderValue"]["amount"]
