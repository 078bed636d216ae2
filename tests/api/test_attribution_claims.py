"""Attribution claims (issue 9, defect 13; issue 10, finding 8): a partner raising a CREATE_NEW
request for an order tracked for another partner — as the claiming partner (it learns nothing
about the order or other partners' requests), as the current partner of the conversion (it
sees the conversion go, not who took it) and as the advertiser (it sees competing claims
against the conversion; accepting one settles the order)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversions, relationships
from portal.adapters.unit_of_work import UnitOfWork
from portal.demo_data import add_model, set_relationship
from portal.domain.access import Role
from portal.services import setup
from tests.api.request_helpers import (
    PREVIEW,
    TRACKED_AT,
    RequestWorld,
    change_input,
    create,
    create_input,
    decide,
    detail,
    execute,
    mutate,
    new_order,
    raise_request,
    request_world,
)
from tests.conftest import Api
from tests.factories import ADMIN, token_for

CLAIM_FIELDS = """
  id kind status commission { amount currency } commissionModelName
  requested { orderId orderValue }
  conversion { id } claimedConversion { id partner { id } commission { amount } }
  competingRequests { id partner { id } }
  preview { changes { field from to } commission { amount } }
  history { status fromStatus note actor { name } }
  decision { reason }
"""
CREATE_CLAIM = f"""
mutation Create($input: CreateConversionRequestInput!) {{
  createConversionRequest(input: $input) {{
    conversionRequest {{ {CLAIM_FIELDS} }} userErrors {{ field code message }}
  }}
}}"""
CLAIM = f"query Claim($id: ID!) {{ conversionRequest(id: $id) {{ {CLAIM_FIELDS} }} }}"
CONVERSION = """
query Conversion($id: ID!) {
  conversion(id: $id) {
    id orderId partner { id } commission { amount } commissionModelName subIds
    history { number source requestId changes { field from to } }
  }
}"""
REASSIGNMENTS = """
{
  conversionReassignments(first: 10) {
    totalCount
    nodes {
      id orderId conversionTarget previousCommission { amount currency } reassignedAt
      fromPartner { id } toPartner { id } conversion { id } requestId program { name }
    }
  }
}"""
PARTNER_CONVERSIONS = "{ conversions(first: 50) { nodes { id orderId } } }"


@pytest.fixture
async def w(engine: AsyncEngine) -> RequestWorld:
    """build_world (A and B promote program 1; B-0…B-2 are B's tracked orders) with partner D
    promoting it too, and A rated at 8 % (the others at 5 %), so a move shows in the
    commission."""
    world = await request_world(engine)
    async with UnitOfWork(engine) as uow:
        d = await setup.create_partner(
            uow, ADMIN, name="Deal Hunter", payout_currency="EUR", country="DE"
        )
        await set_relationship(uow, d.id, world.world.ids["p1"], world.world.ids["m1"])
        world.world.ids["D"] = d.id
        world.world.tokens["D"] = await token_for(
            uow, "d@partner.test", Role.PARTNER, partner_id=d.id
        )
        premium = await add_model(
            uow,
            world.world.ids["p1"],
            "premium",
            datetime(2026, 1, 1, tzinfo=UTC),
            Decimal("8"),
            None,
        )
        await uow.execute(
            update(relationships)
            .where(
                relationships.c.partner_id == world.world.ids["A"],
                relationships.c.program_id == world.world.ids["p1"],
            )
            .values(commission_model_id=premium)
        )
        await uow.commit()
    return world


async def claim(api: Api, w: RequestWorld, who: str, order_id: str, **extra: Any) -> Any:
    payload = (
        await api.data(
            CREATE_CLAIM,
            {"input": create_input(w.program(), new_order(order_id, **extra))},
            token=w.token(who),
        )
    )["createConversionRequest"]
    return payload


async def read(api: Api, w: RequestWorld, who: str, request_id: str) -> Any:
    return (await api.data(CLAIM, {"id": request_id}, token=w.token(who)))["conversionRequest"]


def without(value: Any, *texts: str) -> Any:
    """`value` with ids and order ids blanked, to compare two answers' shapes and values."""
    if isinstance(value, dict):
        return {k: without(v, *texts) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [without(v, *texts) for v in value]
    if isinstance(value, str):
        for text in texts:
            value = value.replace(text, "<order>")
    return value


# -- as the claiming partner: nothing to learn ----------------------------------------------


async def test_raising_and_previewing_a_claim_reads_like_an_order_nobody_has(
    api: Api, w: RequestWorld
) -> None:
    """ORDER_ALREADY_CONVERTED used to tell A that another partner had the order."""
    tracked_for_b, unknown = "B-0", "NOBODY-1"

    previews = [
        await mutate(
            api,
            PREVIEW,
            "previewConversionRequest",
            {"draft": create_input(w.program(), new_order(order_id))},
            w.token("A"),
        )
        for order_id in (tracked_for_b, unknown)
    ]
    raised = [
        await create(api, w.token("A"), create_input(w.program(), new_order(order_id)))
        for order_id in (tracked_for_b, unknown)
    ]
    assert raised[0]["userErrors"] == raised[1]["userErrors"] == [], raised
    read_back = [
        await detail(api, w.token("A"), payload["conversionRequest"]["id"]) for payload in raised
    ]

    assert previews[0]["userErrors"] == raised[0]["userErrors"] == []
    for answers in (previews, raised, read_back):
        assert without(answers[0], tracked_for_b, unknown) == without(
            answers[1], tracked_for_b, unknown
        )
    assert read_back[0] is not None and read_back[0]["status"] == "INQUIRED"
    assert read_back[0]["conversion"] is None


async def test_the_claimant_sees_no_claimed_conversion_nor_competitors(
    api: Api, w: RequestWorld
) -> None:
    await claim(api, w, "D", "B-0")
    request = (await claim(api, w, "A", "B-0"))["conversionRequest"]

    assert request["claimedConversion"] is None and request["conversion"] is None
    assert request["competingRequests"] == []
    changes = request["preview"]["changes"]
    assert all(c["from"] is None for c in changes)  # a creation, as for an order nobody has
    assert {"field": "partner", "from": None, "to": w.partner("A")} in changes


async def test_another_partners_open_request_for_the_order_is_not_revealed(
    api: Api, w: RequestWorld
) -> None:
    """OPEN_REQUEST_EXISTS used to tell A that B had asked for the same order."""
    await raise_request(api, w.token("B"), create_input(w.program(), new_order("MISSED-9")))

    payload = await create(api, w.token("A"), create_input(w.program(), new_order("MISSED-9")))

    assert payload["userErrors"] == []
    assert payload["conversionRequest"]["status"] == "INQUIRED"
    # Its own second request for the order is refused as before.
    again = await create(api, w.token("A"), create_input(w.program(), new_order("MISSED-9")))
    assert [e["code"] for e in again["userErrors"]] == ["OPEN_REQUEST_EXISTS"]


async def test_an_order_the_partner_has_already_is_named_to_it(api: Api, w: RequestWorld) -> None:
    payload = await create(api, w.token("A"), create_input(w.program(), new_order("A-0")))

    [error] = payload["userErrors"]
    assert error["code"] == "ORDER_ALREADY_CONVERTED"
    assert w.conversion("A", 0) in error["message"]
    assert "is already conversion" not in error["message"]  # the old typo


# -- as the advertiser: a claim against the current partner's conversion -------------------


async def test_the_advertiser_sees_competing_claims_against_the_conversion(
    api: Api, w: RequestWorld
) -> None:
    by_a = (await claim(api, w, "A", "B-0"))["conversionRequest"]
    by_d = (await claim(api, w, "D", "B-0"))["conversionRequest"]

    seen = await read(api, w, "adv1", by_a["id"])

    assert seen["claimedConversion"]["id"] == w.conversion("B", 0)
    assert seen["claimedConversion"]["partner"]["id"] == w.partner("B")
    assert seen["conversion"]["id"] == w.conversion("B", 0)
    assert [r["id"] for r in seen["competingRequests"]] == [by_d["id"]]
    changes = {c["field"]: (c["from"], c["to"]) for c in seen["preview"]["changes"]}
    assert changes["partner"] == (w.partner("B"), w.partner("A"))
    assert changes["commission"] == ("5.00", "8.00")  # B-0 is 100.00, A is rated at 8 %
    assert changes["commissionModelName"] == ("default", "premium")
    # Each partner still sees its own request only.
    assert (await read(api, w, "D", by_d["id"]))["competingRequests"] == []
    assert await read(api, w, "A", by_d["id"]) is None


async def test_accepting_a_claim_moves_the_conversion_and_rejects_the_competing_ones(
    api: Api, w: RequestWorld
) -> None:
    by_a = (await claim(api, w, "A", "B-0", subIds=["a-click"]))["conversionRequest"]
    by_d = (await claim(api, w, "D", "B-0"))["conversionRequest"]
    change_by_b = await raise_request(
        api, w.token("B"), change_input(w.conversion("B", 0), {"orderValue": "90.00"})
    )

    decided = await decide(api, w.token("adv1"), by_a["id"])
    assert decided["userErrors"] == []
    await api.drain_jobs()

    # The competing claim was settled at once by the acceptance, by the system.
    competing = await read(api, w, "D", by_d["id"])
    assert competing["status"] == "REJECTED"
    assert competing["history"][-1] == {
        "status": "REJECTED",
        "fromStatus": "INQUIRED",
        "note": "another request for this order was accepted",
        "actor": None,
    }
    # The claim was processed: the conversion is A's now, rated under A's relationship.
    processed = await read(api, w, "A", by_a["id"])
    assert processed["status"] == "PROCESSED"
    assert processed["conversion"]["id"] == w.conversion("B", 0)
    moved = (await api.data(CONVERSION, {"id": w.conversion("B", 0)}, token=w.token("A")))[
        "conversion"
    ]
    assert moved["partner"]["id"] == w.partner("A")
    assert (moved["commission"]["amount"], moved["commissionModelName"]) == ("8.00", "premium")
    assert moved["subIds"][0] == "a-click"
    # A's history of it starts with the move: nothing of B's time shows.
    [revision] = moved["history"]
    assert revision["source"] == "REQUEST" and revision["requestId"] == by_a["id"]
    assert all(c["from"] is None for c in revision["changes"])
    assert w.partner("B") not in str(moved)
    # B's open change request on the conversion no longer applies.
    change = (await api.data(CLAIM, {"id": change_by_b["id"]}, token=w.token("B")))[
        "conversionRequest"
    ]
    assert change["status"] == "REJECTED"
    assert change["decision"]["reason"] == "the conversion was reassigned to another partner"


async def test_the_current_partner_sees_its_conversion_go_but_not_who_took_it(
    api: Api, w: RequestWorld
) -> None:
    by_a = (await claim(api, w, "A", "B-0"))["conversionRequest"]
    await decide(api, w.token("adv1"), by_a["id"])
    await api.drain_jobs()

    as_b = await api.data(PARTNER_CONVERSIONS, token=w.token("B"))
    assert "B-0" not in [c["orderId"] for c in as_b["conversions"]["nodes"]]
    gone = (await api.data(REASSIGNMENTS, token=w.token("B")))["conversionReassignments"]
    assert gone["totalCount"] == 1
    [seen_by_b] = gone["nodes"]
    assert seen_by_b["orderId"] == "B-0"
    assert seen_by_b["previousCommission"] == {"amount": "5.00", "currency": "EUR"}
    assert seen_by_b["fromPartner"]["id"] == w.partner("B")
    assert seen_by_b["toPartner"] is None  # not who claimed it
    assert seen_by_b["conversion"] is None and seen_by_b["requestId"] is None
    assert (await api.data(CONVERSION, {"id": w.conversion("B", 0)}, token=w.token("B")))[
        "conversion"
    ] is None

    as_advertiser = (await api.data(REASSIGNMENTS, token=w.token("adv1")))[
        "conversionReassignments"
    ]["nodes"]
    assert as_advertiser[0]["toPartner"]["id"] == w.partner("A")
    assert as_advertiser[0]["requestId"] == by_a["id"]
    assert as_advertiser[0]["conversion"]["id"] == w.conversion("B", 0)
    # Neither the claimant nor an unrelated partner or advertiser sees B's loss.
    for who in ("A", "D", "C", "adv2"):
        other = (await api.data(REASSIGNMENTS, token=w.token(who)))["conversionReassignments"]
        assert other["totalCount"] == 0, who
    node = "query($id: ID!) { node(id: $id) { id } }"
    gid = seen_by_b["id"]
    assert (await api.data(node, {"id": gid}, token=w.token("B")))["node"] == {"id": gid}
    assert (await api.data(node, {"id": gid}, token=w.token("A")))["node"] is None


async def test_a_rejected_claim_changes_nothing(api: Api, w: RequestWorld) -> None:
    by_a = (await claim(api, w, "A", "B-0"))["conversionRequest"]

    rejected = await decide(api, w.token("adv1"), by_a["id"], "REJECT", reason="tracked for B")
    await api.drain_jobs()

    assert rejected["conversionRequest"]["status"] == "REJECTED"
    still = (await api.data(CONVERSION, {"id": w.conversion("B", 0)}, token=w.token("B")))[
        "conversion"
    ]
    assert still["partner"]["id"] == w.partner("B") and still["commission"]["amount"] == "5.00"
    assert len(still["history"]) == 1
    gone = await api.data(REASSIGNMENTS, token=w.token("B"))
    assert gone["conversionReassignments"]["totalCount"] == 0


async def test_a_claim_of_a_paid_conversion_cannot_be_accepted(
    api: Api, w: RequestWorld, engine: AsyncEngine
) -> None:
    await execute(
        engine,
        update(conversions)
        .where(conversions.c.id == w.conversion_pk("B", 0))
        .values(payout_entry_id=1),
    )
    by_a = await claim(api, w, "A", "B-0")
    assert by_a["userErrors"] == []  # A is told nothing, not even that it is paid

    accepted = await decide(api, w.token("adv1"), by_a["conversionRequest"]["id"])

    assert [e["code"] for e in accepted["userErrors"]] == ["CONVERSION_PAID"]


async def test_a_claim_of_an_order_tracked_meanwhile_moves_it_on_processing(
    api: Api, w: RequestWorld, engine: AsyncEngine
) -> None:
    """A plain CREATE_NEW accepted before tracking records the order for B: processing finds
    the order B's and moves it, as for a claim raised knowingly."""
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order("LATE")))
    await execute(
        engine,
        update(conversions)
        .where(conversions.c.id == w.conversion_pk("B", 1))
        .values(order_id="LATE"),
    )
    await decide(api, w.token("adv1"), request["id"])
    await api.drain_jobs()

    done = await read(api, w, "A", request["id"])
    assert done["status"] == "PROCESSED"
    assert done["conversion"]["id"] == w.conversion("B", 1)


async def test_tracking_time_of_a_claim_is_the_partners_statement_only(
    api: Api, w: RequestWorld
) -> None:
    """What A states (value, time) is shown to the advertiser; the order's tracked values stay."""
    by_a = (await claim(api, w, "A", "B-0", orderValue="999.00", trackingTime=TRACKED_AT))[
        "conversionRequest"
    ]
    assert by_a["requested"]["orderValue"] == "999.00"
    await decide(api, w.token("adv1"), by_a["id"])
    await api.drain_jobs()

    moved = (await api.data(CONVERSION, {"id": w.conversion("B", 0)}, token=w.token("adv1")))[
        "conversion"
    ]
    assert moved["commission"]["amount"] == "8.00"  # 8 % of the tracked 100.00, not of 999.00


# -- requests raised before tracking records the order ------------------------------------

RECORD_LATE = """
mutation Record($input: RecordOrdersInput!) {
  recordOrders(input: $input) {
    results { conversion { id partner { id } } userErrors { code } }
    userErrors { code }
  }
}"""


async def track(api: Api, w: RequestWorld, order_id: str, partner: str) -> str:
    """Tracking records `order_id` (a sale of 100.00, in the window of `partner`'s cookie)
    through the API, as the advertiser's shop does; answers the conversion's id."""
    order = {
        "programId": w.program(),
        "orderId": order_id,
        "trackingTime": "2026-06-01T12:00:00+00:00",
        "orderValue": "100.00",
        "touchpoints": [
            {"kind": "COOKIE", "partnerId": w.partner(partner), "at": "2026-06-01T11:00:00+00:00"}
        ],
    }
    payload = (await api.data(RECORD_LATE, {"input": {"orders": [order]}}, token=w.token("adv1")))[
        "recordOrders"
    ]
    [result] = payload["results"]
    assert result["userErrors"] == [] and result["conversion"]["partner"]["id"] == w.partner(
        partner
    ), payload
    return str(result["conversion"]["id"])


async def test_a_request_raised_before_tracking_becomes_a_claim_when_another_partner_gets_it(
    api: Api, w: RequestWorld
) -> None:
    """A asks for an order tracking missed; then tracking records it for B. The advertiser must
    see A's request as a claim against B's conversion (not as a creation that would silently
    move B's conversion on processing), D's request beside it; A still learns nothing."""
    by_a = (await claim(api, w, "A", "LATE-1"))["conversionRequest"]
    by_d = (await claim(api, w, "D", "LATE-1"))["conversionRequest"]
    assert by_a["claimedConversion"] is None  # nobody has the order yet

    tracked = await track(api, w, "LATE-1", "B")

    seen = await read(api, w, "adv1", by_a["id"])
    assert seen["claimedConversion"] is not None, seen
    assert seen["claimedConversion"]["id"] == tracked
    assert seen["claimedConversion"]["partner"]["id"] == w.partner("B")
    assert seen["conversion"]["id"] == tracked
    assert [r["id"] for r in seen["competingRequests"]] == [by_d["id"]]
    changes = {c["field"]: (c["from"], c["to"]) for c in seen["preview"]["changes"]}
    assert changes["partner"] == (w.partner("B"), w.partner("A"))
    # The claimant is told nothing about B's conversion.
    as_a = await read(api, w, "A", by_a["id"])
    assert as_a["claimedConversion"] is None and as_a["conversion"] is None
    assert as_a["competingRequests"] == []
    assert all(c["from"] is None for c in as_a["preview"]["changes"])

    # Accepting settles the order and processing moves B's conversion to A.
    assert (await decide(api, w.token("adv1"), by_a["id"]))["userErrors"] == []
    await api.drain_jobs()
    assert (await read(api, w, "D", by_d["id"]))["status"] == "REJECTED"
    done = await read(api, w, "A", by_a["id"])
    assert done["status"] == "PROCESSED" and done["conversion"]["id"] == tracked
    moved = (await api.data(CONVERSION, {"id": tracked}, token=w.token("A")))["conversion"]
    assert moved["partner"]["id"] == w.partner("A")


async def test_a_claim_raised_before_tracking_of_a_paid_conversion_cannot_be_accepted(
    api: Api, w: RequestWorld, engine: AsyncEngine
) -> None:
    by_a = (await claim(api, w, "A", "LATE-2"))["conversionRequest"]
    tracked = await track(api, w, "LATE-2", "B")
    from portal.global_ids import decode_id

    await execute(
        engine,
        update(conversions)
        .where(conversions.c.id == decode_id(tracked)[1])
        .values(payout_entry_id=1),
    )

    accepted = await decide(api, w.token("adv1"), by_a["id"])

    assert [e["code"] for e in accepted["userErrors"]] == ["CONVERSION_PAID"]


async def test_a_request_raised_before_tracking_records_the_order_for_its_own_partner(
    api: Api, w: RequestWorld
) -> None:
    """Tracking recorded the order for the partner that asked for it: the request has nothing
    left to create. It is closed by the system, naming the conversion, and another partner's
    request for the order becomes a claim against it."""
    by_a = (await claim(api, w, "A", "LATE-3"))["conversionRequest"]
    by_d = (await claim(api, w, "D", "LATE-3"))["conversionRequest"]

    tracked = await track(api, w, "LATE-3", "A")

    closed = await read(api, w, "A", by_a["id"])
    assert closed["status"] == "REJECTED"
    assert closed["conversion"]["id"] == tracked
    assert closed["history"][-1]["fromStatus"] == "INQUIRED"
    assert closed["history"][-1]["actor"] is None  # the system
    assert "tracking recorded" in closed["decision"]["reason"]
    assert (await read(api, w, "adv1", by_d["id"]))["claimedConversion"]["id"] == tracked
