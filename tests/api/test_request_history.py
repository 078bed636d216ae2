"""A request's history is append-only (issue 9, defect 9): every status move is kept with who
made it, when, from which status and why — a FAILED → retry → PROCESSED request keeps its
failure and shows who retried it, for the partner and the advertiser alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_targets
from tests.api.request_helpers import (
    RETRY,
    create_input,
    decide,
    execute,
    mutate,
    new_order,
    raise_request,
    request_world,
)
from tests.conftest import Api

STEPS = """
query Steps($id: ID!) {
  conversionRequest(id: $id) { status failure history { status at actor { name role } } }
}"""
HISTORY = """
query History($id: ID!) {
  conversionRequest(id: $id) {
    status failure
    history { status fromStatus at note actor { name role } }
  }
}"""


async def _target_active(engine: AsyncEngine, program_id: int, active: bool) -> None:
    await execute(
        engine,
        update(conversion_targets)
        .where(
            conversion_targets.c.program_id == program_id,
            conversion_targets.c.key == "SALE_NEW_CUSTOMER",
        )
        .values(active=active),
    )


async def test_a_retried_request_keeps_every_step_of_its_history(
    api: Api, engine: AsyncEngine
) -> None:
    w = await request_world(engine)
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order("R-1")))
    await _target_active(engine, w.world.ids["p1"], False)  # processing will fail
    await decide(api, w.token("adv1"), request["id"])
    await api.drain_jobs()
    await _target_active(engine, w.world.ids["p1"], True)
    retried = await mutate(
        api, RETRY, "retryConversionRequest", {"requestId": request["id"]}, w.token("admin")
    )
    assert retried["userErrors"] == []
    await api.drain_jobs()

    for who in ("A", "adv1"):
        steps: Any = (await api.data(STEPS, {"id": request["id"]}, token=w.token(who)))[
            "conversionRequest"
        ]
        assert [(h["status"], h["actor"] and h["actor"]["name"]) for h in steps["history"]] == [
            ("INQUIRED", "a"),
            ("ACCEPTED", "adv1"),
            ("FAILED", None),
            ("ACCEPTED", "admin"),  # who retried, and when
            ("PROCESSED", None),
        ], who
        found: Any = (await api.data(HISTORY, {"id": request["id"]}, token=w.token(who)))[
            "conversionRequest"
        ]
        assert found["status"] == "PROCESSED" and found["failure"] is None
        assert [h["fromStatus"] for h in found["history"]] == [
            None,
            "INQUIRED",
            "ACCEPTED",
            "FAILED",
            "ACCEPTED",
        ]
        failed = found["history"][2]
        assert "INACTIVE_TARGET" in failed["note"]  # the failure stays in the history
        times = [h["at"] for h in found["history"]]
        assert times == sorted(times)


async def test_a_withdrawal_and_a_rejection_name_who_and_why(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    withdrawn = await raise_request(api, w.token("A"), create_input(w.program(), new_order("W-1")))
    rejected = await raise_request(api, w.token("A"), create_input(w.program(), new_order("J-1")))
    await mutate(
        api,
        "mutation($input: WithdrawConversionRequestInput!) { withdrawConversionRequest("
        "input: $input) { userErrors { code } } }",
        "withdrawConversionRequest",
        {"requestId": withdrawn["id"]},
        w.token("A"),
    )
    await decide(api, w.token("adv1"), rejected["id"], "REJECT", reason="no such order")

    history = {}
    for request in (withdrawn, rejected):
        found = (await api.data(HISTORY, {"id": request["id"]}, token=w.token("A")))[
            "conversionRequest"
        ]
        history[request["id"]] = [
            (h["fromStatus"], h["status"], h["actor"]["name"], h["note"]) for h in found["history"]
        ]

    assert history[withdrawn["id"]][1:] == [("INQUIRED", "WITHDRAWN", "a", None)]
    assert history[rejected["id"]][1:] == [("INQUIRED", "REJECTED", "adv1", "no such order")]
