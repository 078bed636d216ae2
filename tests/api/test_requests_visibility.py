"""SPEC §2 for conversion requests: a partner sees only its own requests and never an INTERNAL
comment, an advertiser only its programs' requests — through every way of reaching them — and
an object outside the scope reads exactly like one that does not exist."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests
from portal.schema.ids import decode_id
from tests.api.request_helpers import (
    COMMENT,
    DECIDE_MANY,
    PREVIEW,
    RETRY,
    RequestWorld,
    change_input,
    create_input,
    decide,
    execute,
    gid,
    mutate,
    new_order,
    raise_request,
    request_world,
)
from tests.conftest import Api

MISSING = gid("ConversionRequest", 987_654)
SECRET = "internal: partner B looks like a fraudster"

LIST = """
query List($filter: ConversionRequestFilterInput) {
  conversionRequests(first: 100, filter: $filter) {
    totalCount
    nodes { id partner { id } program { id } comments { nodes { body } } }
  }
}"""
ONE = """
query One($id: ID!) {
  conversionRequest(id: $id) {
    id partner { id name } program { id } conversion { id orderId }
    comments { totalCount nodes { body visibility } }
  }
}"""
NODE = """
query Node($id: ID!) {
  node(id: $id) {
    id
    ... on ConversionRequest {
      partner { id } conversion { id } comments { nodes { body visibility } }
    }
  }
}"""
NODES = """
query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id ... on ConversionRequest { partner { id } } } }
"""


@dataclass
class Scene:
    w: RequestWorld
    a_new: str  # partner A, CREATE_NEW in program 1
    a_change: str  # partner A, CHANGE_EXISTING of A-0, accepted and processed
    b_change: str  # partner B, CHANGE_EXISTING of B-0, with a SHARED and an INTERNAL comment
    c_new: str  # partner C, CREATE_NEW in program 2 (advertiser 2)


async def scene(api: Api, engine: AsyncEngine) -> Scene:
    w = await request_world(engine)
    a_new = (await raise_request(api, w.token("A"), create_input(w.program(), new_order("A-NEW"))))[
        "id"
    ]
    a_change = (
        await raise_request(
            api, w.token("A"), change_input(w.conversion("A", 0), {"orderValue": "90.00"})
        )
    )["id"]
    assert (await decide(api, w.token("adv1"), a_change))["userErrors"] == []
    b_change = (
        await raise_request(
            api, w.token("B"), change_input(w.conversion("B", 0), {"device": "tablet"})
        )
    )["id"]
    for token, body, visibility in (("B", "shared by B", "SHARED"), ("adv1", SECRET, "INTERNAL")):
        posted = await mutate(
            api,
            COMMENT,
            "commentOnConversionRequest",
            {"requestId": b_change, "body": body, "visibility": visibility},
            w.token(token),
        )
        assert posted["userErrors"] == []
    c_new = (
        await raise_request(
            api, w.token("C"), create_input(w.program("p2"), new_order("C-NEW", orderValue="5000"))
        )
    )["id"]
    await api.drain_jobs()
    return Scene(w, a_new, a_change, b_change, c_new)


def ids(data: dict[str, Any]) -> set[str]:
    return {n["id"] for n in data["conversionRequests"]["nodes"]}


async def test_partner_lists_only_its_own_requests(api: Api, engine: AsyncEngine) -> None:
    s = await scene(api, engine)
    w = s.w

    everything = await api.data(LIST, {}, token=w.token("A"))
    other_partner = await api.data(
        LIST, {"filter": {"partnerIds": [w.partner("B")]}}, token=w.token("A")
    )
    both = await api.data(
        LIST, {"filter": {"partnerIds": [w.partner("A"), w.partner("B")]}}, token=w.token("A")
    )
    other_program = await api.data(
        LIST, {"filter": {"programIds": [w.program("p2")]}}, token=w.token("A")
    )
    by_order = await api.data(LIST, {"filter": {"orderId": "B-0"}}, token=w.token("A"))

    assert ids(everything) == {s.a_new, s.a_change}
    assert everything["conversionRequests"]["totalCount"] == 2
    assert {n["partner"]["id"] for n in everything["conversionRequests"]["nodes"]} == {
        w.partner("A")
    }
    assert ids(other_partner) == set() and other_partner["conversionRequests"]["totalCount"] == 0
    assert ids(both) == {s.a_new, s.a_change} and both["conversionRequests"]["totalCount"] == 2
    assert ids(other_program) == set() and other_program["conversionRequests"]["totalCount"] == 0
    assert ids(by_order) == set() and by_order["conversionRequests"]["totalCount"] == 0
    assert SECRET not in json.dumps(everything)


@pytest.mark.parametrize("viewer", ["A", "C", "adv2"])
async def test_another_scope_reads_like_a_missing_request(
    api: Api, engine: AsyncEngine, viewer: str
) -> None:
    s = await scene(api, engine)
    token = s.w.token(viewer)

    for query, variables, key in (
        (ONE, {"id": s.b_change}, "conversionRequest"),
        (ONE, {"id": MISSING}, "conversionRequest"),
        (NODE, {"id": s.b_change}, "node"),
        (NODE, {"id": MISSING}, "node"),
    ):
        body = await api.query(query, variables, token=token)
        assert body.get("errors") is None, body
        assert body["data"][key] is None, (query, body)

    nodes = await api.data(NODES, {"ids": [s.b_change, MISSING]}, token=token)
    assert nodes["nodes"] == [None, None]


async def test_nodes_mixes_own_and_foreign_requests(api: Api, engine: AsyncEngine) -> None:
    s = await scene(api, engine)

    nodes = await api.data(
        NODES, {"ids": [s.b_change, s.a_new, s.c_new, s.a_change]}, token=s.w.token("A")
    )

    assert nodes["nodes"] == [
        None,
        {"id": s.a_new, "partner": {"id": s.w.partner("A")}},
        None,
        {"id": s.a_change, "partner": {"id": s.w.partner("A")}},
    ]


async def test_nested_fields_of_an_own_request(api: Api, engine: AsyncEngine) -> None:
    s = await scene(api, engine)

    own = (await api.data(ONE, {"id": s.a_change}, token=s.w.token("A")))["conversionRequest"]
    node = (await api.data(NODE, {"id": s.a_change}, token=s.w.token("A")))["node"]

    assert own["partner"] == {"id": s.w.partner("A"), "name": "Cashback Club"}
    assert own["program"] == {"id": s.w.program()}
    assert own["conversion"] == {"id": s.w.conversion("A", 0), "orderId": "A-0"}
    assert node["conversion"] == {"id": s.w.conversion("A", 0)}


async def test_partner_never_sees_internal_comments(api: Api, engine: AsyncEngine) -> None:
    s = await scene(api, engine)

    by_b = (await api.data(ONE, {"id": s.b_change}, token=s.w.token("B")))["conversionRequest"]
    via_node = (await api.data(NODE, {"id": s.b_change}, token=s.w.token("B")))["node"]
    listed = await api.data(LIST, {}, token=s.w.token("B"))
    by_advertiser = (await api.data(ONE, {"id": s.b_change}, token=s.w.token("adv1")))[
        "conversionRequest"
    ]

    assert by_b["comments"] == {
        "totalCount": 1,
        "nodes": [{"body": "shared by B", "visibility": "SHARED"}],
    }
    assert via_node["comments"]["nodes"] == [{"body": "shared by B", "visibility": "SHARED"}]
    assert SECRET not in json.dumps(listed)
    assert [c["body"] for c in by_advertiser["comments"]["nodes"]] == ["shared by B", SECRET]


async def test_internal_comment_id_reads_like_nothing(api: Api, engine: AsyncEngine) -> None:
    s = await scene(api, engine)
    internal = (await api.data(ONE, {"id": s.b_change}, token=s.w.token("adv1")))[
        "conversionRequest"
    ]
    # the RequestComment ids of the thread: the INTERNAL one is the second
    comments = await api.data(
        "query($id: ID!) { conversionRequest(id: $id) { comments { nodes { id visibility } } } }",
        {"id": s.b_change},
        token=s.w.token("adv1"),
    )
    internal_id = next(
        c["id"]
        for c in comments["conversionRequest"]["comments"]["nodes"]
        if c["visibility"] == "INTERNAL"
    )
    assert decode_id(internal_id)[0] == "RequestComment" and internal["id"] == s.b_change

    body = await api.query(
        "query($id: ID!) { node(id: $id) { id } }", {"id": internal_id}, token=s.w.token("B")
    )

    assert SECRET not in json.dumps(body)
    assert (body.get("data") or {}).get("node") is None


async def test_advertiser_sees_only_its_programs_requests(api: Api, engine: AsyncEngine) -> None:
    s = await scene(api, engine)
    w = s.w

    adv1 = await api.data(LIST, {}, token=w.token("adv1"))
    adv2 = await api.data(LIST, {}, token=w.token("adv2"))
    adv1_naming_p2 = await api.data(
        LIST, {"filter": {"programIds": [w.program("p2")]}}, token=w.token("adv1")
    )
    admin = await api.data(LIST, {}, token=w.token("admin"))

    assert ids(adv1) == {s.a_new, s.a_change, s.b_change}
    assert ids(adv2) == {s.c_new} and adv2["conversionRequests"]["totalCount"] == 1
    assert adv1_naming_p2["conversionRequests"]["totalCount"] == 0
    assert ids(admin) == {s.a_new, s.a_change, s.b_change, s.c_new}
    assert (await api.data(ONE, {"id": s.c_new}, token=w.token("adv1")))[
        "conversionRequest"
    ] is None


async def test_decision_outside_the_scope_reads_like_a_missing_request(
    api: Api, engine: AsyncEngine
) -> None:
    s = await scene(api, engine)

    foreign = await decide(api, s.w.token("adv1"), s.c_new)
    missing = await decide(api, s.w.token("adv1"), MISSING)
    preview_foreign = await mutate(
        api, PREVIEW, "previewConversionRequest", {"requestId": s.b_change}, s.w.token("A")
    )
    preview_missing = await mutate(
        api, PREVIEW, "previewConversionRequest", {"requestId": MISSING}, s.w.token("A")
    )
    comment_foreign = await mutate(
        api,
        COMMENT,
        "commentOnConversionRequest",
        {"requestId": s.b_change, "body": "hi"},
        s.w.token("A"),
    )

    assert foreign == missing
    assert foreign["conversionRequest"] is None
    assert [(e["code"], e["field"]) for e in foreign["userErrors"]] == [
        ("NOT_FOUND", ["input", "requestId"])
    ]
    assert preview_foreign == preview_missing
    assert [e["code"] for e in preview_foreign["userErrors"]] == ["NOT_FOUND"]
    assert [e["code"] for e in comment_foreign["userErrors"]] == ["NOT_FOUND"]
    assert (await api.data(ONE, {"id": s.c_new}, token=s.w.token("adv2")))["conversionRequest"][
        "id"
    ] == s.c_new


async def test_partner_cannot_decide_or_retry(api: Api, engine: AsyncEngine) -> None:
    s = await scene(api, engine)
    await execute(
        engine,
        update(conversion_requests)
        .where(conversion_requests.c.id == decode_id(s.a_change)[1])
        .values(status="FAILED", failure="something broke", processed_at=None),
    )

    for decision, note in (("ACCEPT", None), ("REJECT", "RETURNED")):
        refused = await decide(api, s.w.token("A"), s.a_new, decision, note=note)
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
            ("PERMISSION_DENIED", ["input", "requestId"])
        ]
    bulk = await mutate(
        api,
        DECIDE_MANY,
        "decideConversionRequests",
        {"decisions": [{"requestId": s.a_new, "decision": "ACCEPT"}]},
        s.w.token("A"),
    )
    assert [e["code"] for e in bulk["results"][0]["userErrors"]] == ["PERMISSION_DENIED"]
    retry = await mutate(
        api, RETRY, "retryConversionRequest", {"requestId": s.a_change}, s.w.token("A")
    )
    assert [(e["code"], e["field"]) for e in retry["userErrors"]] == [
        ("PERMISSION_DENIED", ["input", "requestId"])
    ]

    statuses = await api.data(
        "query($ids: [ID!]!) { nodes(ids: $ids) { ... on ConversionRequest { status } } }",
        {"ids": [s.a_new, s.a_change]},
        token=s.w.token("A"),
    )
    assert statuses["nodes"] == [{"status": "INQUIRED"}, {"status": "FAILED"}]
