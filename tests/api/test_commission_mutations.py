"""createCommissionModel and addCommissionPeriod through HTTP, plus the guarantee that a failing
setup mutation leaves nothing behind."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.setup_calls import MODEL, call, codes, gid, mutation, row_counts, setup_rows
from tests.conftest import Api
from tests.factories import World, build_world

JAN = "2027-01-01T00:00:00Z"
FEB = "2027-02-01T00:00:00Z"
MAR = "2027-03-01T00:00:00Z"
MODELS = """query Models($program: ID!) {
  commissionModels(filter: { programIds: [$program] }) { nodes { name discountRating } }
}"""


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    return await build_world(engine, conversions_per_partner=1)


def rate(
    target: str = "SALE_NEW_CUSTOMER", category: str = "default", **values: Any
) -> dict[str, Any]:
    return {"conversionTarget": target, "trackingCategory": category, **values}


async def new_model(api: Api, world: World, name: str = "premium") -> str:
    payload = await call(
        api,
        "createCommissionModel",
        world.tokens["adv1"],
        programId=gid("Program", world.ids["p1"]),
        name=name,
    )
    assert payload["userErrors"] == []
    model_id: str = payload["commissionModel"]["id"]
    return model_id


async def add_period(
    api: Api,
    world: World,
    model_id: str,
    valid_from: str,
    valid_to: str | None,
    rates: list[dict[str, Any]],
    token: str = "adv1",
) -> dict[str, Any]:
    return await call(
        api,
        "addCommissionPeriod",
        world.tokens[token],
        commissionModelId=model_id,
        validFrom=valid_from,
        validTo=valid_to,
        rates=rates,
    )


async def read_model(api: Api, world: World, model_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await api.data(MODEL, {"id": model_id}, token=world.tokens["adv1"]))[
        "node"
    ]
    return found


# -- createCommissionModel ---------------------------------------------------------------------


async def test_advertiser_creates_a_model(api: Api, world: World) -> None:
    payload = await call(
        api,
        "createCommissionModel",
        world.tokens["adv1"],
        programId=gid("Program", world.ids["p1"]),
        name=" Voucher partners ",
        discountRating=True,
    )
    assert payload["userErrors"] == []
    assert payload["commissionModel"]["periods"] == []
    data = await api.data(
        MODELS, {"program": gid("Program", world.ids["p1"])}, token=world.tokens["adv1"]
    )
    # (Name order depends on the database's collation.)
    assert sorted(data["commissionModels"]["nodes"], key=lambda m: m["name"].lower()) == [
        {"name": "default", "discountRating": False},
        {"name": "Voucher partners", "discountRating": True},
    ]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("default", "DUPLICATE_NAME"),
        ("DEFAULT ", "DUPLICATE_NAME"),
        ("  ", "BLANK"),
        ("m" * 201, "TOO_LONG"),
    ],
)
async def test_invalid_model_names_are_refused(
    api: Api, world: World, engine: AsyncEngine, name: str, code: str
) -> None:
    before = await setup_rows(engine)
    payload = await call(
        api,
        "createCommissionModel",
        world.tokens["adv1"],
        programId=gid("Program", world.ids["p1"]),
        name=name,
    )
    assert payload["commissionModel"] is None
    assert codes(payload) == [(["input", "name"], code)]
    assert await setup_rows(engine) == before


async def test_the_same_idempotency_key_creates_one_model(
    api: Api, world: World, engine: AsyncEngine
) -> None:
    input = {
        "programId": gid("Program", world.ids["p1"]),
        "name": "premium",
        "idempotencyKey": "k-1",
    }
    first = await call(api, "createCommissionModel", world.tokens["adv1"], **input)
    before = await row_counts(engine)
    second = await call(api, "createCommissionModel", world.tokens["adv1"], **input)
    assert second == first and first["userErrors"] == []
    assert await row_counts(engine) == before


async def test_only_the_programs_advertiser_creates_models(
    api: Api, world: World, engine: AsyncEngine
) -> None:
    before = await row_counts(engine)
    p1 = gid("Program", world.ids["p1"])
    for token, code in (("adv2", "NOT_FOUND"), ("C", "NOT_FOUND"), ("A", "PERMISSION_DENIED")):
        payload = await call(
            api, "createCommissionModel", world.tokens[token], programId=p1, name="mine"
        )
        assert codes(payload) == [(["input", "programId"], code)], token
    assert await row_counts(engine) == before


# -- addCommissionPeriod -----------------------------------------------------------------------


async def test_advertiser_adds_a_period_with_rates(api: Api, world: World) -> None:
    model_id = await new_model(api, world)
    payload = await add_period(
        api,
        world,
        model_id,
        "2027-01-01T01:00:00+01:00",
        FEB,
        [
            rate(percentage="7.5"),
            rate("LEAD", fixedAmount="2.00"),
            rate("SALE_EXISTING_CUSTOMER", percentage="2.25", fixedAmount="0.5"),
        ],
    )
    assert payload["userErrors"] == []
    assert payload["commissionPeriod"]["id"] == payload["commissionModel"]["periods"][0]["id"]
    model = await read_model(api, world, model_id)
    assert model["periods"] == [
        {
            "id": payload["commissionPeriod"]["id"],
            "validFrom": JAN,
            "validTo": FEB,
            "rates": [
                {
                    "conversionTarget": "SALE_NEW_CUSTOMER",
                    "trackingCategory": "default",
                    "percentage": "7.5",
                    "fixedAmount": None,
                },
                {
                    "conversionTarget": "LEAD",
                    "trackingCategory": "default",
                    "percentage": None,
                    "fixedAmount": "2",
                },
                {
                    "conversionTarget": "SALE_EXISTING_CUSTOMER",
                    "trackingCategory": "default",
                    "percentage": "2.25",
                    "fixedAmount": "0.5",
                },
            ],
        }
    ]


async def test_adjacent_periods_are_accepted_overlapping_ones_refused(
    api: Api, world: World
) -> None:
    model_id = await new_model(api, world)
    assert (await add_period(api, world, model_id, JAN, FEB, [rate(percentage="5")]))[
        "userErrors"
    ] == []
    # Starts exactly where the first ends: accepted
    adjacent = await add_period(api, world, model_id, FEB, MAR, [rate(percentage="6")])
    assert adjacent["userErrors"] == []
    # Starts inside the first: refused
    overlapping = await add_period(
        api, world, model_id, "2027-01-15T00:00:00Z", None, [rate(percentage="7")]
    )
    assert overlapping["commissionModel"] is None
    assert codes(overlapping) == [(["input", "validFrom"], "PERIOD_OVERLAP")]
    # Open-ended, starting before everything: refused as well
    open_ended = await add_period(
        api, world, model_id, "2026-12-01T00:00:00Z", None, [rate(percentage="7")]
    )
    assert codes(open_ended) == [(["input", "validFrom"], "PERIOD_OVERLAP")]
    model = await read_model(api, world, model_id)
    assert [(p["validFrom"], p["validTo"]) for p in model["periods"]] == [(JAN, FEB), (FEB, MAR)]


async def test_an_open_period_blocks_every_later_one(api: Api, world: World) -> None:
    model_id = gid("CommissionModel", world.ids["m1"])  # open since 2026-01-01
    payload = await add_period(api, world, model_id, JAN, None, [rate(percentage="9")])
    assert codes(payload) == [(["input", "validFrom"], "PERIOD_OVERLAP")]


@pytest.mark.parametrize(
    ("valid_to", "rates", "errors"),
    [
        (JAN, [rate(percentage="5")], [(["input", "validTo"], "INVALID_PERIOD")]),
        (
            "2026-12-31T23:59:59Z",
            [rate(percentage="5")],
            [(["input", "validTo"], "INVALID_PERIOD")],
        ),
        (FEB, [], [(["input", "rates"], "RATE_EMPTY")]),
        (FEB, [rate()], [(["input", "rates", "0"], "RATE_EMPTY")]),
        (
            FEB,
            [rate(percentage="100.01")],
            [(["input", "rates", "0", "percentage"], "OUT_OF_RANGE")],
        ),
        (FEB, [rate(percentage="-1")], [(["input", "rates", "0", "percentage"], "OUT_OF_RANGE")]),
        (
            FEB,
            [rate(percentage="1.23456")],
            [(["input", "rates", "0", "percentage"], "TOO_PRECISE")],
        ),
        (
            FEB,
            [rate(percentage="1"), rate("LEAD", fixedAmount="-0.01")],
            [(["input", "rates", "1", "fixedAmount"], "NEGATIVE_VALUE")],
        ),
        (
            FEB,
            [rate(percentage="1"), rate(percentage="2")],
            [(["input", "rates", "1"], "DUPLICATE_RATE")],
        ),
        (
            FEB,
            [rate(percentage="1"), rate("PURCHASE", "fashion", percentage="2")],
            [
                (["input", "rates", "1", "conversionTarget"], "UNKNOWN_TARGET"),
                (["input", "rates", "1", "trackingCategory"], "UNKNOWN_CATEGORY"),
            ],
        ),
    ],
)
async def test_invalid_periods_are_refused(
    api: Api,
    world: World,
    engine: AsyncEngine,
    valid_to: str,
    rates: list[dict[str, Any]],
    errors: list[Any],
) -> None:
    model_id = await new_model(api, world)
    before = await setup_rows(engine)
    payload = await add_period(api, world, model_id, JAN, valid_to, rates)
    assert (payload["commissionModel"], payload["commissionPeriod"]) == (None, None)
    assert codes(payload) == errors
    assert await setup_rows(engine) == before


async def test_a_category_added_to_the_program_can_be_rated(api: Api, world: World) -> None:
    model_id = await new_model(api, world)
    await call(
        api,
        "createTrackingCategory",
        world.tokens["adv1"],
        programId=gid("Program", world.ids["p1"]),
        key="fashion",
        name="Fashion",
    )
    payload = await add_period(
        api, world, model_id, JAN, None, [rate(category="fashion", percentage="3")]
    )
    assert payload["userErrors"] == []
    # Program 2 has no such category
    other = await add_period(
        api,
        world,
        gid("CommissionModel", world.ids["m2"]),
        JAN,
        None,
        [rate(category="fashion", percentage="3")],
        token="adv2",
    )
    assert codes(other) == [
        (["input", "validFrom"], "PERIOD_OVERLAP"),
        (["input", "rates", "0", "trackingCategory"], "UNKNOWN_CATEGORY"),
    ]


async def test_a_float_rate_is_refused_by_the_decimal_scalar(api: Api, world: World) -> None:
    model_id = await new_model(api, world)
    body = await api.query(
        mutation("addCommissionPeriod"),
        {
            "input": {
                "commissionModelId": model_id,
                "validFrom": JAN,
                "rates": [rate(percentage=7.5)],
            }
        },
        token=world.tokens["adv1"],
    )
    assert body.get("data") is None and body["errors"]
    assert (await read_model(api, world, model_id))["periods"] == []


async def test_only_the_programs_advertiser_adds_periods(
    api: Api, world: World, engine: AsyncEngine
) -> None:
    m1 = gid("CommissionModel", world.ids["m1"])
    before = await setup_rows(engine)
    # Partner A earns under m1 (sees it), partner C and advertiser 2 do not see it
    for token, code in (("A", "PERMISSION_DENIED"), ("C", "NOT_FOUND"), ("adv2", "NOT_FOUND")):
        payload = await add_period(
            api, world, m1, "2025-01-01T00:00:00Z", JAN, [rate(percentage="1")], token
        )
        assert codes(payload) == [(["input", "commissionModelId"], code)], token
    missing = await add_period(
        api,
        world,
        gid("CommissionModel", 999_999),
        "2025-01-01T00:00:00Z",
        JAN,
        [rate(percentage="1")],
        "adv2",
    )
    foreign = await add_period(
        api, world, m1, "2025-01-01T00:00:00Z", JAN, [rate(percentage="1")], "adv2"
    )
    assert foreign == missing
    assert await setup_rows(engine) == before


# -- nothing half-written ----------------------------------------------------------------------


async def test_failing_setup_mutations_leave_no_row_behind(
    api: Api, world: World, engine: AsyncEngine
) -> None:
    # Given the world, and one call of every setup mutation that fails late in its use case
    model_id = await new_model(api, world)
    before_rows = await setup_rows(engine)
    before_counts = await row_counts(engine)
    p1, c = gid("Program", world.ids["p1"]), gid("Partner", world.ids["C"])
    failing: list[tuple[str, str, dict[str, Any]]] = [
        ("updateProgram", "adv1", {"programId": p1, "name": "New name", "currency": "USD"}),
        ("updatePartner", "C", {"partnerId": c, "name": "New name", "country": "USA"}),
        ("createTrackingCategory", "adv1", {"programId": p1, "key": "Default", "name": "D"}),
        ("createConversionTarget", "adv1", {"programId": p1, "key": "lead", "name": "L"}),
        ("createConversionNote", "adv1", {"programId": p1, "code": "returned", "text": "R"}),
        ("applyToProgram", "A", {"programId": p1}),
        (
            "setRelationship",
            "adv1",
            {"programId": p1, "partnerId": c, "status": "ACTIVE", "followUpPolicy": "LIFETIME"},
        ),
        (
            "createCommissionModel",
            "adv1",
            {"programId": p1, "name": "Default", "idempotencyKey": "late-failure"},
        ),
        (
            "addCommissionPeriod",
            "adv1",
            {
                "commissionModelId": model_id,
                "validFrom": JAN,
                "rates": [rate(percentage="1"), rate("NOPE", percentage="1")],
            },
        ),
    ]
    # When each is called
    for name, token, input in failing:
        payload = await call(api, name, world.tokens[token], **input)
        assert payload["userErrors"], name
    # Then not a single row was added or changed
    assert await setup_rows(engine) == before_rows
    assert await row_counts(engine) == before_counts
