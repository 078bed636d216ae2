"""recordOrder drives the attribution rules of SPEC §5 (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversions
from tests.api.order_world import T0, OrderWorld, build_order_world, record
from tests.conftest import Api


@pytest.fixture
async def world(engine: AsyncEngine) -> OrderWorld:
    return await build_order_world(engine)


async def test_a_cookie_beats_a_coupon_and_the_conversion_is_stored_with_revision_1(
    api: Api, world: OrderWorld
) -> None:
    order = world.order(
        "O-1",
        touchpoints=[
            world.coupon("A", T0 - timedelta(minutes=5), reference="SAVE10"),
            world.cookie("B", T0 - timedelta(days=2), reference="ck-b"),
        ],
    )
    payload = await record(api, world, order)
    assert payload["userErrors"] == []
    attribution = payload["attribution"]
    assert attribution["rule"] == "COOKIE"
    assert attribution["partner"]["id"] == world.partner("B")
    assert attribution["touchpoint"]["reference"] == "ck-b"
    assert attribution["touchpoint"]["partner"]["id"] == world.partner("B")
    assert "beats coupon SAVE10" in attribution["reason"]
    assert attribution["returningCustomer"] is False
    conversion = payload["conversion"]
    assert payload["created"] is True
    assert conversion["partner"]["id"] == world.partner("B")
    assert conversion["conversionTarget"] == "SALE_NEW_CUSTOMER"
    assert conversion["trackingCategory"] == "default"
    assert conversion["status"] == "OPEN"
    assert conversion["orderValue"] == {"amount": "100.00", "currency": "EUR"}
    assert conversion["commission"] == {"amount": "10.00", "currency": "EUR"}
    assert conversion["commissionModelName"] == "default"
    assert Decimal(conversion["commissionBreakdown"]["lines"][0]["percentage"]) == 10
    assert conversion["commissionBreakdown"]["commission"] == "10.00"
    assert conversion["history"] == [{"number": 1, "source": "TRACKING"}]
    assert await world.count() == 1


async def test_the_latest_cookie_wins(api: Api, world: OrderWorld) -> None:
    order = world.order(
        "O-1",
        touchpoints=[
            world.cookie("A", T0 - timedelta(hours=1)),
            world.cookie("B", T0 - timedelta(days=3)),
        ],
    )
    payload = await record(api, world, order)
    assert payload["attribution"]["rule"] == "COOKIE"
    assert payload["attribution"]["partner"]["id"] == world.partner("A")


async def test_a_cookie_older_than_the_lifetime_does_not_count_one_exactly_that_old_does(
    api: Api, world: OrderWorld
) -> None:
    await world.program_settings(cookie_lifetime_days=30)
    expired = world.order(
        "O-1",
        touchpoints=[
            world.cookie("A", T0 - timedelta(days=30, seconds=1)),
        ],
    )
    payload = await record(api, world, expired)
    assert payload["conversion"] is None
    assert payload["attribution"]["rule"] == "NO_TOUCHPOINT"
    assert payload["attribution"]["partner"] is None
    assert "older than the cookie lifetime of 30 days" in payload["attribution"]["reason"]
    assert payload["userErrors"] == []

    exactly = world.order("O-2", touchpoints=[world.cookie("A", T0 - timedelta(days=30))])
    payload = await record(api, world, exactly)
    assert payload["attribution"]["partner"]["id"] == world.partner("A")
    assert await world.count() == 1


async def test_restrictive_consent_ignores_touchpoints_without_consent(
    api: Api, world: OrderWorld
) -> None:
    await world.program_settings(consent_mode="RESTRICTIVE")
    order = world.order(
        "O-1",
        touchpoints=[
            world.cookie("A", T0 - timedelta(hours=1)),  # consent unknown
            world.cookie("B", T0 - timedelta(hours=2), consent=False),
            world.coupon("B", T0 - timedelta(minutes=1), consent=True, reference="B-CODE"),
        ],
    )
    payload = await record(api, world, order)
    assert payload["attribution"]["rule"] == "COUPON"
    assert payload["attribution"]["partner"]["id"] == world.partner("B")
    assert "consent missing, consent mode RESTRICTIVE" in payload["attribution"]["reason"]


async def test_nobody_earns_an_order_without_touchpoints_but_the_reason_is_answered(
    api: Api, world: OrderWorld
) -> None:
    payload = await record(api, world, world.order("O-1"))
    assert payload == {
        **payload,
        "created": False,
        "conversion": None,
        "userErrors": [],
    }
    assert payload["attribution"]["rule"] == "NO_TOUCHPOINT"
    assert payload["attribution"]["reason"].startswith("new customer: no touchpoint counts")
    assert await world.count() == 0


async def test_a_partner_without_an_active_relationship_does_not_count(
    api: Api, world: OrderWorld
) -> None:
    order = world.order("O-1", touchpoints=[world.cookie("C", T0 - timedelta(hours=1))])
    payload = await record(api, world, order)
    assert payload["attribution"]["rule"] == "NO_TOUCHPOINT"
    assert "has no active relationship" in payload["attribution"]["reason"]


FIRST = {"customerId": " 4711 ", "customerEmail": " Foo@Example.com "}


@pytest.mark.parametrize(
    "second",
    [
        pytest.param({"customerId": "4711"}, id="by customer id only"),
        pytest.param({"customerEmail": "foo@example.com"}, id="by e-mail only"),
        pytest.param({"customerId": "4711", "customerEmail": "FOO@example.COM"}, id="by both"),
        pytest.param(
            {"customerId": "9999", "customerEmail": "foo@example.com"},
            id="e-mail matches, id differs",
        ),
    ],
)
async def test_a_returning_customer_goes_to_the_original_referrer_under_lifetime(
    api: Api, world: OrderWorld, second: dict[str, str]
) -> None:
    await world.program_settings(follow_up_policy="LIFETIME")
    first = world.order("O-1", touchpoints=[world.cookie("A", T0 - timedelta(hours=1))], **FIRST)
    assert (await record(api, world, first))["attribution"]["partner"]["id"] == world.partner("A")

    later = T0 + timedelta(days=400)
    follow_up = world.order("O-2", at=later, touchpoints=[world.cookie("B", later)], **second)
    payload = await record(api, world, follow_up)
    assert payload["attribution"]["rule"] == "FOLLOW_UP_LIFETIME"
    assert payload["attribution"]["returningCustomer"] is True
    assert payload["attribution"]["partner"]["id"] == world.partner("A")
    assert payload["attribution"]["touchpoint"] is None
    assert payload["conversion"]["conversionTarget"] == "SALE_EXISTING_CUSTOMER"

    async with world.engine.connect() as conn:
        stored = (
            await conn.execute(select(conversions.c.customer_id_hash, conversions.c.email_hash))
        ).all()
    for row in stored:  # only keyed hashes, never the e-mail itself
        assert all(value is None or len(value) == 64 for value in row)
        assert "example.com" not in str(row).lower()


async def test_a_different_customer_is_new(api: Api, world: OrderWorld) -> None:
    await world.program_settings(follow_up_policy="FIRST_ORDER_ONLY")
    first = world.order("O-1", touchpoints=[world.cookie("A", T0)], **FIRST)
    await record(api, world, first)
    other = world.order(
        "O-2",
        at=T0 + timedelta(days=1),
        customerId="4712",
        customerEmail="bar@example.com",
        touchpoints=[world.cookie("B", T0 + timedelta(days=1))],
    )
    payload = await record(api, world, other)
    assert payload["attribution"]["rule"] == "COOKIE"
    assert payload["attribution"]["returningCustomer"] is False


WINDOW_END = T0 + timedelta(days=10)


@pytest.mark.parametrize(
    ("policy", "at", "rule", "winner"),
    [
        ("FIRST_ORDER_ONLY", T0 + timedelta(days=1), "FOLLOW_UP_FIRST_ORDER_ONLY", None),
        ("FIRST_ORDER_AND_WINDOW", WINDOW_END, "FOLLOW_UP_IN_WINDOW", "A"),
        (
            "FIRST_ORDER_AND_WINDOW",
            WINDOW_END + timedelta(seconds=1),
            "FOLLOW_UP_WINDOW_EXPIRED",
            None,
        ),
        ("LIFETIME", T0 + timedelta(days=900), "FOLLOW_UP_LIFETIME", "A"),
        ("WHENEVER_TRACKED", T0 + timedelta(days=1), "FOLLOW_UP_WHENEVER_TRACKED", "B"),
    ],
)
async def test_follow_up_policies_of_the_program(
    api: Api, world: OrderWorld, policy: str, at: object, rule: str, winner: str | None
) -> None:
    await world.program_settings(follow_up_policy=policy, follow_up_window_days=10)
    await record(
        api, world, world.order("O-1", customerId="c-1", touchpoints=[world.cookie("A", T0)])
    )
    assert hasattr(at, "isoformat")
    follow_up = world.order(
        "O-2",
        at=at,
        customerId="c-1",  # type: ignore[arg-type]
        touchpoints=[world.cookie("B", at)],
    )  # type: ignore[arg-type]
    payload = await record(api, world, follow_up)
    assert payload["userErrors"] == []
    assert payload["attribution"]["rule"] == rule
    expected = world.partner(winner) if winner else None
    assert (payload["attribution"]["partner"] or {}).get("id") == expected
    assert (payload["conversion"] is not None) == (winner is not None)
    assert await world.count() == (2 if winner else 1)


async def test_the_original_referrers_relationship_override_decides_not_the_new_partners(
    api: Api, world: OrderWorld
) -> None:
    await world.program_settings(follow_up_policy="WHENEVER_TRACKED")
    await world.relationship_override("A", "FIRST_ORDER_AND_WINDOW", 3)
    await world.relationship_override("B", "LIFETIME")
    await record(
        api, world, world.order("O-1", customerEmail="x@y.z", touchpoints=[world.cookie("A", T0)])
    )
    inside = T0 + timedelta(days=3)
    payload = await record(
        api,
        world,
        world.order(
            "O-2", at=inside, customerEmail="x@y.z", touchpoints=[world.cookie("B", inside)]
        ),
    )
    assert payload["attribution"]["rule"] == "FOLLOW_UP_IN_WINDOW"
    assert payload["attribution"]["partner"]["id"] == world.partner("A")
    after = inside + timedelta(seconds=1)
    payload = await record(
        api,
        world,
        world.order("O-3", at=after, customerEmail="x@y.z", touchpoints=[world.cookie("B", after)]),
    )
    assert payload["attribution"]["rule"] == "FOLLOW_UP_WINDOW_EXPIRED"
    assert payload["conversion"] is None


async def test_the_first_order_of_a_customer_inside_a_batch_makes_the_next_one_returning(
    api: Api, world: OrderWorld
) -> None:
    from tests.api.order_world import record_many

    await world.program_settings(follow_up_policy="FIRST_ORDER_ONLY")
    payload = await record_many(
        api,
        world,
        [
            world.order("O-1", customerId="c-9", touchpoints=[world.cookie("A", T0)]),
            world.order(
                "O-2",
                at=T0 + timedelta(hours=1),
                customerId="c-9",
                touchpoints=[world.cookie("B", T0 + timedelta(hours=1))],
            ),
        ],
    )
    first, second = payload["results"]
    assert first["attribution"]["rule"] == "COOKIE"
    assert second["attribution"]["rule"] == "FOLLOW_UP_FIRST_ORDER_ONLY"
    assert second["conversion"] is None
