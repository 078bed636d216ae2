"""recordOrder rates with the winner's commission model (SPEC §4), through the API."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.commission_store import insert_model, insert_period
from portal.adapters.tables import commission_rates, tracking_categories
from portal.adapters.unit_of_work import UnitOfWork
from portal.demo_data import set_relationship
from portal.services import setup
from tests.api.order_world import (
    SINCE,
    T0,
    OrderWorld,
    all_targets,
    build_order_world,
    record,
)
from tests.conftest import Api
from tests.factories import ADMIN


@pytest.fixture
async def world(engine: AsyncEngine) -> OrderWorld:
    return await build_order_world(engine)


def by_a(world: OrderWorld, order_id: str, at: Any = T0, **extra: Any) -> dict[str, Any]:
    return world.order(order_id, at=at, touchpoints=[world.cookie("A", at)], **extra)


async def commission(api: Api, world: OrderWorld, order: dict[str, Any]) -> str:
    payload = await record(api, world, order)
    assert payload["userErrors"] == [], payload["userErrors"]
    amount: str = payload["conversion"]["commission"]["amount"]
    return amount


async def test_the_period_containing_the_tracking_time_rates_it_valid_from_inclusive_to_exclusive(
    api: Api, world: OrderWorld
) -> None:
    end = T0 + timedelta(days=30)
    model = await world.add_model(
        "P",
        "seasonal",
        [
            (SINCE, T0, all_targets("10")),
            (T0, end, all_targets("20")),
        ],
    )
    await world.use_model("A", model)
    assert await commission(api, world, by_a(world, "O-1", T0 - timedelta(microseconds=1))) == (
        "10.00"
    )
    assert await commission(api, world, by_a(world, "O-2", T0)) == "20.00"
    assert await commission(api, world, by_a(world, "O-3", end - timedelta(seconds=1))) == "20.00"
    payload = await record(api, world, by_a(world, "O-4", end))
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "trackingTime"], "NO_COMMISSION_PERIOD")
    ]
    assert await world.count() == 3


async def test_a_missing_rate_for_the_target_is_no_rate(api: Api, world: OrderWorld) -> None:
    model = await world.add_model("P", "leads only", [(SINCE, None, all_targets("10")[2:])])
    await world.use_model("A", model)
    payload = await record(api, world, by_a(world, "O-1"))
    assert [e["code"] for e in payload["userErrors"]] == ["NO_RATE"]


async def test_an_explicit_commission_overrides_and_is_marked(api: Api, world: OrderWorld) -> None:
    payload = await record(api, world, by_a(world, "O-1", commission="3.33"))
    conversion = payload["conversion"]
    assert conversion["commission"]["amount"] == "3.33"
    assert conversion["commissionOverridden"] is True
    assert conversion["commissionBreakdown"]["computedCommission"] == "10.00"


async def test_a_later_rate_change_does_not_change_the_stored_commission(
    api: Api, world: OrderWorld
) -> None:
    payload = await record(api, world, by_a(world, "O-1"))
    assert payload["conversion"]["commission"]["amount"] == "10.00"
    async with world.engine.begin() as conn:
        await conn.execute(update(commission_rates).values(percentage=Decimal("50")))
    query = (
        "query($id: ID!) { node(id: $id) { ... on Conversion { commission { amount } "
        "commissionBreakdown } } }"
    )
    data = await api.data(query, {"id": payload["conversion"]["id"]}, token=world.tokens["adv"])
    assert data["node"]["commission"]["amount"] == "10.00"
    assert data["node"]["commissionBreakdown"] == payload["conversion"]["commissionBreakdown"]
    # … while a new order is rated with the new rate.
    assert await commission(api, world, by_a(world, "O-2")) == "50.00"


async def test_a_basket_rates_each_position_with_its_own_category(
    api: Api, world: OrderWorld
) -> None:
    basket = [
        {"orderValue": "100.00", "trackingCategory": "fashion", "productId": "shirt"},
        {"orderValue": "50.00", "productId": "socks", "quantity": 2},
        {"orderValue": "10.05", "trackingCategory": "unknown-here"},
    ]
    # A program created before issue 16: an unknown key is booked as `default`.
    await world.program_settings(strict_tracking_categories=False)
    payload = await record(api, world, by_a(world, "O-1", value="160.05", basket=basket))
    conversion = payload["conversion"]
    # 20 % of 100 + 10 % of 50 + 10 % of 10.05 = 20 + 5 + 1.005 → 26.005 → 26.01 (once)
    assert conversion["commission"]["amount"] == "26.01"
    assert [
        (p["position"], p["trackingCategory"], p["orderValue"], p["commission"])
        for p in conversion["basket"]
    ] == [
        (1, "fashion", "100.00", "20.00"),
        (2, "default", "50.00", "5.00"),
        (3, "default", "10.05", "1.01"),
    ]
    assert {p["status"] for p in conversion["basket"]} == {"OPEN"}


@pytest.mark.parametrize(("discount_rating", "expected"), [(True, "8.00"), (False, "10.00")])
async def test_discount_rating_on_and_off(
    api: Api, world: OrderWorld, discount_rating: bool, expected: str
) -> None:
    model = await world.add_model(
        "P", "discounts", [(SINCE, None, all_targets("10"))], discount_rating=discount_rating
    )
    await world.use_model("A", model)
    assert await commission(api, world, by_a(world, "O-1", discount="20.00")) == expected


async def test_fixed_plus_percentage(api: Api, world: OrderWorld) -> None:
    model = await world.add_model("P", "fixed", [(SINCE, None, all_targets("5", "2.50"))])
    await world.use_model("A", model)
    assert await commission(api, world, by_a(world, "O-1", value="99.99")) == "7.50"


async def _program_in(world: OrderWorld, key: str, currency: str, percentage: str) -> None:
    async with UnitOfWork(world.engine) as uow:
        program = await setup.create_program(
            uow, ADMIN, advertiser_id=world.ids["adv"], name=f"Shop {currency}", currency=currency
        )
        await uow.execute(
            insert(tracking_categories).values(
                program_id=program.id, key="extra", name="Extra", active=True
            )
        )
        model = await insert_model(uow, program.id, "default", discount_rating=False)
        await insert_period(uow, model, SINCE, None, all_targets(percentage))
        await set_relationship(uow, world.ids["A"], program.id, model)
        await uow.commit()
    world.ids[key] = program.id


@pytest.mark.parametrize(
    ("currency", "percentage", "value", "stored_value", "expected"),
    [
        ("JPY", "3", "1250", "1250", "38"),  # 37.5 → 38 (half-up)
        ("JPY", "3", "1234", "1234", "37"),  # 37.02 → 37
        ("KWD", "2.5", "10.025", "10.025", "0.251"),  # 0.250625 → 0.251
        ("KWD", "10", "1.2345", "1.235", "0.123"),  # value rounded once; commission from exact
    ],
)
async def test_minor_units_of_jpy_and_kwd(
    api: Api,
    world: OrderWorld,
    currency: str,
    percentage: str,
    value: str,
    stored_value: str,
    expected: str,
) -> None:
    await _program_in(world, currency, currency, percentage)
    payload = await record(api, world, by_a(world, "O-1", program=currency, value=value))
    conversion = payload["conversion"]
    assert conversion["orderValue"] == {"amount": stored_value, "currency": currency}
    assert conversion["commission"] == {"amount": expected, "currency": currency}
