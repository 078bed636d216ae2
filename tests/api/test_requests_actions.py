"""SPEC §6: bulk decisions, previewing an unsaved draft, amending, idempotent creation and the
comment thread of a conversion request."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import (
    conversion_request_comments,
    conversion_requests,
    conversion_revisions,
    conversions,
    jobs,
)
from tests.api.request_helpers import (
    COMMENT,
    COMMENTS,
    DECIDE_MANY,
    PREVIEW,
    UPDATE,
    change_input,
    codes_by_field,
    count_rows,
    create,
    create_input,
    decide,
    detail,
    mutate,
    new_order,
    raise_request,
    request_world,
)
from tests.conftest import Api

WRITTEN = (
    conversion_requests,
    conversions,
    conversion_revisions,
    conversion_request_comments,
    jobs,
)


async def decide_many(api: Api, token: str, decisions: list[dict[str, Any]]) -> dict[str, Any]:
    return await mutate(
        api, DECIDE_MANY, "decideConversionRequests", {"decisions": decisions}, token
    )


async def test_bulk_decision_answers_each_decision_on_its_own(
    api: Api, engine: AsyncEngine
) -> None:
    # given two open requests of program 1, one decided already, and one of another advertiser
    w = await request_world(engine)
    good_accept = await raise_request(
        api, w.token("A"), create_input(w.program(), new_order("BULK-1"))
    )
    good_reject = await raise_request(
        api, w.token("B"), create_input(w.program(), new_order("BULK-2"))
    )
    decided = await raise_request(api, w.token("A"), create_input(w.program(), new_order("BULK-3")))
    assert (await decide(api, w.token("adv1"), decided["id"], "REJECT", reason="duplicate"))[
        "userErrors"
    ] == []
    foreign = await raise_request(
        api, w.token("C"), create_input(w.program("p2"), new_order("JP-1", orderValue="5000"))
    )

    # when advertiser 1 decides them all in one call, with a malformed id among them
    payload = await decide_many(
        api,
        w.token("adv1"),
        [
            {"requestId": good_accept["id"], "decision": "ACCEPT"},
            {"requestId": "garbage", "decision": "ACCEPT"},
            {"requestId": foreign["id"], "decision": "ACCEPT"},
            {"requestId": decided["id"], "decision": "ACCEPT"},
            {"requestId": good_reject["id"], "decision": "REJECT", "conversionNote": "RETURNED"},
        ],
    )
    await api.drain_jobs()

    # then there is one result per decision, in order; the good ones went through
    assert payload["userErrors"] == []
    results = payload["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["requestId"] for r in results] == [
        good_accept["id"],
        "garbage",
        foreign["id"],
        decided["id"],
        good_reject["id"],
    ]
    assert (
        results[0]["conversionRequest"]["status"] == "ACCEPTED" and results[0]["userErrors"] == []
    )
    assert (
        results[4]["conversionRequest"]["status"] == "REJECTED" and results[4]["userErrors"] == []
    )
    for index, code in ((1, "INVALID_ID"), (2, "NOT_FOUND"), (3, "INVALID_STATE")):
        assert results[index]["conversionRequest"] is None
        assert codes_by_field(results[index]["userErrors"]) == {
            (code, ("input", "decisions", str(index), "requestId"))
        }, results[index]

    assert (await detail(api, w.token("A"), good_accept["id"]))["status"] == "PROCESSED"  # type: ignore[index]
    assert (await detail(api, w.token("adv2"), foreign["id"]))["status"] == "INQUIRED"  # type: ignore[index]
    assert (await detail(api, w.token("A"), decided["id"]))["status"] == "REJECTED"  # type: ignore[index]


async def test_more_than_100_decisions_are_refused_as_a_whole(
    api: Api, engine: AsyncEngine
) -> None:
    w = await request_world(engine)
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order()))

    payload = await decide_many(
        api, w.token("adv1"), [{"requestId": request["id"], "decision": "ACCEPT"}] * 101
    )

    assert payload["results"] == []
    assert codes_by_field(payload["userErrors"]) == {("TOO_MANY_DECISIONS", ("input", "decisions"))}
    assert (await detail(api, w.token("A"), request["id"]))["status"] == "INQUIRED"  # type: ignore[index]


async def test_100_decisions_are_allowed(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order()))

    payload = await decide_many(
        api, w.token("adv1"), [{"requestId": request["id"], "decision": "ACCEPT"}] * 100
    )
    await api.drain_jobs()

    assert payload["userErrors"] == []
    assert len(payload["results"]) == 100
    assert payload["results"][0]["conversionRequest"]["status"] == "ACCEPTED"
    assert {e["code"] for r in payload["results"][1:] for e in r["userErrors"]} <= {
        "INVALID_STATE",
        "ALREADY_DECIDED",
    }
    assert all(r["userErrors"] for r in payload["results"][1:])


async def test_preview_of_a_draft_writes_nothing(api: Api, engine: AsyncEngine) -> None:
    # given
    w = await request_world(engine)
    before = await count_rows(engine, *WRITTEN)

    # when partner A previews a valid new order and a valid change
    new = await mutate(
        api,
        PREVIEW,
        "previewConversionRequest",
        {"draft": create_input(w.program(), new_order("DRAFT-1", orderValue="300.00"))},
        w.token("A"),
    )
    change = await mutate(
        api,
        PREVIEW,
        "previewConversionRequest",
        {"draft": change_input(w.conversion("A", 1), {"orderValue": "50.00"})},
        w.token("A"),
    )

    # then they show what would happen
    assert new["userErrors"] == []
    assert new["preview"]["commission"] == {"amount": "15.00", "currency": "EUR"}
    assert new["preview"]["commissionModelName"] == "default"
    assert {c["field"]: (c["from"], c["to"]) for c in new["preview"]["changes"]}["orderId"] == (
        None,
        "DRAFT-1",
    )
    assert change["userErrors"] == []
    changed = {c["field"]: (c["from"], c["to"]) for c in change["preview"]["changes"]}
    assert changed["orderValue"] == ("101.00", "50.00")
    assert changed["commission"] == ("5.05", "2.50")

    # and nothing was written — no request, conversion, revision, comment or job
    assert await count_rows(engine, *WRITTEN) == before
    listed = await api.data("{ conversionRequests { totalCount } }", token=w.token("A"))
    assert listed["conversionRequests"]["totalCount"] == 0


async def test_preview_of_a_bad_draft_names_the_draft_fields(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    before = await count_rows(engine, *WRITTEN)

    bad_values = await mutate(
        api,
        PREVIEW,
        "previewConversionRequest",
        {"draft": create_input(w.program(), new_order(orderValue="-1", conversionTarget="NOPE"))},
        w.token("A"),
    )
    converted = await mutate(
        api,
        PREVIEW,
        "previewConversionRequest",
        {"draft": create_input(w.program(), new_order("A-0"))},
        w.token("A"),
    )
    unknown_program = await mutate(
        api,
        PREVIEW,
        "previewConversionRequest",
        {"draft": create_input(w.program("p2"), new_order())},
        w.token("A"),
    )

    assert bad_values["preview"] is None
    assert codes_by_field(bad_values["userErrors"]) == {
        ("NEGATIVE_VALUE", ("input", "draft", "requested", "orderValue")),
        ("UNKNOWN_TARGET", ("input", "draft", "requested", "conversionTarget")),
    }
    assert codes_by_field(converted["userErrors"]) == {
        ("ORDER_ALREADY_CONVERTED", ("input", "draft", "requested", "orderId"))
    }
    assert codes_by_field(unknown_program["userErrors"]) == {
        ("NOT_FOUND", ("input", "draft", "programId"))
    }
    assert await count_rows(engine, *WRITTEN) == before


async def test_preview_needs_exactly_one_of_request_and_draft(
    api: Api, engine: AsyncEngine
) -> None:
    w = await request_world(engine)

    neither = await mutate(api, PREVIEW, "previewConversionRequest", {}, w.token("A"))

    assert neither["preview"] is None
    assert [e["code"] for e in neither["userErrors"]] == ["INVALID_INPUT"]


async def test_author_updates_an_inquired_request_and_it_is_rated_again(
    api: Api, engine: AsyncEngine
) -> None:
    # given
    w = await request_world(engine)
    request = await raise_request(
        api, w.token("A"), create_input(w.program(), new_order("UPD-1", orderValue="200.00"))
    )
    assert request["commission"]["amount"] == "10.00"

    # when the author changes the order value
    payload = await mutate(
        api,
        UPDATE,
        "updateConversionRequest",
        {"requestId": request["id"], "requested": {"orderValue": "300.00"}, "comment": "corrected"},
        w.token("A"),
    )

    # then it is re-rated, and what was not named stays
    assert payload["userErrors"] == []
    updated = payload["conversionRequest"]
    assert updated["status"] == "INQUIRED"
    assert updated["commission"] == {"amount": "15.00", "currency": "EUR"}
    assert updated["requested"]["orderValue"] == "300.00"
    assert updated["requested"]["orderId"] == "UPD-1"
    assert updated["requested"]["conversionTarget"] == "SALE_NEW_CUSTOMER"
    assert updated["comment"] == "corrected"


async def test_update_with_a_bad_value_changes_nothing(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order("UPD-2")))

    payload = await mutate(
        api,
        UPDATE,
        "updateConversionRequest",
        {"requestId": request["id"], "requested": {"orderValue": "-3"}},
        w.token("A"),
    )

    assert payload["conversionRequest"] is None
    assert codes_by_field(payload["userErrors"]) == {
        ("NEGATIVE_VALUE", ("input", "requested", "orderValue"))
    }
    found = await detail(api, w.token("A"), request["id"])
    assert (
        found is not None
        and found["requested"]["orderValue"] == "200.00"
        and found["commission"]["amount"] == "10.00"
    )


async def test_update_by_someone_else_is_permission_denied(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order("UPD-3")))

    payload = await mutate(
        api,
        UPDATE,
        "updateConversionRequest",
        {"requestId": request["id"], "requested": {"orderValue": "1.00"}},
        w.token("adv1"),
    )

    assert codes_by_field(payload["userErrors"]) == {("PERMISSION_DENIED", ("input", "requestId"))}


async def test_idempotency_key_answers_the_first_request(api: Api, engine: AsyncEngine) -> None:
    # given a request raised with a key
    w = await request_world(engine)
    first = await raise_request(
        api, w.token("A"), create_input(w.program(), new_order("IDEM-1"), idempotencyKey="k-1")
    )

    # when the same call is repeated
    again = await create(
        api, w.token("A"), create_input(w.program(), new_order("IDEM-1"), idempotencyKey="k-1")
    )

    # then the first request comes back, and only one exists
    assert again["userErrors"] == [] and again["conversionRequest"]["id"] == first["id"]
    assert (await count_rows(engine, conversion_requests))["conversion_requests"] == 1

    # and the same key of another user is that user's own
    by_b = await raise_request(
        api, w.token("B"), create_input(w.program(), new_order("IDEM-B"), idempotencyKey="k-1")
    )
    assert by_b["id"] != first["id"]


async def test_without_idempotency_key_a_repeat_is_an_open_request_error(
    api: Api, engine: AsyncEngine
) -> None:
    w = await request_world(engine)
    await raise_request(api, w.token("A"), create_input(w.program(), new_order("IDEM-3")))

    again = await create(api, w.token("A"), create_input(w.program(), new_order("IDEM-3")))

    assert [e["code"] for e in again["userErrors"]] == ["OPEN_REQUEST_EXISTS"]
    assert (await count_rows(engine, conversion_requests))["conversion_requests"] == 1


async def comment(
    api: Api, token: str, request_id: str, body: str, visibility: str | None = None
) -> dict[str, Any]:
    input = {"requestId": request_id, "body": body}
    if visibility:
        input["visibility"] = visibility
    return await mutate(api, COMMENT, "commentOnConversionRequest", input, token)


async def test_comment_thread(api: Api, engine: AsyncEngine) -> None:
    # given
    w = await request_world(engine)
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order()))

    # when partner and advertiser comment
    shared = await comment(api, w.token("A"), request["id"], " here is the invoice ")
    explicit = await comment(api, w.token("A"), request["id"], "and the receipt", "SHARED")
    internal_by_partner = await comment(api, w.token("A"), request["id"], "psst", "INTERNAL")
    internal = await comment(
        api, w.token("adv1"), request["id"], "looks like a returning customer", "INTERNAL"
    )
    answer = await comment(api, w.token("adv1"), request["id"], "we are checking", "SHARED")

    # then
    assert shared["userErrors"] == [] and shared["comment"]["body"] == "here is the invoice"
    assert (
        shared["comment"]["visibility"] == "SHARED" and shared["comment"]["author"]["name"] == "a"
    )
    assert explicit["userErrors"] == []
    assert internal_by_partner["comment"] is None
    assert codes_by_field(internal_by_partner["userErrors"]) == {
        ("PERMISSION_DENIED", ("input", "visibility"))
    }
    assert internal["userErrors"] == [] and internal["comment"]["visibility"] == "INTERNAL"
    assert answer["userErrors"] == []

    by_advertiser = (await api.data(COMMENTS, {"id": request["id"]}, token=w.token("adv1")))[
        "conversionRequest"
    ]["comments"]
    assert [c["body"] for c in by_advertiser["nodes"]] == [
        "here is the invoice",
        "and the receipt",
        "looks like a returning customer",
        "we are checking",
    ]
    assert by_advertiser["totalCount"] == 4
    by_partner = (await api.data(COMMENTS, {"id": request["id"]}, token=w.token("A")))[
        "conversionRequest"
    ]["comments"]
    assert [c["body"] for c in by_partner["nodes"]] == [
        "here is the invoice",
        "and the receipt",
        "we are checking",
    ]
    assert by_partner["totalCount"] == 3


async def test_blank_comment_is_refused(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order()))

    payload = await comment(api, w.token("A"), request["id"], "   ")

    assert codes_by_field(payload["userErrors"]) == {("BLANK", ("input", "body"))}
