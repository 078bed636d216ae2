"""SPEC §6: the paths of a conversion request through the API — create, preview, accept and
process; change an existing conversion; reject; withdraw; self-acceptance; failure and retry."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import rows
from portal.adapters.tables import conversion_revisions, conversions, programs
from portal.adapters.unit_of_work import UnitOfWork
from portal.demo_data import insert_conversion
from tests.api.request_helpers import (
    PREVIEW,
    RETRY,
    WITHDRAW,
    change_input,
    create_input,
    decide,
    detail,
    execute,
    give_partner_split_model,
    mutate,
    new_order,
    raise_request,
    request_world,
)
from tests.conftest import Api


async def test_create_new_preview_accept_processed(api: Api, engine: AsyncEngine) -> None:
    # given a request of partner A for an order the tracking missed
    w = await request_world(engine)
    request = await raise_request(
        api,
        w.token("A"),
        create_input(
            w.program(), new_order("MISSED-1", orderValue="200.00"), comment="tracking missed it"
        ),
    )
    assert request["commission"] == {"amount": "10.00", "currency": "EUR"}
    assert request["commissionModelName"] == "default"

    # when the advertiser previews the saved request
    preview = await mutate(
        api, PREVIEW, "previewConversionRequest", {"requestId": request["id"]}, w.token("adv1")
    )

    # then every field goes from nothing to its value, with the rated commission
    assert preview["userErrors"] == []
    changes = {c["field"]: (c["from"], c["to"]) for c in preview["preview"]["changes"]}
    assert changes["orderId"] == (None, "MISSED-1")
    assert changes["conversionTarget"] == (None, "SALE_NEW_CUSTOMER")
    assert changes["trackingCategory"] == (None, "default")
    assert changes["orderValue"] == (None, "200.00")
    assert changes["commission"] == (None, "10.00")
    assert changes["status"] == (None, "OPEN")
    assert changes["commissionModelName"] == (None, "default")
    assert changes["trackingTime"][0] is None
    assert datetime.fromisoformat(changes["trackingTime"][1]) == datetime(2026, 6, 1, 8, tzinfo=UTC)
    assert preview["preview"]["commission"] == {"amount": "10.00", "currency": "EUR"}
    assert preview["preview"]["commissionModelName"] == "default"

    # when the advertiser accepts and the job runs
    decided = await decide(api, w.token("adv1"), request["id"])
    assert decided["userErrors"] == []
    assert decided["conversionRequest"]["status"] == "ACCEPTED"
    await api.drain_jobs()

    # then the conversion exists, rated as previewed, with a REQUEST revision naming the request
    found = await detail(api, w.token("A"), request["id"])
    assert found is not None
    assert found["status"] == "PROCESSED" and found["processedAt"] is not None
    conversion = found["conversion"]
    assert conversion["orderId"] == "MISSED-1"
    assert conversion["commission"] == {"amount": "10.00", "currency": "EUR"}
    assert conversion["commissionModelName"] == "default"
    assert conversion["orderValue"] == {"amount": "200.00", "currency": "EUR"}
    assert [(h["source"], h["requestId"]) for h in conversion["history"]] == [
        ("REQUEST", request["id"])
    ]
    assert [e["status"] for e in found["history"]] == ["INQUIRED", "ACCEPTED", "PROCESSED"]


async def test_change_existing_target_rerates_with_the_relationship_model(
    api: Api, engine: AsyncEngine
) -> None:
    # given partner A works under a model that rates existing customers lower (5 % → 2 %)
    w = await request_world(engine)
    await give_partner_split_model(engine, w.world)
    conversion = w.conversion("A", 0)  # 100.00 EUR, SALE_NEW_CUSTOMER, commission 5.00
    request = await raise_request(
        api, w.token("A"), change_input(conversion, {"conversionTarget": "SALE_EXISTING_CUSTOMER"})
    )
    assert request["commission"] == {"amount": "2.00", "currency": "EUR"}
    assert request["commissionModelName"] == "split"

    # when previewed
    preview = await mutate(
        api, PREVIEW, "previewConversionRequest", {"requestId": request["id"]}, w.token("adv1")
    )

    # then the target goes old → new and the commission is the revised one
    assert preview["userErrors"] == []
    changes = {c["field"]: (c["from"], c["to"]) for c in preview["preview"]["changes"]}
    assert changes["conversionTarget"] == ("SALE_NEW_CUSTOMER", "SALE_EXISTING_CUSTOMER")
    assert changes["commission"] == ("5.00", "2.00")
    assert changes["commissionModelName"] == ("default", "split")
    assert "orderId" not in changes and "orderValue" not in changes
    assert preview["preview"]["commission"] == {"amount": "2.00", "currency": "EUR"}

    # when accepted and processed
    assert (await decide(api, w.token("adv1"), request["id"]))["userErrors"] == []
    await api.drain_jobs()

    # then the conversion changed, and its history names the request
    found = await detail(api, w.token("A"), request["id"])
    assert found is not None and found["status"] == "PROCESSED"
    changed = found["conversion"]
    assert changed["id"] == conversion
    assert changed["conversionTarget"] == "SALE_EXISTING_CUSTOMER"
    assert changed["commission"] == {"amount": "2.00", "currency": "EUR"}
    assert changed["commissionModelName"] == "split"
    assert [(h["source"], h["requestId"]) for h in changed["history"]] == [
        ("TRACKING", None),
        ("REQUEST", request["id"]),
    ]
    last = {c["field"]: (c["from"], c["to"]) for c in changed["history"][-1]["changes"]}
    assert last["conversionTarget"] == ("SALE_NEW_CUSTOMER", "SALE_EXISTING_CUSTOMER")


async def test_reject_with_a_conversion_note(api: Api, engine: AsyncEngine) -> None:
    # given an INQUIRED request
    w = await request_world(engine)
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order()))

    # when the advertiser rejects it with a note
    rejected = await decide(api, w.token("adv1"), request["id"], "REJECT", note="RETURNED")

    # then it is REJECTED with the note, and no conversion was created
    assert rejected["userErrors"] == []
    r = rejected["conversionRequest"]
    assert r["status"] == "REJECTED"
    assert r["decision"]["conversionNote"] == "RETURNED" and r["decision"]["reason"] is None
    assert r["decision"]["decidedBy"]["name"] == "adv1"
    await api.drain_jobs()
    found = await detail(api, w.token("A"), request["id"])
    assert found is not None and found["status"] == "REJECTED" and found["conversion"] is None


async def test_reject_with_only_a_reason(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order()))

    rejected = await decide(
        api, w.token("admin"), request["id"], "REJECT", reason="  no such order in our shop "
    )

    assert rejected["userErrors"] == []
    assert rejected["conversionRequest"]["status"] == "REJECTED"
    assert rejected["conversionRequest"]["decision"]["reason"] == "no such order in our shop"
    assert rejected["conversionRequest"]["decision"]["conversionNote"] is None


async def test_reject_without_note_or_reason_is_refused(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order()))

    for reason in (None, "   "):
        refused = await decide(api, w.token("adv1"), request["id"], "REJECT", reason=reason)
        assert refused["conversionRequest"] is None
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
            ("REASON_REQUIRED", ["input", "reason"])
        ]

    found = await detail(api, w.token("adv1"), request["id"])
    assert found is not None and found["status"] == "INQUIRED" and found["decision"] is None


async def test_author_withdraws(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order()))

    withdrawn = await mutate(
        api, WITHDRAW, "withdrawConversionRequest", {"requestId": request["id"]}, w.token("A")
    )

    assert withdrawn["userErrors"] == []
    assert withdrawn["conversionRequest"] == {"id": request["id"], "status": "WITHDRAWN"}
    # The order is free again: a new request for it is allowed.
    await raise_request(api, w.token("A"), create_input(w.program(), new_order()))


async def test_withdraw_by_someone_else_is_permission_denied(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order()))

    for other in ("adv1", "admin"):
        refused = await mutate(
            api, WITHDRAW, "withdrawConversionRequest", {"requestId": request["id"]}, w.token(other)
        )
        assert refused["conversionRequest"] is None
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
            ("PERMISSION_DENIED", ["input", "requestId"])
        ]

    found = await detail(api, w.token("A"), request["id"])
    assert found is not None and found["status"] == "INQUIRED"


async def test_self_acceptance_needs_the_program_setting(api: Api, engine: AsyncEngine) -> None:
    # given an admin raised a request for partner A
    w = await request_world(engine)
    request = await raise_request(
        api, w.token("admin"), create_input(w.program(), new_order(), partnerId=w.partner("A"))
    )
    assert request["partner"]["id"] == w.partner("A")

    # when the same admin accepts it
    refused = await decide(api, w.token("admin"), request["id"])

    # then it is refused: somebody else must decide
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("SELF_DECISION_NOT_ALLOWED", ["input", "requestId"])
    ]
    assert (await detail(api, w.token("admin"), request["id"]))["status"] == "INQUIRED"  # type: ignore[index]

    # when the program allows self-acceptance
    await execute(
        engine,
        update(programs)
        .where(programs.c.id == w.world.ids["p1"])
        .values(allow_self_acceptance=True),
    )
    accepted = await decide(api, w.token("admin"), request["id"])

    # then the same user may accept it
    assert accepted["userErrors"] == []
    assert accepted["conversionRequest"]["status"] == "ACCEPTED"
    await api.drain_jobs()


async def test_failed_processing_is_kept_and_retry_processes(api: Api, engine: AsyncEngine) -> None:
    # given an accepted request whose order became a conversion meanwhile (after validation;
    # inserted before the decision because the in-process job starts right after it)
    w = await request_world(engine)
    request = await raise_request(api, w.token("A"), create_input(w.program(), new_order("RACE-1")))
    async with UnitOfWork(engine) as uow:
        program = rows.program(
            await uow.first(select(programs).where(programs.c.id == w.world.ids["p1"]))
        )  # type: ignore[arg-type]
        racing = await insert_conversion(
            uow,
            program,
            w.world.ids["A"],
            "RACE-1",
            datetime(2026, 6, 1, 8, tzinfo=UTC),
            Decimal("50.00"),
        )
        await uow.commit()
    assert (await decide(api, w.token("adv1"), request["id"]))["userErrors"] == []

    # when the job runs
    await api.drain_jobs()

    # then the request is FAILED with the error kept
    failed = await detail(api, w.token("adv1"), request["id"])
    assert failed is not None
    assert failed["status"] == "FAILED"
    assert failed["failure"]
    assert failed["conversion"] is None

    # when the obstacle is gone and a decider retries
    await execute(
        engine,
        delete(conversion_revisions).where(conversion_revisions.c.conversion_id == racing),
        delete(conversions).where(conversions.c.id == racing),
    )
    retried = await mutate(
        api, RETRY, "retryConversionRequest", {"requestId": request["id"]}, w.token("adv1")
    )
    assert retried["userErrors"] == []
    assert retried["conversionRequest"]["status"] == "ACCEPTED"
    assert retried["conversionRequest"]["failure"] is None
    await api.drain_jobs()

    # then it is PROCESSED with the accepted rating
    done = await detail(api, w.token("adv1"), request["id"])
    assert done is not None
    assert done["status"] == "PROCESSED" and done["failure"] is None
    assert done["conversion"]["orderId"] == "RACE-1"
    assert done["conversion"]["commission"]["amount"] == "10.00"
    assert [h["source"] for h in done["conversion"]["history"]] == ["REQUEST"]
