"""Shopping-cart mapping through the API (issue 16): a mixed basket rated by the mapping,
effective dates across a version change, re-rating through a conversion request, coded bad
input with nothing written, the paid-period rule, preview, and who may see what."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import cart_mapping_versions, conversions, tracking_categories
from portal.domain.cart_mapping import MAX_RULES
from portal.domain.commission import CommissionRate
from portal.domain.programs import DEFAULT_TARGETS
from tests.api.order_world import SINCE, T0, OrderWorld, build_order_world, record
from tests.api.request_helpers import DETAIL, change_input, decide, raise_request
from tests.conftest import Api, StatementCounter
from tests.contract.test_operations import operation

SET = """
mutation Set($input: SetCartMappingInput!) {
  setCartMapping(input: $input) {
    version { id validFrom ruleCount rules { number trackingCategory shopCategory categoryMatch
      skus brand onSale minUnitPrice maxUnitPrice } }
    userErrors { field code message }
  }
}"""
GET = """
query Get($program: ID!, $at: DateTime!) {
  cartMapping(programId: $program, at: $at) {
    id validFrom ruleCount rules { number trackingCategory }
  }
}"""
VERSIONS = """
query Versions($program: ID!) {
  cartMappingVersions(programId: $program) { id validFrom ruleCount createdAt }
}"""
PREVIEW = """
query Preview(
  $program: ID!, $at: DateTime!, $positions: [CartPreviewPositionInput!]!, $model: ID
) {
  previewCartMapping(
    programId: $program, at: $at, positions: $positions, commissionModelId: $model
  ) {
    commission commissionModelName
    lines { position ruleNumber trackingCategory mapped commission versionId }
  }
}"""
CONVERSION = """
query C($id: ID!) {
  node(id: $id) { ... on Conversion {
    trackingCategory commission { amount } commissionBreakdown
    basket { position trackingCategory commission shopCategory sku brand onSale mapped }
  } }
}"""

CATEGORIES = ("electronics", "sale", "zero")
RULES: list[dict[str, Any]] = [
    {"trackingCategory": "sale", "onSale": True},
    {"trackingCategory": "zero", "shopCategory": "Gift Cards", "categoryMatch": "PREFIX"},
    {"trackingCategory": "zero", "brand": "NoPay"},
    {"trackingCategory": "electronics", "shopCategory": "Electronics", "categoryMatch": "PREFIX"},
    {"trackingCategory": "fashion", "shopCategory": "fashion > *", "categoryMatch": "GLOB"},
]
BASKET: list[dict[str, Any]] = [
    {"orderValue": "500.00", "shopCategory": "Electronics > TV", "sku": "TV-1"},
    {"orderValue": "100.00", "shopCategory": "Fashion > Shoes", "onSale": True},
    {"orderValue": "50.00", "shopCategory": "Fashion > Shirts", "brand": "nopay"},
    {"orderValue": "25.00", "shopCategory": "Gift Cards > Amazon"},
    {"orderValue": "40.00", "shopCategory": "Books"},
    {"orderValue": "10.00", "shopCategory": "Electronics > TV", "trackingCategory": "fashion"},
    {"orderValue": "30.00", "shopCategory": "Fashion > Hats", "productId": "HAT-1"},
]


@pytest.fixture
async def world(engine: AsyncEngine) -> OrderWorld:
    return await mapping_world(engine)


async def mapping_world(engine: AsyncEngine) -> OrderWorld:
    """The order world with the categories electronics, sale and zero, and partner A on a
    model with a rate for each."""
    world = await build_order_world(engine)
    async with engine.begin() as conn:
        await conn.execute(
            insert(tracking_categories),
            [
                {"program_id": world.ids["P"], "key": key, "name": key, "active": True}
                for key in CATEGORIES
            ],
        )
    percentages = {"default": "10", "fashion": "20", "electronics": "3", "sale": "2", "zero": "0"}
    model = await world.add_model(
        "P",
        "shop plan",
        [
            (
                SINCE,
                None,
                [
                    CommissionRate(t, c, Decimal(p), None)
                    for t in DEFAULT_TARGETS
                    for c, p in percentages.items()
                ],
            )
        ],
    )
    await world.use_model("A", model)
    world.ids["plan"] = model
    return world


def program(world: OrderWorld, key: str = "P") -> str:
    return world.gid("Program", key)


async def set_mapping(
    api: Api, world: OrderWorld, rules: list[dict[str, Any]], valid_from: Any, token: str = "adv",
    **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    input = {"programId": program(world), "validFrom": valid_from.isoformat(), "rules": rules}
    data = await api.data(SET, {"input": {**input, **extra}}, token=world.tokens[token])
    payload: dict[str, Any] = data["setCartMapping"]
    return payload


def order(world: OrderWorld, order_id: str, at: Any = T0, basket: Any = None) -> dict[str, Any]:
    return world.order(
        order_id,
        at=at,
        value=None,
        basket=basket if basket is not None else BASKET,
        touchpoints=[world.cookie("A", at - timedelta(hours=1))],
    )


async def conversion(api: Api, world: OrderWorld, gid: str) -> dict[str, Any]:
    data = await api.data(CONVERSION, {"id": gid}, token=world.tokens["adv"])
    found: dict[str, Any] = data["node"]
    return found


async def stored_versions(world: OrderWorld) -> int:
    return await world.count(cart_mapping_versions)


async def test_a_mixed_basket_is_rated_by_the_mapping(api: Api, world: OrderWorld) -> None:
    payload = await set_mapping(api, world, RULES, SINCE)
    assert payload["userErrors"] == []
    assert payload["version"]["ruleCount"] == 5
    recorded = await record(api, world, order(world, "O-1"))
    assert recorded["userErrors"] == []
    found = await conversion(api, world, recorded["conversion"]["id"])
    assert [(p["trackingCategory"], p["commission"], p["mapped"]) for p in found["basket"]] == [
        ("electronics", "15.00", True),  # rule 4: 3 % of 500
        ("sale", "2.00", True),  # rule 1 (on sale) wins over rule 5
        ("zero", "0.00", True),  # rule 3: brand, case-insensitive
        ("zero", "0.00", True),  # rule 2: prefix
        ("default", "4.00", True),  # no rule: default, 10 %
        ("fashion", "2.00", False),  # explicit category wins
        ("fashion", "6.00", True),  # rule 5: glob
    ]
    assert found["commission"]["amount"] == "29.00"
    assert found["basket"][6]["sku"] == "HAT-1"  # the product id is the SKU
    lines = found["commissionBreakdown"]["lines"]
    assert [line.get("cartMappingRule", "-") for line in lines] == [4, 1, 3, 2, None, "-", 5]
    # (the explicit position has no rule: no mapping involved)
    assert found["commissionBreakdown"]["cartMapping"]["versionId"] is not None
    assert found["commissionBreakdown"]["cartMapping"]["validFrom"] == SINCE.isoformat()
    assert lines[0]["rateCategory"] == "electronics"


async def test_a_shop_category_of_separators_alone_gets_the_default(
    api: Api, world: OrderWorld
) -> None:
    """It has no segment: no category rule can match it (the compiled matcher once failed on
    it, an INTERNAL error for the whole batch)."""
    rules = [
        *RULES,
        {"trackingCategory": "electronics", "shopCategory": "**", "categoryMatch": "GLOB"},
    ]
    assert (await set_mapping(api, world, rules, SINCE))["userErrors"] == []
    basket = [
        {"orderValue": "40.00", "shopCategory": " > "},
        {"orderValue": "10.00", "shopCategory": ">>", "brand": "NoPay"},
    ]
    recorded = await record(api, world, order(world, "O-SEP", basket=basket))
    assert recorded["userErrors"] == []
    found = await conversion(api, world, recorded["conversion"]["id"])
    assert [p["trackingCategory"] for p in found["basket"]] == ["electronics", "zero"]


async def test_versions_are_effective_dated_and_requests_rerate_with_them(
    api: Api, world: OrderWorld, engine: AsyncEngine
) -> None:
    v1_from, v2_from = T0 - timedelta(days=10), T0 + timedelta(days=1)
    assert (await set_mapping(api, world, RULES, v1_from))["userErrors"] == []
    # v2: electronics count as fashion from the day after T0 on.
    v2_rules = [{"trackingCategory": "fashion", "shopCategory": "Electronics", "categoryMatch":
                 "PREFIX"}]  # fmt: skip
    assert (await set_mapping(api, world, v2_rules, v2_from))["userErrors"] == []
    tv = [{"orderValue": "100.00", "shopCategory": "Electronics > TV"}]
    before = await record(api, world, order(world, "O-0", v1_from - timedelta(days=1), tv))
    under_v1 = await record(api, world, order(world, "O-1", T0, tv))
    under_v2 = await record(api, world, order(world, "O-2", v2_from + timedelta(hours=1), tv))
    assert [
        (r["conversion"]["basket"][0]["trackingCategory"], r["conversion"]["commission"]["amount"])
        for r in (before, under_v1, under_v2)
    ] == [("default", "10.00"), ("electronics", "3.00"), ("fashion", "20.00")]

    # cartMapping answers the version in effect; the history lists both.
    got = await api.data(
        GET, {"program": program(world), "at": T0.isoformat()}, token=world.tokens["adv"]
    )
    assert got["cartMapping"]["ruleCount"] == 5
    assert (
        await api.data(
            GET,
            {"program": program(world), "at": (v1_from - timedelta(seconds=1)).isoformat()},
            token=world.tokens["adv"],
        )
    )["cartMapping"] is None
    history = await api.data(VERSIONS, {"program": program(world)}, token=world.tokens["admin"])
    assert [v["ruleCount"] for v in history["cartMappingVersions"]] == [1, 5]

    # A request moving O-1's tracking time into v2 re-rates it with v2.
    conversion_id = under_v1["conversion"]["id"]
    moved = (v2_from + timedelta(hours=2)).isoformat()
    request = await raise_request(
        api, world.tokens["A"], change_input(conversion_id, {"trackingTime": moved})
    )
    assert (await decide(api, world.tokens["adv"], request["id"]))["userErrors"] == []
    await api.drain_jobs()
    processed = await api.data(DETAIL, {"id": request["id"]}, token=world.tokens["adv"])
    assert processed["conversionRequest"]["status"] == "PROCESSED"
    found = await conversion(api, world, conversion_id)
    assert found["basket"][0]["trackingCategory"] == "fashion"
    assert found["commission"]["amount"] == "20.00"
    assert found["commissionBreakdown"]["lines"][0]["cartMappingRule"] == 1
    assert found["commissionBreakdown"]["cartMapping"]["validFrom"] == v2_from.isoformat()


@pytest.mark.parametrize(
    ("rule", "field", "code"),
    [
        ({"trackingCategory": "sale"}, ["input", "rules", "1"], "EMPTY_RULE"),
        (
            {"trackingCategory": "sale", "shopCategory": "A [b]*", "categoryMatch": "GLOB"},
            ["input", "rules", "1", "shopCategory"],
            "INVALID_GLOB",
        ),
        (
            {"trackingCategory": "nope", "brand": "X"},
            ["input", "rules", "1", "trackingCategory"],
            "UNKNOWN_CATEGORY",
        ),
        (
            {"trackingCategory": "outlet", "brand": "X"},
            ["input", "rules", "1", "trackingCategory"],
            "INACTIVE_CATEGORY",
        ),
        (
            {"trackingCategory": "sale", "minUnitPrice": "10", "maxUnitPrice": "9.99"},
            ["input", "rules", "1", "minUnitPrice"],
            "INVALID_PRICE_RANGE",
        ),
    ],
)
async def test_bad_rules_are_coded_and_nothing_is_written(
    api: Api, world: OrderWorld, rule: dict[str, Any], field: list[str], code: str
) -> None:
    payload = await set_mapping(api, world, [RULES[0], rule], SINCE)
    assert payload["version"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(field, code)]
    assert await stored_versions(world) == 0


async def test_the_rule_limit(api: Api, world: OrderWorld) -> None:
    rules = [{"trackingCategory": "sale", "sku": None, "skus": [f"S{i}"]} for i in range(MAX_RULES)]
    for rule in rules:
        del rule["sku"]
    too_many = await set_mapping(api, world, [*rules, RULES[0]], SINCE)
    assert [(e["field"], e["code"]) for e in too_many["userErrors"]] == [
        (["input", "rules"], "TOO_MANY_RULES")
    ]
    assert (await set_mapping(api, world, rules, SINCE))["version"]["ruleCount"] == MAX_RULES


async def test_a_dry_run_and_a_second_version_at_the_same_instant(
    api: Api, world: OrderWorld
) -> None:
    dry = await set_mapping(api, world, RULES, SINCE, dryRun=True)
    assert dry["userErrors"] == [] and dry["version"]["id"] is None
    assert await stored_versions(world) == 0
    assert (await set_mapping(api, world, RULES, SINCE))["userErrors"] == []
    again = await set_mapping(api, world, RULES, SINCE)
    assert [e["code"] for e in again["userErrors"]] == ["VERSION_EXISTS"]


async def test_valid_from_may_not_lie_in_a_paid_period(
    api: Api, world: OrderWorld, engine: AsyncEngine
) -> None:
    recorded = await record(api, world, order(world, "O-1"))
    async with engine.begin() as conn:
        await conn.execute(update(conversions).values(payout_entry_id=1))
    refused = await set_mapping(api, world, RULES, T0)
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "validFrom"], "CONVERSION_PAID")
    ]
    assert await stored_versions(world) == 0
    after = await set_mapping(api, world, RULES, T0 + timedelta(microseconds=1))
    assert after["userErrors"] == []
    # The paid conversion kept its rating.
    found = await conversion(api, world, recorded["conversion"]["id"])
    assert {p["trackingCategory"] for p in found["basket"]} == {"default", "fashion"}


async def test_preview_maps_and_rates_and_writes_nothing(api: Api, world: OrderWorld) -> None:
    await set_mapping(api, world, RULES, SINCE)
    positions = [
        {"orderValue": "200.00", "shopCategory": "Electronics > Phones"},
        {"orderValue": "10.00", "quantity": 2, "onSale": True},
        {"orderValue": "5.00", "shopCategory": "Books"},
    ]
    preview = await api.data(
        PREVIEW,
        {
            "program": program(world),
            "at": T0.isoformat(),
            "positions": positions,
            "model": world.gid("CommissionModel", "plan"),
        },
        token=world.tokens["adv"],
    )
    found = preview["previewCartMapping"]
    assert [(x["ruleNumber"], x["trackingCategory"], x["commission"]) for x in found["lines"]] == [
        (4, "electronics", "6.00"),
        (1, "sale", "0.20"),
        (None, "default", "0.50"),
    ]
    assert found["commission"] == "6.70"
    assert found["commissionModelName"] == "shop plan"
    assert await world.count() == 0


async def test_who_sees_and_sets_a_mapping(api: Api, world: OrderWorld) -> None:
    created = await set_mapping(api, world, RULES, SINCE, token="admin")
    assert created["userErrors"] == []
    # A version is no node: node(id:) answers INVALID_ID to everyone, the same for any id.
    for token in ("adv", "admin", "other", "A"):
        body = await api.query(
            "query($id: ID!) { node(id: $id) { id } }",
            {"id": created["version"]["id"]},
            world.tokens[token],
        )
        assert [e["extensions"]["reason"] for e in body["errors"]] == ["INVALID_ID"], token
    for token in ("other", "A"):
        payload = await set_mapping(api, world, RULES, T0, token=token)
        assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"], token
    assert await stored_versions(world) == 1
    variables: list[tuple[str, dict[str, Any]]] = [
        (GET, {"program": program(world), "at": T0.isoformat()}),
        (VERSIONS, {"program": program(world)}),
        (
            PREVIEW,
            {"program": program(world), "at": T0.isoformat(), "positions": [{"orderValue": "1"}]},
        ),
    ]
    for query, values in variables:
        for token in ("adv", "admin"):
            body = await api.query(query, values, world.tokens[token])
            assert body.get("errors") is None, (token, body)
        for token in ("other", "A"):
            body = await api.query(query, values, world.tokens[token])
            assert body["data"] is None or all(v is None for v in body["data"].values())
            assert [e["extensions"]["reason"] for e in body["errors"]] == ["NOT_FOUND"], token
        body = await api.query(query, values, None)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_version_history_takes_a_fixed_number_of_statements(
    api: Api, world: OrderWorld, statements: StatementCounter
) -> None:
    counts = []
    for valid_from in (SINCE, SINCE + timedelta(days=1), SINCE + timedelta(days=2)):
        await set_mapping(api, world, RULES, valid_from)
        statements.reset()
        await api.data(VERSIONS, {"program": program(world)}, token=world.tokens["adv"])
        counts.append(statements.count)
    assert counts[0] == counts[1] == counts[2], statements.statements


async def test_recording_with_a_mapping_adds_a_fixed_number_of_statements(
    api: Api, world: OrderWorld, statements: StatementCounter
) -> None:
    await set_mapping(api, world, RULES, SINCE)
    await record(api, world, order(world, "WARM", basket=BASKET[:1]))  # the matcher is compiled
    counts = []
    for index, size in enumerate((1, 7)):
        statements.reset()
        recorded = await record(api, world, order(world, f"O-{index}", basket=BASKET[:size]))
        assert recorded["userErrors"] == []
        counts.append(statements.count)
    assert counts[0] == counts[1], statements.statements
    async with world.engine.connect() as conn:
        stored = (await conn.execute(select(conversions.c.basket))).all()
    assert len(stored) == 3


async def test_the_editor_operations_of_the_contract(api: Api, world: OrderWorld) -> None:
    saved = await api.data(
        operation("saveCartMapping"),
        {"input": {"programId": program(world), "validFrom": SINCE.isoformat(), "rules": RULES}},
        token=world.tokens["adv"],
    )
    assert saved["setCartMapping"]["userErrors"] == []
    variables = {"programId": program(world), "at": T0.isoformat()}
    editor = await api.data(operation("cartMappingEditor"), variables, token=world.tokens["adv"])
    assert [r["trackingCategory"] for r in editor["cartMapping"]["rules"]] == [
        r["trackingCategory"] for r in RULES
    ]
    assert len(editor["cartMappingVersions"]) == 1
    preview = await api.data(
        operation("previewCartMapping"),
        {**variables, "positions": [{"orderValue": "10", "brand": "NoPay"}]},
        token=world.tokens["adv"],
    )
    assert preview["previewCartMapping"]["lines"][0]["ruleNumber"] == 3
    refused = await api.query(operation("cartMappingEditor"), variables, world.tokens["A"])
    assert refused["errors"][0]["extensions"]["reason"] == "NOT_FOUND"
