"""SPEC §6: a request is validated when it is raised, and every error names its field; a request
moves only along the allowed transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversions, relationships, tracking_categories
from tests.api.request_helpers import (
    CREATE,
    RETRY,
    UPDATE,
    WITHDRAW,
    RequestWorld,
    change_input,
    codes_by_field,
    create,
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

MISSING_PK = 987_654


def only_error(payload: dict[str, Any]) -> tuple[str, list[str] | None, str]:
    assert payload["conversionRequest"] is None, payload
    assert len(payload["userErrors"]) == 1, payload["userErrors"]
    e = payload["userErrors"][0]
    return e["code"], e["field"], e["message"]


async def test_unknown_program_reads_as_not_found(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)

    # a program that does not exist, and one of another advertiser (A has no relationship)
    for program in (gid("Program", MISSING_PK), w.program("p2")):
        code, field, _ = only_error(
            await create(api, w.token("A"), create_input(program, new_order()))
        )
        assert (code, field) == ("NOT_FOUND", ["input", "programId"])


async def test_no_active_relationship(api: Api, engine: AsyncEngine) -> None:
    # given partner B's relationship with program 1 is paused
    w = await request_world(engine)
    await execute(
        engine,
        update(relationships)
        .where(
            relationships.c.partner_id == w.world.ids["B"],
            relationships.c.program_id == w.world.ids["p1"],
        )
        .values(status="PAUSED"),
    )

    # when B (or an admin for B) raises a request
    by_partner = await create(api, w.token("B"), create_input(w.program(), new_order()))
    by_admin = await create(
        api, w.token("admin"), create_input(w.program(), new_order(), partnerId=w.partner("B"))
    )

    # then it is refused, naming the program
    for payload in (by_partner, by_admin):
        code, field, _ = only_error(payload)
        assert (code, field) == ("NO_ACTIVE_RELATIONSHIP", ["input", "programId"])


async def test_create_new_for_an_order_already_converted(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)

    payload = await create(api, w.token("A"), create_input(w.program(), new_order("A-0")))

    code, field, message = only_error(payload)
    assert (code, field) == ("ORDER_ALREADY_CONVERTED", ["input", "requested", "orderId"])
    assert w.conversion("A", 0) in message


async def test_change_of_a_paid_conversion(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    await execute(
        engine,
        update(conversions)
        .where(conversions.c.id == w.conversion_pk("A", 0))
        .values(payout_entry_id=1),
    )

    payload = await create(
        api, w.token("A"), change_input(w.conversion("A", 0), {"orderValue": "80.00"})
    )

    code, field, message = only_error(payload)
    assert (code, field) == ("CONVERSION_PAID", ["input", "conversionId"])
    assert "A-0" in message


@pytest.mark.parametrize(
    ("requested", "code", "field"),
    [
        ({"orderValue": "-1.00"}, "NEGATIVE_VALUE", "orderValue"),
        ({"commission": "-0.01"}, "NEGATIVE_VALUE", "commission"),
        ({"trackingCategory": "garden"}, "UNKNOWN_CATEGORY", "trackingCategory"),
        ({"conversionTarget": "SUBSCRIPTION"}, "UNKNOWN_TARGET", "conversionTarget"),
        ({"trackingTime": "2099-01-01T00:00:00+00:00"}, "FUTURE_TRACKING_TIME", "trackingTime"),
        ({"orderId": "   "}, "BLANK", "orderId"),
        ({"conversionNote": "NO_SUCH_NOTE"}, "UNKNOWN_CONVERSION_NOTE", "conversionNote"),
        ({"status": "REJECTED"}, "NOTE_REQUIRED", "conversionNote"),
    ],
)
async def test_a_bad_value_names_its_field(
    api: Api, engine: AsyncEngine, requested: dict[str, Any], code: str, field: str
) -> None:
    w = await request_world(engine)

    payload = await create(api, w.token("A"), create_input(w.program(), new_order(**requested)))

    assert only_error(payload)[:2] == (code, ["input", "requested", field])


async def test_tracking_time_just_inside_the_clock_tolerance_is_accepted(
    api: Api, engine: AsyncEngine
) -> None:
    w = await request_world(engine)
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()

    await raise_request(api, w.token("A"), create_input(w.program(), new_order(trackingTime=soon)))


async def test_inactive_category(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    await execute(
        engine,
        insert(tracking_categories).values(
            program_id=w.world.ids["p1"], key="outlet", name="Outlet", active=False
        ),
    )

    payload = await create(
        api, w.token("A"), create_input(w.program(), new_order(trackingCategory="outlet"))
    )

    assert only_error(payload)[:2] == (
        "INACTIVE_CATEGORY",
        ["input", "requested", "trackingCategory"],
    )


async def test_unknown_currency_is_a_graphql_validation_error(
    api: Api, engine: AsyncEngine
) -> None:
    w = await request_world(engine)

    body = await api.query(
        CREATE, {"input": create_input(w.program(), new_order(currency="EURO"))}, token=w.token("A")
    )

    assert body.get("data") is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    assert "'EURO' is not an ISO 4217 currency code" in body["errors"][0]["message"]


async def test_every_missing_required_field_of_create_new_is_named(
    api: Api, engine: AsyncEngine
) -> None:
    w = await request_world(engine)

    payload = await create(api, w.token("A"), create_input(w.program(), {}))

    assert payload["conversionRequest"] is None
    assert codes_by_field(payload["userErrors"]) == {
        ("REQUIRED", ("input", "requested", "orderId")),
        ("REQUIRED", ("input", "requested", "trackingTime")),
        ("REQUIRED", ("input", "requested", "orderValue")),
        ("REQUIRED", ("input", "requested", "conversionTarget")),
    }


async def test_several_problems_are_reported_at_once(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)

    payload = await create(
        api,
        w.token("A"),
        create_input(
            w.program(),
            new_order(
                orderValue="-5",
                trackingTime="2099-01-01T00:00:00Z",
                trackingCategory="garden",
                conversionTarget="SUBSCRIPTION",
            ),
        ),
    )

    assert payload["conversionRequest"] is None
    assert codes_by_field(payload["userErrors"]) == {
        ("NEGATIVE_VALUE", ("input", "requested", "orderValue")),
        ("FUTURE_TRACKING_TIME", ("input", "requested", "trackingTime")),
        ("UNKNOWN_CATEGORY", ("input", "requested", "trackingCategory")),
        ("UNKNOWN_TARGET", ("input", "requested", "conversionTarget")),
    }


async def test_second_open_request_for_the_same_conversion(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    await raise_request(
        api, w.token("A"), change_input(w.conversion("A", 0), {"orderValue": "90.00"})
    )

    payload = await create(
        api, w.token("A"), change_input(w.conversion("A", 0), {"device": "mobile"})
    )

    assert only_error(payload)[:2] == ("OPEN_REQUEST_EXISTS", ["input", "conversionId"])


async def test_second_open_request_for_the_same_new_order(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    await raise_request(api, w.token("A"), create_input(w.program(), new_order("MISSED-7")))

    # the same order raised again — by the advertiser on A's behalf
    payload = await create(
        api,
        w.token("adv1"),
        create_input(w.program(), new_order("MISSED-7"), partnerId=w.partner("A")),
    )

    assert only_error(payload)[:2] == ("OPEN_REQUEST_EXISTS", ["input", "requested", "orderId"])


@pytest.mark.parametrize(
    "requested",
    [{}, {"conversionTarget": "SALE_NEW_CUSTOMER", "trackingCategory": "default"}],
    ids=["nothing given", "current values"],
)
async def test_change_that_changes_nothing(
    api: Api, engine: AsyncEngine, requested: dict[str, Any]
) -> None:
    w = await request_world(engine)

    payload = await create(api, w.token("A"), change_input(w.conversion("A", 0), requested))

    assert only_error(payload)[:2] == ("NOTHING_TO_CHANGE", ["input", "requested"])


@pytest.mark.parametrize(
    ("field", "value"),
    [("programId", "not-an-id"), ("programId", gid("Partner", 1)), ("partnerId", "%%%")],
)
async def test_malformed_ids_on_create(
    api: Api, engine: AsyncEngine, field: str, value: str
) -> None:
    w = await request_world(engine)
    input = create_input(w.program(), new_order(), partnerId=w.partner("A"))
    input[field] = value

    payload = await create(api, w.token("admin"), input)

    assert only_error(payload)[:2] == ("INVALID_ID", ["input", field])


async def test_malformed_ids_on_change_and_decide(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)

    changed = await create(api, w.token("A"), change_input(w.program(), {"orderValue": "1.00"}))
    decided = await decide(api, w.token("adv1"), "bm9wZQ==")

    assert only_error(changed)[:2] == ("INVALID_ID", ["input", "conversionId"])
    assert only_error(decided)[:2] == ("INVALID_ID", ["input", "requestId"])


# -- transitions ---------------------------------------------------------------------------


async def accepted_request(api: Api, w: RequestWorld, order_id: str = "MISSED-1") -> str:
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order(order_id)))
    assert (await decide(api, w.token("adv1"), request["id"]))["userErrors"] == []
    await api.drain_jobs()
    return str(request["id"])


async def test_deciding_twice_is_refused(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    request_id = await accepted_request(api, w)

    for decision, note in (("ACCEPT", None), ("REJECT", "RETURNED")):
        code, field, _ = only_error(
            await decide(api, w.token("admin"), request_id, decision, note=note)
        )
        assert code in ("INVALID_STATE", "ALREADY_DECIDED") and field == ["input", "requestId"]


async def test_withdraw_after_accept_is_refused(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    request_id = await accepted_request(api, w)

    payload = await mutate(
        api, WITHDRAW, "withdrawConversionRequest", {"requestId": request_id}, w.token("A")
    )

    assert only_error(payload)[:2] == ("INVALID_STATE", ["input", "requestId"])


async def test_update_after_decision_is_refused(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    request_id = await accepted_request(api, w)

    payload = await mutate(
        api,
        UPDATE,
        "updateConversionRequest",
        {"requestId": request_id, "requested": {"orderValue": "300.00"}},
        w.token("A"),
    )

    assert only_error(payload)[:2] == ("INVALID_STATE", ["input", "requestId"])


async def test_retry_of_a_request_that_did_not_fail_is_refused(
    api: Api, engine: AsyncEngine
) -> None:
    w = await request_world(engine)
    processed = await accepted_request(api, w)
    inquired = (
        await raise_request(api, w.token("A"), create_input(w.program(), new_order("MISSED-2")))
    )["id"]

    for request_id in (processed, inquired):
        payload = await mutate(
            api, RETRY, "retryConversionRequest", {"requestId": request_id}, w.token("adv1")
        )
        assert only_error(payload)[:2] == ("INVALID_STATE", ["input", "requestId"])
