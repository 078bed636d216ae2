"""The dashboard operations in `frontend_contract/operations/` are what the frontend teams ship.
Each one must stay valid against the exported schema (else their codegen breaks) and must answer
with real data for the role that uses it, over HTTP."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate
from sqlalchemy.ext.asyncio import AsyncEngine

import portal.schema
from portal.domain.programs import DEFAULT_CATEGORY, DEFAULT_NOTES, DEFAULT_TARGETS
from portal.schema.ids import encode_id
from tests.conftest import Api
from tests.factories import World, build_world

OPERATIONS_DIR = Path(__file__).resolve().parents[2] / "frontend_contract" / "operations"
CONTRACT = OPERATIONS_DIR.parent / "schema.graphql"
OPERATION_FILES = sorted(OPERATIONS_DIR.glob("*.graphql"))


def operation(name: str) -> str:
    return (OPERATIONS_DIR / f"{name}.graphql").read_text(encoding="utf-8")


def test_the_dashboard_operations_are_in_the_contract() -> None:
    assert {p.stem for p in OPERATION_FILES} >= {"partnerConversions", "advertiserProgramOverview"}


def _code_schema() -> GraphQLSchema:
    return portal.schema.schema._schema  # type: ignore[no-any-return]


def _committed_schema() -> GraphQLSchema:
    return build_schema(CONTRACT.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", OPERATION_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize(
    "schema_of", [_committed_schema, _code_schema], ids=["committed-sdl", "code"]
)
def test_operation_parses_and_validates(path: Path, schema_of: Any) -> None:
    document = parse(path.read_text(encoding="utf-8"))
    errors = validate(schema_of(), document)
    assert errors == [], f"{path.name}: {[e.message for e in errors]}"


# --- partnerConversions ------------------------------------------------------------------------


async def test_partner_sees_only_its_own_conversions_with_nested_names(
    engine: AsyncEngine, api: Api
) -> None:
    world = await build_world(engine)

    data = await api.data(operation("partnerConversions"), {"first": 10}, token=world.tokens["A"])

    listing = data["conversions"]
    assert listing["totalCount"] == 3
    assert listing["pageInfo"]["hasNextPage"] is False
    nodes = listing["nodes"]
    # Newest tracking time first by default.
    assert [n["orderId"] for n in nodes] == ["A-2", "A-1", "A-0"]
    assert [n["id"] for n in nodes] == [
        encode_id("Conversion", pk) for pk in reversed(world.conversions["A"])
    ]
    assert {n["partner"]["name"] for n in nodes} == {"Cashback Club"}
    assert {n["partner"]["id"] for n in nodes} == {encode_id("Partner", world.ids["A"])}
    programs = {(n["program"]["name"], n["program"]["currency"]) for n in nodes}
    assert programs == {("Nordwind DE", "EUR")}
    newest = nodes[0]
    assert newest["orderValue"] == {"amount": "102.00", "currency": "EUR"}
    # The default model of program 1 pays 5 % of the order value.
    assert newest["commission"] == {"amount": "5.10", "currency": "EUR"}
    assert newest["commissionModelName"] == "default"
    assert newest["status"] == "OPEN"
    assert newest["conversionTarget"] == "SALE_NEW_CUSTOMER"
    assert newest["trackingCategory"] == DEFAULT_CATEGORY
    assert newest["trackingTime"] == "2026-03-01T02:00:00Z"


async def test_partner_conversions_pages_with_cursors_and_honours_filter_and_order(
    engine: AsyncEngine, api: Api
) -> None:
    world = await build_world(engine)
    query, token = operation("partnerConversions"), world.tokens["B"]
    order = {"field": "ORDER_VALUE", "direction": "ASC"}

    first = (await api.data(query, {"first": 2, "orderBy": order}, token=token))["conversions"]
    after = first["pageInfo"]["endCursor"]
    rest = (await api.data(query, {"first": 2, "after": after, "orderBy": order}, token=token))[
        "conversions"
    ]
    filtered = (await api.data(query, {"first": 10, "filter": {"orderId": "B-1"}}, token=token))[
        "conversions"
    ]

    assert [n["orderId"] for n in first["nodes"]] == ["B-0", "B-1"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["totalCount"] == 3
    assert [n["orderId"] for n in rest["nodes"]] == ["B-2"]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["pageInfo"]["hasPreviousPage"] is True
    values = [Decimal(n["orderValue"]["amount"]) for n in first["nodes"] + rest["nodes"]]
    assert values == sorted(values)
    assert [n["orderId"] for n in filtered["nodes"]] == ["B-1"]
    assert filtered["totalCount"] == 1
    assert filtered["nodes"][0]["partner"]["name"] == "Coupon Corner"


@pytest.mark.parametrize(
    ("role", "partners"),
    [("admin", {"A", "B", "C"}), ("adv1", {"A", "B"}), ("adv2", {"C"})],
)
async def test_the_conversions_list_shows_each_dashboard_its_scope(
    engine: AsyncEngine, api: Api, role: str, partners: set[str]
) -> None:
    world = await build_world(engine)

    data = await api.data(operation("partnerConversions"), {"first": 100}, token=world.tokens[role])

    nodes = data["conversions"]["nodes"]
    assert data["conversions"]["totalCount"] == 3 * len(partners)
    assert {n["orderId"].split("-")[0] for n in nodes} == partners


# --- advertiserProgramOverview -----------------------------------------------------------------


async def overview(api: Api, world: World, token: str) -> dict[str, Any]:
    return await api.data(
        operation("advertiserProgramOverview"),
        {"id": encode_id("Program", world.ids["p1"])},
        token=world.tokens[token],
    )


async def test_advertiser_program_overview_shows_setup_partners_and_recent_conversions(
    engine: AsyncEngine, api: Api
) -> None:
    world = await build_world(engine)

    data = await overview(api, world, "adv1")

    program = data["program"]
    assert program["id"] == encode_id("Program", world.ids["p1"])
    assert (program["name"], program["currency"]) == ("Nordwind DE", "EUR")
    assert program["advertiser"]["name"] == "Nordwind Retail"
    assert DEFAULT_CATEGORY in {c["key"] for c in program["trackingCategories"]}
    assert {t["key"] for t in program["conversionTargets"]} >= set(DEFAULT_TARGETS)
    assert {n["code"] for n in program["conversionNotes"]} >= set(DEFAULT_NOTES)
    [model] = program["commissionModels"]
    assert model["name"] == "default"
    [period] = model["periods"]
    assert period["validFrom"] == "2026-01-01T00:00:00Z"
    assert period["validTo"] is None
    assert {(r["conversionTarget"], r["trackingCategory"]) for r in period["rates"]} == {
        (t, DEFAULT_CATEGORY) for t in DEFAULT_TARGETS
    }
    assert {Decimal(r["percentage"]) for r in period["rates"]} == {Decimal("5")}

    relationships = data["relationships"]
    assert relationships["totalCount"] == 2
    assert {(r["partner"]["name"], r["status"]) for r in relationships["nodes"]} == {
        ("Cashback Club", "ACTIVE"),
        ("Coupon Corner", "ACTIVE"),
    }
    assert {r["commissionModel"]["name"] for r in relationships["nodes"]} == {"default"}

    recent = data["recentConversions"]
    assert recent["totalCount"] == 6
    assert {n["orderId"] for n in recent["nodes"]} == {f"{p}-{i}" for p in "AB" for i in range(3)}
    times = [n["trackingTime"] for n in recent["nodes"]]
    assert times == sorted(times, reverse=True)
    assert {n["commission"]["currency"] for n in recent["nodes"]} == {"EUR"}


async def test_another_advertisers_program_overview_reads_as_missing(
    engine: AsyncEngine, api: Api
) -> None:
    world = await build_world(engine)

    data = await overview(api, world, "adv2")

    assert data["program"] is None
    assert data["relationships"] == {
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "nodes": [],
    }
    assert data["recentConversions"] == {"totalCount": 0, "nodes": []}
