"""SPEC §2: who sees what. Every way of reaching an object — lists, filters, `node`, `nodes`,
the single-object fields and nested fields — shows a viewer only its scope, and an object
outside the scope reads exactly like one that does not exist."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import relationships
from portal.adapters.unit_of_work import UnitOfWork
from portal.demo_data import add_model
from portal.schema.ids import encode_id
from tests.conftest import Api
from tests.factories import World, build_world

MISSING_PK = 987_654

CONVERSIONS = """
query Conversions($filter: ConversionFilterInput) {
  conversions(first: 100, filter: $filter) {
    totalCount
    nodes { id orderId partner { id name } program { id name advertiser { id name } } }
  }
}
"""
RELATIONSHIPS = """
query Relationships($filter: RelationshipFilterInput) {
  relationships(first: 100, filter: $filter) {
    totalCount
    nodes { id partner { id name } program { id name } commissionModel { id name } }
  }
}
"""
NAMED_LISTS = """
query Lists($filter: NamedFilterInput) {
  programs(first: 100, filter: $filter) { totalCount nodes { id name } }
  partners(first: 100, filter: $filter) { totalCount nodes { id name } }
  advertisers(first: 100) { totalCount nodes { id name } }
  commissionModels(first: 100, filter: $filter) { totalCount nodes { id name program { id } } }
}
"""
PROGRAM_MODELS = """
query ProgramModels($id: ID!) { program(id: $id) { id commissionModels { id name } } }
"""
NODE = """
query Node($id: ID!) {
  node(id: $id) {
    id
    ... on Conversion { orderId commission { amount currency } partner { id } program { id } }
    ... on Program { name currency advertiser { id } commissionModels { id } }
    ... on Partner { name payoutCurrency }
    ... on Relationship { status partner { id } program { id } }
    ... on CommissionModel { name periods { validFrom } program { id } }
    ... on Advertiser { name }
  }
}
"""
NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id } }"
PROGRAM = "query Program($id: ID!) { program(id: $id) { id name currency advertiser { id } } }"
CONVERSION = """
query Conversion($id: ID!) {
  conversion(id: $id) { id orderId program { id name } partner { id name } history { number } }
}
"""


async def world_with_second_model(engine: AsyncEngine) -> World:
    """build_world, plus: partner B works under its own model `premium` in program 1, so a
    program has a model partner A must not see."""
    world = await build_world(engine)
    async with UnitOfWork(engine) as uow:
        premium = await add_model(
            uow, world.ids["p1"], "premium", datetime(2026, 1, 1, tzinfo=UTC), Decimal("8"), None
        )
        await uow.execute(
            update(relationships)
            .where(relationships.c.partner_id == world.ids["B"])
            .values(commission_model_id=premium)
        )
        for key in "ABC":
            world.ids[f"rel_{key}"] = await uow.conn.scalar(
                select(relationships.c.id).where(relationships.c.partner_id == world.ids[key])
            )
        await uow.commit()
    world.ids["m1b"] = premium
    return world


def gid(kind: str, pk: int) -> str:
    return encode_id(kind, pk)


def ids(kind: str, world: World, *keys: str) -> set[str]:
    return {gid(kind, world.ids[k]) for k in keys}


def conversion_ids(world: World, *partners: str) -> set[str]:
    return {gid("Conversion", pk) for p in partners for pk in world.conversions[p]}


# Every object of the world by (kind, key) — and who may see it.
def objects(world: World) -> list[tuple[str, int, set[str]]]:
    everyone = {"admin"}
    return [
        ("Advertiser", world.ids["adv1"], everyone | {"adv1", "A", "B"}),
        ("Advertiser", world.ids["adv2"], everyone | {"adv2", "C"}),
        ("Program", world.ids["p1"], everyone | {"adv1", "A", "B"}),
        ("Program", world.ids["p2"], everyone | {"adv2", "C"}),
        ("Partner", world.ids["A"], everyone | {"adv1", "A"}),
        ("Partner", world.ids["B"], everyone | {"adv1", "B"}),
        ("Partner", world.ids["C"], everyone | {"adv2", "C"}),
        ("Relationship", world.ids["rel_A"], everyone | {"adv1", "A"}),
        ("Relationship", world.ids["rel_B"], everyone | {"adv1", "B"}),
        ("Relationship", world.ids["rel_C"], everyone | {"adv2", "C"}),
        ("CommissionModel", world.ids["m1"], everyone | {"adv1", "A"}),
        ("CommissionModel", world.ids["m1b"], everyone | {"adv1", "B"}),
        ("CommissionModel", world.ids["m2"], everyone | {"adv2", "C"}),
        ("Conversion", world.conversions["A"][0], everyone | {"adv1", "A"}),
        ("Conversion", world.conversions["B"][0], everyone | {"adv1", "B"}),
        ("Conversion", world.conversions["C"][0], everyone | {"adv2", "C"}),
    ]


VIEWERS = ["admin", "adv1", "adv2", "A", "B", "C"]


# -- partners --------------------------------------------------------------------------------


async def test_partner_lists_show_only_its_own_conversions_and_relationships(
    api: Api, engine: AsyncEngine
) -> None:
    world = await world_with_second_model(engine)
    for partner, program, advertiser in (("A", "p1", "adv1"), ("C", "p2", "adv2")):
        token = world.tokens[partner]
        conversions = (await api.data(CONVERSIONS, token=token))["conversions"]
        assert {n["id"] for n in conversions["nodes"]} == conversion_ids(world, partner)
        assert conversions["totalCount"] == 3
        assert {n["partner"]["id"] for n in conversions["nodes"]} == ids("Partner", world, partner)
        assert {n["program"]["id"] for n in conversions["nodes"]} == ids("Program", world, program)
        assert {n["program"]["advertiser"]["id"] for n in conversions["nodes"]} == ids(
            "Advertiser", world, advertiser
        )

        rels = (await api.data(RELATIONSHIPS, token=token))["relationships"]
        assert [n["id"] for n in rels["nodes"]] == [
            gid("Relationship", world.ids[f"rel_{partner}"])
        ]
        assert rels["totalCount"] == 1
        assert rels["nodes"][0]["partner"]["id"] == gid("Partner", world.ids[partner])


@pytest.mark.parametrize(
    "filter",
    [
        pytest.param(lambda w: {"partnerIds": [gid("Partner", w.ids["B"])]}, id="other-partner"),
        pytest.param(
            lambda w: {"partnerIds": [gid("Partner", w.ids["C"])]}, id="partner-elsewhere"
        ),
        pytest.param(lambda w: {"programIds": [gid("Program", w.ids["p2"])]}, id="foreign-program"),
        pytest.param(
            lambda w: {"partnerIds": [gid("Partner", w.ids["A"]), gid("Partner", w.ids["B"])]},
            id="self-and-other",
        ),
    ],
)
async def test_partner_filters_naming_others_find_nothing_of_theirs(
    api: Api, engine: AsyncEngine, filter: Any
) -> None:
    world = await world_with_second_model(engine)
    token = world.tokens["A"]
    chosen = filter(world)
    conversions = (await api.data(CONVERSIONS, {"filter": chosen}, token=token))["conversions"]
    assert {n["id"] for n in conversions["nodes"]} <= conversion_ids(world, "A")
    assert conversions["totalCount"] == len(conversions["nodes"])
    rels = (await api.data(RELATIONSHIPS, {"filter": chosen}, token=token))["relationships"]
    assert {n["id"] for n in rels["nodes"]} <= {gid("Relationship", world.ids["rel_A"])}
    assert rels["totalCount"] == len(rels["nodes"])


async def test_filter_naming_a_hidden_partner_reads_like_one_naming_a_missing_partner(
    api: Api, engine: AsyncEngine
) -> None:
    world = await world_with_second_model(engine)
    for query, name in ((CONVERSIONS, "conversions"), (RELATIONSHIPS, "relationships")):
        hidden = await api.query(
            query,
            {"filter": {"partnerIds": [gid("Partner", world.ids["B"])]}},
            token=world.tokens["A"],
        )
        missing = await api.query(
            query, {"filter": {"partnerIds": [gid("Partner", MISSING_PK)]}}, token=world.tokens["A"]
        )
        # Identical but for the user's remaining rate-limit budget, which each request spends.
        for body in (hidden, missing):
            body["extensions"]["cost"].pop("throttleStatus")
        assert hidden == missing
        assert hidden["data"][name] == {"totalCount": 0, "nodes": []}


async def test_partner_sees_only_itself_its_programs_and_its_own_commission_model(
    api: Api, engine: AsyncEngine
) -> None:
    world = await world_with_second_model(engine)
    for partner, model in (("A", "m1"), ("B", "m1b")):
        data = await api.data(NAMED_LISTS, token=world.tokens[partner])
        assert {n["id"] for n in data["partners"]["nodes"]} == ids("Partner", world, partner)
        assert data["partners"]["totalCount"] == 1
        assert {n["id"] for n in data["programs"]["nodes"]} == ids("Program", world, "p1")
        assert {n["id"] for n in data["advertisers"]["nodes"]} == ids("Advertiser", world, "adv1")
        assert {n["id"] for n in data["commissionModels"]["nodes"]} == ids(
            "CommissionModel", world, model
        )
        assert data["commissionModels"]["totalCount"] == 1

        # The program has two models; through the program the partner still sees only its own.
        program = (
            await api.data(
                PROGRAM_MODELS, {"id": gid("Program", world.ids["p1"])}, token=world.tokens[partner]
            )
        )["program"]
        assert [m["id"] for m in program["commissionModels"]] == [
            gid("CommissionModel", world.ids[model])
        ]

        # …and the relationship's model is its own.
        rels = (await api.data(RELATIONSHIPS, token=world.tokens[partner]))["relationships"]
        assert rels["nodes"][0]["commissionModel"]["id"] == gid("CommissionModel", world.ids[model])

    # Partners of the program filter: still only itself.
    data = await api.data(
        NAMED_LISTS,
        {"filter": {"programIds": [gid("Program", world.ids["p1"])]}},
        token=world.tokens["A"],
    )
    assert {n["id"] for n in data["partners"]["nodes"]} == ids("Partner", world, "A")


# -- advertisers -----------------------------------------------------------------------------


async def test_advertiser_sees_only_its_programs_and_everything_in_them(
    api: Api, engine: AsyncEngine
) -> None:
    world = await world_with_second_model(engine)
    cases = [
        ("adv1", "p1", ("A", "B"), ("m1", "m1b")),
        ("adv2", "p2", ("C",), ("m2",)),
    ]
    for advertiser, program, partners, models in cases:
        token = world.tokens[advertiser]
        data = await api.data(NAMED_LISTS, token=token)
        assert {n["id"] for n in data["programs"]["nodes"]} == ids("Program", world, program)
        assert data["programs"]["totalCount"] == 1
        assert {n["id"] for n in data["partners"]["nodes"]} == ids("Partner", world, *partners)
        assert {n["id"] for n in data["advertisers"]["nodes"]} == ids(
            "Advertiser", world, advertiser
        )
        assert {n["id"] for n in data["commissionModels"]["nodes"]} == ids(
            "CommissionModel", world, *models
        )

        conversions = (await api.data(CONVERSIONS, token=token))["conversions"]
        assert {n["id"] for n in conversions["nodes"]} == conversion_ids(world, *partners)
        assert conversions["totalCount"] == 3 * len(partners)
        # Nested: every conversion's program is the advertiser's own.
        assert {n["program"]["id"] for n in conversions["nodes"]} == ids("Program", world, program)

        rels = (await api.data(RELATIONSHIPS, token=token))["relationships"]
        assert {n["id"] for n in rels["nodes"]} == {
            gid("Relationship", world.ids[f"rel_{p}"]) for p in partners
        }


async def test_advertiser_filters_naming_the_other_advertisers_objects_find_nothing(
    api: Api, engine: AsyncEngine
) -> None:
    world = await world_with_second_model(engine)
    token = world.tokens["adv1"]
    for chosen in (
        {"programIds": [gid("Program", world.ids["p2"])]},
        {"partnerIds": [gid("Partner", world.ids["C"])]},
    ):
        conversions = (await api.data(CONVERSIONS, {"filter": chosen}, token=token))["conversions"]
        assert conversions == {"totalCount": 0, "nodes": []}
        rels = (await api.data(RELATIONSHIPS, {"filter": chosen}, token=token))["relationships"]
        assert rels == {"totalCount": 0, "nodes": []}
    named = await api.data(
        NAMED_LISTS, {"filter": {"programIds": [gid("Program", world.ids["p2"])]}}, token=token
    )
    assert named["partners"]["nodes"] == [] and named["commissionModels"]["nodes"] == []
    by_advertiser = await api.data(
        NAMED_LISTS,
        {"filter": {"advertiserIds": [gid("Advertiser", world.ids["adv2"])]}},
        token=token,
    )
    assert by_advertiser["programs"] == {"totalCount": 0, "nodes": []}


# -- by id: node, nodes, program, conversion -------------------------------------------------


async def test_node_resolves_exactly_the_objects_in_scope(api: Api, engine: AsyncEngine) -> None:
    world = await world_with_second_model(engine)
    for viewer in VIEWERS:
        for kind, pk, seen_by in objects(world):
            data = await api.data(NODE, {"id": gid(kind, pk)}, token=world.tokens[viewer])
            node = data["node"]
            if viewer in seen_by:
                assert node is not None and node["id"] == gid(kind, pk), (viewer, kind)
            else:
                assert node is None, (viewer, kind, node)


async def test_nodes_keeps_order_and_nulls_what_is_out_of_scope(
    api: Api, engine: AsyncEngine
) -> None:
    world = await world_with_second_model(engine)
    everything = objects(world)
    all_ids = [gid(kind, pk) for kind, pk, _ in everything] + [gid("Conversion", MISSING_PK)]
    for viewer in VIEWERS:
        data = await api.data(NODES, {"ids": all_ids}, token=world.tokens[viewer])
        expected = [
            {"id": gid(kind, pk)} if viewer in seen_by else None for kind, pk, seen_by in everything
        ] + [None]
        assert data["nodes"] == expected, viewer


HIDDEN: list[tuple[str, str, str, Any]] = [
    ("A", NODE, "Conversion", lambda w: w.conversions["B"][0]),
    ("A", NODES, "Conversion", lambda w: w.conversions["B"][0]),
    ("A", CONVERSION, "Conversion", lambda w: w.conversions["B"][0]),
    ("A", CONVERSION, "Conversion", lambda w: w.conversions["C"][0]),
    ("A", NODE, "Relationship", lambda w: w.ids["rel_B"]),
    ("A", NODE, "Partner", lambda w: w.ids["B"]),
    ("A", NODE, "CommissionModel", lambda w: w.ids["m1b"]),
    ("A", PROGRAM, "Program", lambda w: w.ids["p2"]),
    ("A", NODE, "Advertiser", lambda w: w.ids["adv2"]),
    ("adv1", PROGRAM, "Program", lambda w: w.ids["p2"]),
    ("adv1", NODE, "Program", lambda w: w.ids["p2"]),
    ("adv1", NODES, "Program", lambda w: w.ids["p2"]),
    ("adv1", CONVERSION, "Conversion", lambda w: w.conversions["C"][0]),
    ("adv1", NODE, "Partner", lambda w: w.ids["C"]),
    ("adv1", NODE, "Relationship", lambda w: w.ids["rel_C"]),
    ("adv1", NODE, "CommissionModel", lambda w: w.ids["m2"]),
    ("adv1", NODE, "Advertiser", lambda w: w.ids["adv2"]),
    ("adv2", CONVERSION, "Conversion", lambda w: w.conversions["A"][0]),
]


async def test_hidden_object_reads_exactly_like_a_missing_one(
    api: Api, engine: AsyncEngine
) -> None:
    world = await world_with_second_model(engine)
    for viewer, query, kind, hidden in HIDDEN:
        token = world.tokens[viewer]
        many = query is NODES
        real_id, missing_id = gid(kind, hidden(world)), gid(kind, MISSING_PK)
        real = await api.post(query, {"ids": [real_id]} if many else {"id": real_id}, token=token)
        missing = await api.post(
            query, {"ids": [missing_id]} if many else {"id": missing_id}, token=token
        )
        case = (viewer, kind, query)
        assert real.status_code == missing.status_code == 200, case
        assert real.json() == missing.json(), case
        assert list(real.json()["data"].values()) == [[None] if many else None], case
        # The admin does see it: the case is about scope, not about a wrong id.
        seen = await api.data(
            query, {"ids": [real_id]} if many else {"id": real_id}, token=world.tokens["admin"]
        )
        assert next(iter(seen.values())) not in (None, [None]), case


async def test_nested_conversion_program_is_that_of_the_advertiser_only(
    api: Api, engine: AsyncEngine
) -> None:
    world = await world_with_second_model(engine)
    own = world.conversions["C"][0]
    data = await api.data(CONVERSION, {"id": gid("Conversion", own)}, token=world.tokens["adv2"])
    assert data["conversion"]["program"]["id"] == gid("Program", world.ids["p2"])
    assert data["conversion"]["partner"]["id"] == gid("Partner", world.ids["C"])
    assert [h["number"] for h in data["conversion"]["history"]] == [1]
    # The same conversion through adv1: nothing, not even its program.
    data = await api.data(CONVERSION, {"id": gid("Conversion", own)}, token=world.tokens["adv1"])
    assert data["conversion"] is None


# -- admin -----------------------------------------------------------------------------------


async def test_admin_sees_everything(api: Api, engine: AsyncEngine) -> None:
    world = await world_with_second_model(engine)
    token = world.tokens["admin"]
    data = await api.data(NAMED_LISTS, token=token)
    assert data["programs"]["totalCount"] == 2
    assert data["partners"]["totalCount"] == 3
    assert data["advertisers"]["totalCount"] == 2
    assert data["commissionModels"]["totalCount"] == 3
    conversions = (await api.data(CONVERSIONS, token=token))["conversions"]
    assert {n["id"] for n in conversions["nodes"]} == conversion_ids(world, "A", "B", "C")
    assert conversions["totalCount"] == 9
    rels = (await api.data(RELATIONSHIPS, token=token))["relationships"]
    assert rels["totalCount"] == 3
    program = (
        await api.data(PROGRAM_MODELS, {"id": gid("Program", world.ids["p1"])}, token=token)
    )["program"]
    assert {m["id"] for m in program["commissionModels"]} == ids(
        "CommissionModel", world, "m1", "m1b"
    )
