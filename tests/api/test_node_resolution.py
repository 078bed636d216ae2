"""`node(id:)` resolves every Node type of the schema, with the visibility of its parent."""

from __future__ import annotations

from graphql import GraphQLObjectType
from sqlalchemy.ext.asyncio import AsyncEngine

import portal.schema
from portal.schema.ids import encode_id
from portal.schema.queries import TYPES
from tests.conftest import Api
from tests.factories import build_world

NODE = "query($id: ID!) { node(id: $id) { id __typename } }"


def test_every_node_type_is_resolvable() -> None:
    schema = portal.schema.schema._schema
    implementations = {
        t.name
        for t in schema.type_map.values()
        if isinstance(t, GraphQLObjectType) and any(i.name == "Node" for i in t.interfaces)
    }
    assert implementations <= set(TYPES), implementations - set(TYPES)


async def test_vocabulary_follows_its_program(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    program = (
        await api.data(
            "query($id: ID!) { program(id: $id) { "
            "trackingCategories { id } conversionNotes { id } } }",
            {"id": encode_id("Program", world.ids["p1"])},
            token=world.tokens["adv1"],
        )
    )["program"]
    category = program["trackingCategories"][0]["id"]
    note = program["conversionNotes"][0]["id"]
    for node_id, typename in ((category, "TrackingCategory"), (note, "ConversionNote")):
        assert (await api.data(NODE, {"id": node_id}, token=world.tokens["adv1"]))["node"][
            "__typename"
        ] == typename
        assert (await api.data(NODE, {"id": node_id}, token=world.tokens["adv2"]))["node"] is None


async def test_an_api_token_is_visible_to_its_owner_only(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    created = await api.data(
        'mutation { createApiToken(input: {name: "ci"}) { apiToken { id } userErrors { code } } }',
        token=world.tokens["A"],
    )
    token_id = created["createApiToken"]["apiToken"]["id"]
    assert (await api.data(NODE, {"id": token_id}, token=world.tokens["A"]))["node"] == {
        "id": token_id,
        "__typename": "ApiToken",
    }
    assert (await api.data(NODE, {"id": token_id}, token=world.tokens["B"]))["node"] is None


async def test_a_job_id_resolves_only_as_its_own_kind(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    started = await api.data(
        "mutation { exportConversionRequests(input: {format: CSV}) { export { id } } }",
        token=world.tokens["A"],
    )
    export_id = started["exportConversionRequests"]["export"]["id"]
    await api.drain_jobs()
    from portal.global_ids import decode_typed

    pk = decode_typed(export_id, "ExportJob")
    assert (await api.data(NODE, {"id": encode_id("ImportJob", pk)}, token=world.tokens["A"]))[
        "node"
    ] is None
