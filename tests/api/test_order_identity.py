"""Who an order belongs to, as recordOrder answers it: leads are no orders for returning
customers (issue 9, defect 6), an order id of a program has one conversion per target kind and
one partner, so it is never paid twice (7), and decisions name partners by public id and name
(8). On SQLite and PostgreSQL, where the uniqueness is a constraint as well."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversions
from tests.api.order_world import T0, OrderWorld, build_order_world, record
from tests.conftest import Api

CUSTOMER = {"customerId": "c-42", "customerEmail": "jo@example.com"}


@pytest.fixture
async def world(engine: AsyncEngine) -> OrderWorld:
    return await build_order_world(engine)


def order(world: OrderWorld, order_id: str, partner: str, days: int = 0, **extra: object) -> dict:
    at = T0 + timedelta(days=days)
    return world.order(
        order_id, at=at, touchpoints=[world.cookie(partner, at - timedelta(hours=1))], **extra
    )


# -- 6: a lead is no order ------------------------------------------------------------------


async def test_a_lead_does_not_make_the_customer_returning(api: Api, world: OrderWorld) -> None:
    await world.program_settings(follow_up_policy="FIRST_ORDER_ONLY")
    lead = await record(
        api, world, order(world, "SIGNUP-1", "A", conversionTarget="LEAD", **CUSTOMER)
    )
    assert lead["conversion"]["partner"]["id"] == world.partner("A")

    first_purchase = await record(api, world, order(world, "O-1", "B", days=1, **CUSTOMER))

    # The customer's first order: a new customer, attributed by its cookie — not nobody.
    assert first_purchase["attribution"]["returningCustomer"] is False
    assert first_purchase["attribution"]["rule"] == "COOKIE"
    assert first_purchase["conversion"]["partner"]["id"] == world.partner("B")
    assert first_purchase["conversion"]["conversionTarget"] == "SALE_NEW_CUSTOMER"


async def test_a_lead_never_becomes_the_original_referrers_first_order(
    api: Api, world: OrderWorld
) -> None:
    await world.program_settings(follow_up_policy="LIFETIME")
    await record(api, world, order(world, "SIGNUP-1", "A", conversionTarget="LEAD", **CUSTOMER))
    await record(api, world, order(world, "O-1", "B", days=1, **CUSTOMER))

    follow_up = await record(api, world, order(world, "O-2", "A", days=2, **CUSTOMER))

    # B referred the first order; under LIFETIME B keeps the customer, A's cookie and A's
    # earlier lead do not matter.
    assert follow_up["attribution"]["rule"] == "FOLLOW_UP_LIFETIME"
    assert follow_up["attribution"]["partner"]["id"] == world.partner("B")


async def test_a_lead_after_an_order_is_decided_by_its_own_touchpoints(
    api: Api, world: OrderWorld
) -> None:
    await world.program_settings(follow_up_policy="FIRST_ORDER_ONLY")
    await record(api, world, order(world, "O-1", "A", **CUSTOMER))

    lead = await record(
        api, world, order(world, "SIGNUP-1", "B", days=1, conversionTarget="LEAD", **CUSTOMER)
    )

    assert lead["attribution"]["rule"] == "COOKIE"
    assert lead["attribution"]["returningCustomer"] is False
    assert lead["conversion"]["partner"]["id"] == world.partner("B")
    assert "a lead" in lead["attribution"]["reason"]


# -- 7: one conversion per order id and target kind, one partner per order ------------------


@pytest.mark.parametrize(
    "again",
    [
        pytest.param({"trackingCategory": "fashion"}, id="another category"),
        pytest.param({"conversionTarget": "SALE_EXISTING_CUSTOMER"}, id="another sale target"),
    ],
)
async def test_the_same_order_id_again_is_refused_and_never_paid_twice(
    api: Api, world: OrderWorld, again: dict[str, str]
) -> None:
    first = await record(api, world, order(world, "O-1", "A"))

    # The same order once more, even with another partner's cookie.
    second = await record(api, world, order(world, "O-1", "B", **again))

    assert second["created"] is False and second["conversion"] is None
    [error] = second["userErrors"]
    assert (error["field"], error["code"]) == (["input", "orderId"], "ORDER_ALREADY_RECORDED")
    assert first["conversion"]["id"] in error["message"]
    assert await world.count() == 1


async def test_a_re_send_with_the_same_target_and_category_answers_the_conversion(
    api: Api, world: OrderWorld
) -> None:
    first = await record(api, world, order(world, "O-1", "A", trackingCategory="fashion"))
    again = await record(api, world, order(world, "O-1", "B", trackingCategory="fashion"))

    assert again["userErrors"] == [] and again["created"] is False
    assert again["attribution"]["rule"] == "ALREADY_RECORDED"
    assert again["conversion"]["id"] == first["conversion"]["id"]


async def test_a_lead_and_a_sale_of_one_order_are_two_conversions_of_one_partner(
    api: Api, world: OrderWorld
) -> None:
    sale = await record(api, world, order(world, "O-1", "A"))

    lead = await record(api, world, order(world, "O-1", "B", days=1, conversionTarget="LEAD"))

    assert lead["created"] is True
    assert lead["attribution"]["rule"] == "SAME_ORDER"
    assert lead["conversion"]["partner"]["id"] == sale["conversion"]["partner"]["id"]
    assert lead["conversion"]["conversionTarget"] == "LEAD"
    assert await world.count() == 2
    again = await record(api, world, order(world, "O-1", "B", days=1, conversionTarget="LEAD"))
    assert again["attribution"]["rule"] == "ALREADY_RECORDED" and await world.count() == 2


async def test_a_batch_cannot_pay_an_order_twice_either(api: Api, world: OrderWorld) -> None:
    from tests.api.order_world import record_many

    payload = await record_many(
        api,
        world,
        [order(world, "O-1", "A"), order(world, "O-1", "B", trackingCategory="fashion")],
    )

    assert payload["createdCount"] == 1
    assert [e["code"] for e in payload["results"][1]["userErrors"]] == ["DUPLICATE_IN_BATCH"]


async def test_the_database_refuses_a_second_sale_of_an_order(
    api: Api, world: OrderWorld, engine: AsyncEngine
) -> None:
    await record(api, world, order(world, "O-1", "A"))
    async with engine.connect() as conn:
        row = (await conn.execute(select(conversions))).one()._asdict()
    row.pop("id")
    row.update(category="fashion", target="SALE_EXISTING_CUSTOMER", partner_id=world.ids["B"])

    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(conversions).values(**row))


# -- 8: a decision names partners as an advertiser knows them -----------------------------


async def test_the_reason_names_partners_by_public_id_and_name(api: Api, world: OrderWorld) -> None:
    payload = await record(
        api,
        world,
        world.order(
            "O-1",
            touchpoints=[
                world.coupon("A", T0 - timedelta(minutes=5), reference="SAVE10"),
                world.cookie("B", T0 - timedelta(days=2), reference="ck-b"),
            ],
        ),
    )

    reason = payload["attribution"]["reason"]
    assert f"Coupon Corner ({world.partner('B')})" in reason
    assert f"Cashback Club ({world.partner('A')})" in reason
    assert not re.search(r"partner \d+\b", reason), reason


async def test_a_follow_up_reason_names_the_original_referrer(api: Api, world: OrderWorld) -> None:
    await world.program_settings(follow_up_policy="LIFETIME")
    await record(api, world, order(world, "O-1", "A", **CUSTOMER))

    payload = await record(api, world, order(world, "O-2", "B", days=1, **CUSTOMER))

    reason = payload["attribution"]["reason"]
    assert f"originally referred by Cashback Club ({world.partner('A')})" in reason
    assert not re.search(r"partner \d+\b", reason), reason
