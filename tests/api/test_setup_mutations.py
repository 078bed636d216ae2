"""updateProgram, updatePartner, createTrackingCategory, createConversionTarget,
createConversionNote — through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.setup_calls import (
    PROGRAM,
    VOCABULARY,
    call,
    codes,
    gid,
    row_counts,
    setup_rows,
)
from tests.conftest import Api
from tests.factories import World, build_world


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    return await build_world(engine, conversions_per_partner=1)


async def read_program(api: Api, token: str, program_id: int) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (
        await api.data(PROGRAM, {"id": gid("Program", program_id)}, token=token)
    )["program"]
    return found


# -- updateProgram -----------------------------------------------------------------------------


async def test_advertiser_changes_the_settings_of_its_program(api: Api, world: World) -> None:
    # Given advertiser 1's program with the default settings
    p1 = gid("Program", world.ids["p1"])
    # When its advertiser changes every setting but the currency
    payload = await call(
        api,
        "updateProgram",
        world.tokens["adv1"],
        programId=p1,
        name="  Nordwind Deutschland ",
        cookieLifetimeDays=45,
        consentMode="RESTRICTIVE",
        followUpPolicy="FIRST_ORDER_AND_WINDOW",
        followUpWindowDays=60,
        allowSelfAcceptance=True,
        publiclyListed=True,
    )
    # Then the payload and a later read show the new settings
    expected = {
        "id": p1,
        "name": "Nordwind Deutschland",
        "currency": "EUR",
        "cookieLifetimeDays": 45,
        "consentMode": "RESTRICTIVE",
        "followUpPolicy": "FIRST_ORDER_AND_WINDOW",
        "followUpWindowDays": 60,
        "allowSelfAcceptance": True,
        "publiclyListed": True,
    }
    assert payload == {"program": expected, "userErrors": []}
    assert await read_program(api, world.tokens["admin"], world.ids["p1"]) == expected


async def test_omitted_settings_keep_their_value(api: Api, world: World) -> None:
    before = await read_program(api, world.tokens["adv1"], world.ids["p1"])
    assert before is not None
    payload = await call(
        api,
        "updateProgram",
        world.tokens["admin"],
        programId=gid("Program", world.ids["p1"]),
        cookieLifetimeDays=7,
    )
    assert payload["userErrors"] == []
    assert await read_program(api, world.tokens["adv1"], world.ids["p1"]) == {
        **before,
        "cookieLifetimeDays": 7,
    }


async def test_currency_is_locked_once_the_program_has_conversions(api: Api, world: World) -> None:
    # Given program 1, which has conversions
    payload = await call(
        api,
        "updateProgram",
        world.tokens["adv1"],
        programId=gid("Program", world.ids["p1"]),
        currency="USD",
        name="Renamed",
    )
    # Then the currency change is refused, and nothing of the call is applied
    assert payload["program"] is None
    assert codes(payload) == [(["input", "currency"], "CURRENCY_LOCKED")]
    program = await read_program(api, world.tokens["adv1"], world.ids["p1"])
    assert program is not None
    assert (program["currency"], program["name"]) == ("EUR", "Nordwind DE")


async def test_same_currency_is_no_change_even_with_conversions(api: Api, world: World) -> None:
    payload = await call(
        api,
        "updateProgram",
        world.tokens["adv2"],
        programId=gid("Program", world.ids["p2"]),
        currency="JPY",
    )
    assert payload["userErrors"] == []
    assert payload["program"]["currency"] == "JPY"


async def test_currency_of_a_program_without_conversions_can_change(api: Api, world: World) -> None:
    created = await call(
        api, "createProgram", world.tokens["adv1"], name="Nordwind CH", currency="EUR"
    )
    program_id = created["program"]["id"]
    payload = await call(
        api, "updateProgram", world.tokens["adv1"], programId=program_id, currency="CHF"
    )
    assert payload["userErrors"] == []
    read = await api.data(PROGRAM, {"id": program_id}, token=world.tokens["adv1"])
    assert read["program"]["currency"] == "CHF"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"name": "   "}, "name", "BLANK"),
        ({"name": "x" * 201}, "name", "TOO_LONG"),
        ({"cookieLifetimeDays": 0}, "cookieLifetimeDays", "OUT_OF_RANGE"),
        ({"cookieLifetimeDays": 3651}, "cookieLifetimeDays", "OUT_OF_RANGE"),
        ({"followUpWindowDays": 0}, "followUpWindowDays", "OUT_OF_RANGE"),
    ],
)
async def test_invalid_settings_are_refused(
    api: Api, world: World, change: dict[str, Any], field: str, code: str
) -> None:
    before = await read_program(api, world.tokens["adv1"], world.ids["p1"])
    payload = await call(
        api,
        "updateProgram",
        world.tokens["adv1"],
        programId=gid("Program", world.ids["p1"]),
        **change,
    )
    assert payload["program"] is None
    assert codes(payload) == [(["input", field], code)]
    assert await read_program(api, world.tokens["adv1"], world.ids["p1"]) == before


async def test_another_advertisers_program_reads_exactly_like_a_missing_one(
    api: Api, world: World
) -> None:
    # When advertiser 2 changes advertiser 1's program, and a program that does not exist
    foreign = await call(
        api,
        "updateProgram",
        world.tokens["adv2"],
        programId=gid("Program", world.ids["p1"]),
        name="X",
    )
    missing = await call(
        api, "updateProgram", world.tokens["adv2"], programId=gid("Program", 999_999), name="X"
    )
    # Then both answers are the same NOT_FOUND, and the program is unchanged
    assert foreign == missing
    assert codes(foreign) == [(["input", "programId"], "NOT_FOUND")]
    program = await read_program(api, world.tokens["adv1"], world.ids["p1"])
    assert program is not None and program["name"] == "Nordwind DE"


async def test_partners_cannot_change_programs(api: Api, world: World) -> None:
    p1 = gid("Program", world.ids["p1"])
    # Partner A works in program 1 (sees it): permission denied
    in_program = await call(api, "updateProgram", world.tokens["A"], programId=p1, name="Mine")
    assert codes(in_program) == [(["input", "programId"], "PERMISSION_DENIED")]
    # Partner C does not see program 1: it reads as missing
    outside = await call(api, "updateProgram", world.tokens["C"], programId=p1, name="Mine")
    assert codes(outside) == [(["input", "programId"], "NOT_FOUND")]
    program = await read_program(api, world.tokens["adv1"], world.ids["p1"])
    assert program is not None and program["name"] == "Nordwind DE"


@pytest.mark.parametrize(
    ("mutation", "id_field", "extra"),
    [
        ("updateProgram", "programId", {"name": "X"}),
        ("updatePartner", "partnerId", {"name": "X"}),
        ("createTrackingCategory", "programId", {"key": "k", "name": "K"}),
        ("createConversionTarget", "programId", {"key": "K", "name": "K"}),
        ("createConversionNote", "programId", {"code": "C", "text": "C"}),
        ("applyToProgram", "programId", {}),
        ("setRelationship", "programId", {"partnerId": "UGFydG5lcjox"}),
        ("createCommissionModel", "programId", {"name": "X"}),
        (
            "addCommissionPeriod",
            "commissionModelId",
            {
                "validFrom": "2027-01-01T00:00:00Z",
                "rates": [
                    {"conversionTarget": "LEAD", "trackingCategory": "default", "percentage": "1"}
                ],
            },
        ),
    ],
)
@pytest.mark.parametrize("bad_id", ["not-an-id", gid("Conversion", 1)])
async def test_malformed_or_foreign_type_ids_are_invalid_id_errors(
    api: Api,
    world: World,
    engine: AsyncEngine,
    mutation: str,
    id_field: str,
    extra: dict[str, Any],
    bad_id: str,
) -> None:
    before = await setup_rows(engine)
    payload = await call(api, mutation, world.tokens["admin"], **{id_field: bad_id, **extra})
    assert codes(payload) == [(["input", id_field], "INVALID_ID")]
    assert await setup_rows(engine) == before


# -- updatePartner -----------------------------------------------------------------------------

PARTNER = (
    "query Partner($id: ID!) { node(id: $id) { ... on Partner { name payoutCurrency country } } }"
)


async def test_partner_changes_its_own_master_data(api: Api, world: World) -> None:
    partner_a = gid("Partner", world.ids["A"])
    payload = await call(
        api,
        "updatePartner",
        world.tokens["A"],
        partnerId=partner_a,
        name=" Cashback Club AT ",
        payoutCurrency="CHF",
        country="at",
    )
    expected = {"name": "Cashback Club AT", "payoutCurrency": "CHF", "country": "AT"}
    assert payload == {"partner": {"id": partner_a, **expected}, "userErrors": []}
    read = await api.data(PARTNER, {"id": partner_a}, token=world.tokens["admin"])
    assert read["node"] == expected


async def test_admin_changes_one_field_of_a_partner(api: Api, world: World) -> None:
    partner_c = gid("Partner", world.ids["C"])
    payload = await call(
        api, "updatePartner", world.tokens["admin"], partnerId=partner_c, country="CA"
    )
    assert payload["userErrors"] == []
    read = await api.data(PARTNER, {"id": partner_c}, token=world.tokens["C"])
    assert read["node"] == {"name": "Tech Blog", "payoutCurrency": "USD", "country": "CA"}


async def test_nobody_else_changes_a_partner(api: Api, world: World) -> None:
    partner_a = gid("Partner", world.ids["A"])
    # Advertiser 1 sees partner A (it works in its program) but may not change it
    advertiser = await call(
        api, "updatePartner", world.tokens["adv1"], partnerId=partner_a, name="X"
    )
    assert codes(advertiser) == [(["input", "partnerId"], "PERMISSION_DENIED")]
    # Advertiser 2 and partner B do not see partner A at all
    for key in ("adv2", "B"):
        other = await call(api, "updatePartner", world.tokens[key], partnerId=partner_a, name="X")
        assert codes(other) == [(["input", "partnerId"], "NOT_FOUND")]
    read = await api.data(PARTNER, {"id": partner_a}, token=world.tokens["admin"])
    assert read["node"]["name"] == "Cashback Club"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"country": "Germany"}, "country", "INVALID_COUNTRY"),
        ({"country": "D1"}, "country", "INVALID_COUNTRY"),
        ({"name": ""}, "name", "BLANK"),
    ],
)
async def test_invalid_partner_data_is_refused(
    api: Api, world: World, change: dict[str, Any], field: str, code: str
) -> None:
    payload = await call(
        api, "updatePartner", world.tokens["A"], partnerId=gid("Partner", world.ids["A"]), **change
    )
    assert payload["partner"] is None
    assert codes(payload) == [(["input", field], code)]


async def test_an_unknown_payout_currency_is_refused_by_the_scalar(api: Api, world: World) -> None:
    from tests.api.setup_calls import mutation

    body = await api.query(
        mutation("updatePartner"),
        {"input": {"partnerId": gid("Partner", world.ids["A"]), "payoutCurrency": "EURO"}},
        token=world.tokens["A"],
    )
    assert body.get("data") is None
    assert "EURO" in body["errors"][0]["message"]


# -- vocabularies ------------------------------------------------------------------------------


async def read_vocabulary(api: Api, token: str, program_id: int) -> dict[str, Any]:
    data = await api.data(VOCABULARY, {"id": gid("Program", program_id)}, token=token)
    found: dict[str, Any] = data["program"]
    return found


async def test_advertiser_adds_a_tracking_category(api: Api, world: World) -> None:
    payload = await call(
        api,
        "createTrackingCategory",
        world.tokens["adv1"],
        programId=gid("Program", world.ids["p1"]),
        key="fashion",
        name="Fashion",
        active=False,
    )
    assert payload["userErrors"] == []
    assert payload["trackingCategory"]["key"] == "fashion"
    vocabulary = await read_vocabulary(api, world.tokens["A"], world.ids["p1"])
    assert vocabulary["trackingCategories"] == [
        {"key": "default", "name": "Default", "active": True},
        {"key": "fashion", "name": "Fashion", "active": False},
    ]


async def test_a_new_category_is_active_by_default(api: Api, world: World) -> None:
    payload = await call(
        api,
        "createTrackingCategory",
        world.tokens["admin"],
        programId=gid("Program", world.ids["p2"]),
        key="cosmetics",
        name="Cosmetics",
    )
    assert payload["trackingCategory"]["active"] is True


async def test_advertiser_adds_a_conversion_target_and_a_note(api: Api, world: World) -> None:
    p1 = gid("Program", world.ids["p1"])
    target = await call(
        api,
        "createConversionTarget",
        world.tokens["adv1"],
        programId=p1,
        key="NEWSLETTER_SIGNUP",
        name="Newsletter sign-up",
    )
    note = await call(
        api,
        "createConversionNote",
        world.tokens["adv1"],
        programId=p1,
        code="OUT_OF_STOCK",
        text="The product was out of stock",
    )
    assert target["userErrors"] == [] and note["userErrors"] == []
    vocabulary = await read_vocabulary(api, world.tokens["adv1"], world.ids["p1"])
    assert {"key": "NEWSLETTER_SIGNUP", "name": "Newsletter sign-up", "active": True} in (
        vocabulary["conversionTargets"]
    )
    assert {"code": "OUT_OF_STOCK", "text": "The product was out of stock"} in (
        vocabulary["conversionNotes"]
    )


@pytest.mark.parametrize(
    ("mutation", "input", "field", "code"),
    [
        ("createTrackingCategory", {"key": "default", "name": "Again"}, "key", "DUPLICATE_KEY"),
        ("createTrackingCategory", {"key": "DEFAULT", "name": "Again"}, "key", "DUPLICATE_KEY"),
        ("createTrackingCategory", {"key": "two words", "name": "X"}, "key", "INVALID_KEY"),
        ("createTrackingCategory", {"key": "", "name": "X"}, "key", "INVALID_KEY"),
        ("createTrackingCategory", {"key": "k" * 65, "name": "X"}, "key", "INVALID_KEY"),
        ("createTrackingCategory", {"key": "books", "name": " "}, "name", "BLANK"),
        ("createConversionTarget", {"key": "LEAD", "name": "Lead"}, "key", "DUPLICATE_KEY"),
        ("createConversionTarget", {"key": "lead", "name": "Lead"}, "key", "DUPLICATE_KEY"),
        ("createConversionTarget", {"key": "SALE", "name": "x" * 201}, "name", "TOO_LONG"),
        ("createConversionNote", {"code": "RETURNED", "text": "Again"}, "code", "DUPLICATE_CODE"),
        ("createConversionNote", {"code": "FRAUD!", "text": "Fraud"}, "code", "INVALID_KEY"),
        ("createConversionNote", {"code": "FRAUD", "text": "x" * 501}, "text", "TOO_LONG"),
        ("createConversionNote", {"code": "FRAUD", "text": ""}, "text", "BLANK"),
    ],
)
async def test_invalid_vocabulary_entries_are_refused(
    api: Api,
    world: World,
    engine: AsyncEngine,
    mutation: str,
    input: dict[str, Any],
    field: str,
    code: str,
) -> None:
    before = await setup_rows(engine)
    payload = await call(
        api, mutation, world.tokens["adv1"], programId=gid("Program", world.ids["p1"]), **input
    )
    assert codes(payload) == [(["input", field], code)]
    assert await setup_rows(engine) == before


async def test_the_same_key_may_exist_in_two_programs(api: Api, world: World) -> None:
    for key, program in (("adv1", "p1"), ("adv2", "p2")):
        payload = await call(
            api,
            "createTrackingCategory",
            world.tokens[key],
            programId=gid("Program", world.ids[program]),
            key="fashion",
            name="Fashion",
        )
        assert payload["userErrors"] == []


@pytest.mark.parametrize(
    ("mutation", "input"),
    [
        ("createTrackingCategory", {"key": "fashion", "name": "Fashion"}),
        ("createConversionTarget", {"key": "LEAD_B2B", "name": "B2B lead"}),
        ("createConversionNote", {"code": "FRAUD", "text": "Fraud"}),
    ],
)
async def test_only_the_programs_advertiser_changes_its_vocabulary(
    api: Api, world: World, engine: AsyncEngine, mutation: str, input: dict[str, Any]
) -> None:
    before = await row_counts(engine)
    p1 = gid("Program", world.ids["p1"])
    expected = {"adv2": "NOT_FOUND", "C": "NOT_FOUND", "A": "PERMISSION_DENIED"}
    for key, code in expected.items():
        payload = await call(api, mutation, world.tokens[key], programId=p1, **input)
        assert codes(payload) == [(["input", "programId"], code)], key
    assert await row_counts(engine) == before
