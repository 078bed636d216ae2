"""Webhooks through the API (issue 15), with the in-process queue, on SQLite and PostgreSQL:
a real local receiver checks every delivery's signature with an independent implementation
(the standardwebhooks package); each role receives only the events of what it may see."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_targets, events, webhook_deliveries
from portal.services.webhooks import prune_events
from tests.api.request_helpers import (
    COMMENT,
    UPDATE,
    WITHDRAW,
    create_input,
    decide,
    detail,
    execute,
    mutate,
    new_order,
    raise_request,
    request_world,
)
from tests.api.validation_helpers import validate
from tests.conftest import Api
from tests.webhook_receiver import Receiver, running_receiver

ERRORS = "userErrors { field code message }"
CREATE_ENDPOINT = f"""
mutation($input: CreateWebhookEndpointInput!) {{
  createWebhookEndpoint(input: $input) {{
    webhookEndpoint {{ id url eventTypes enabled description }} secret {ERRORS}
  }}
}}"""
UPDATE_ENDPOINT = f"""
mutation($input: UpdateWebhookEndpointInput!) {{
  updateWebhookEndpoint(input: $input) {{
    webhookEndpoint {{ id enabled disabledReason eventTypes }} {ERRORS}
  }}
}}"""
DELETE_ENDPOINT = f"""
mutation($input: WebhookEndpointInput!) {{
  deleteWebhookEndpoint(input: $input) {{ deletedEndpointId {ERRORS} }}
}}"""
ROTATE = f"""
mutation($input: WebhookEndpointInput!) {{
  rotateWebhookSecret(input: $input) {{ webhookEndpoint {{ id }} secret {ERRORS} }}
}}"""
SEND_TEST = f"""
mutation($input: WebhookEndpointInput!) {{
  sendTestWebhook(input: $input) {{ delivery {{ id eventId eventType status }} {ERRORS} }}
}}"""
REDELIVER = f"""
mutation($input: RedeliverWebhookEventInput!) {{
  redeliverWebhookEvent(input: $input) {{ delivery {{ id eventId status }} {ERRORS} }}
}}"""
ENDPOINTS = "{ webhookEndpoints { id url enabled disabledReason } }"
DELIVERIES = """
query($id: ID!) {
  webhookDeliveries(endpointId: $id) {
    eventId eventType status attemptCount deliveredAt
    attempts { statusCode durationMs error response }
  }
}"""
REQUEST_EVENTS = [
    "conversion_request.created",
    "conversion_request.updated",
    "conversion_request.commented",
    "conversion_request.decided",
    "conversion_request.processed",
    "conversion_request.failed",
    "conversion.recorded",
    "conversion.changed",
]

# The payload fields each role reads (frontend_contract/README.md, "Events"): a request's are
# the same for everyone; a conversion's breakdown is the advertiser's and the admins' only.
REQUEST_FIELDS = {
    "id", "status", "kind", "programId", "partnerId", "conversionId", "orderId", "commission",
    "currency", "decisionNote", "failure", "updatedAt",
}  # fmt: skip
CONVERSION_FIELDS = {
    "id", "programId", "partnerId", "orderId", "target", "status", "orderValue", "currency",
    "commission", "commissionModelName", "trackingTime", "changedFields",
}  # fmt: skip
ROLES = ("A", "B", "adv1", "adv2", "admin")


@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Receiver]:
    monkeypatch.setenv("PORTAL_WEBHOOKS_ALLOW_PRIVATE", "true")
    # The receiver answers at once, but it shares the test's event loop: on a loaded machine a
    # 1 s timeout cut some attempts off, and a cut attempt is retried minutes later (no test here
    # needs a short timeout; tests/integration/test_webhook_delivery.py tests hanging receivers).
    monkeypatch.setenv("PORTAL_WEBHOOKS_TIMEOUT_SECONDS", "10")
    async with running_receiver() as running:
        yield running


async def create_endpoint(
    api: Api, token: str, url: str, types: list[str] | None = None
) -> tuple[str, str]:
    payload = await mutate(
        api,
        CREATE_ENDPOINT,
        "createWebhookEndpoint",
        {"url": url, "eventTypes": types or REQUEST_EVENTS, "description": "tests"},
        token,
    )
    assert payload["userErrors"] == [], payload
    assert payload["secret"].startswith("whsec_")
    return payload["webhookEndpoint"]["id"], payload["secret"]


async def test_each_role_receives_signed_events_of_what_it_may_see(
    api: Api, engine: AsyncEngine, receiver: Receiver
) -> None:
    rw = await request_world(engine)
    secrets = {}
    for who in ("A", "B", "adv1", "adv2", "admin"):
        _, secrets[who] = await create_endpoint(api, rw.token(who), receiver.url(f"/{who}"))

    request = await raise_request(api, rw.token("A"), create_input(rw.program(), new_order()))
    for token, visibility, body in (
        (rw.token("A"), "SHARED", "please look"),
        (rw.token("adv1"), "INTERNAL", "the partner must never read this"),
        (rw.token("adv1"), "SHARED", "we will check"),
    ):
        commented = await mutate(
            api,
            COMMENT,
            "commentOnConversionRequest",
            {"requestId": request["id"], "body": body, "visibility": visibility},
            token,
        )
        assert commented["userErrors"] == [], commented
    decided = await decide(api, rw.token("adv1"), request["id"])
    assert decided["userErrors"] == []
    await api.drain_jobs()

    received = {who: receiver.verified(f"/{who}", secrets[who]) for who in secrets}
    # No ordering promise: deliveries run concurrently.
    mine = {
        e["type"]: e["data"]["status"]
        for e in received["A"]
        if e["data"].get("id") == request["id"]
    }
    assert mine == {
        "conversion_request.created": "INQUIRED",
        "conversion_request.decided": "ACCEPTED",
        "conversion_request.processed": "PROCESSED",
    }
    comments_to_a = {e["data"]["body"] for e in received["A"] if e["type"].endswith("commented")}
    assert comments_to_a == {"please look", "we will check"}  # never the INTERNAL one
    comments_to_adv1 = [
        e["data"]["body"] for e in received["adv1"] if e["type"].endswith("commented")
    ]
    assert "the partner must never read this" in comments_to_adv1
    recorded = [e for e in received["A"] if e["type"] == "conversion.recorded"]
    assert len(recorded) == 1 and recorded[0]["data"]["partnerId"] == rw.partner("A")
    assert "commissionBreakdown" not in recorded[0]["data"]  # hidden from partners
    # B works in the same program and C elsewhere: neither hears of A's request or conversion;
    # the other advertiser neither.
    assert received["B"] == [] and received["adv2"] == []
    adv_types = {e["type"] for e in received["adv1"]}
    assert {"conversion_request.created", "conversion.recorded"} <= adv_types
    assert "commissionBreakdown" in next(
        e["data"] for e in received["adv1"] if e["type"] == "conversion.recorded"
    )
    assert {e["id"] for e in received["admin"]} >= {e["id"] for e in received["adv1"]}
    # One event, one id for every receiver.
    a_ids = {e["id"] for e in received["A"] if e["data"].get("id") == request["id"]}
    assert len(a_ids) == 3 and a_ids <= {e["id"] for e in received["adv1"]}


async def test_a_change_that_rolls_back_records_no_event(
    api: Api, engine: AsyncEngine, receiver: Receiver
) -> None:
    rw = await request_world(engine)
    await create_endpoint(api, rw.token("A"), receiver.url("/A"))
    async with engine.connect() as conn:
        before = await conn.scalar(select(func.count()).select_from(events))
    refused = await mutate(
        api,
        COMMENT,
        "commentOnConversionRequest",
        {"requestId": rw.conversion("A"), "body": "x", "visibility": "SHARED"},
        rw.token("A"),
    )
    assert refused["userErrors"]
    # A request whose creation fails half-way (an unknown conversion note) rolls back whole.
    payload = await mutate(
        api,
        "mutation($input: CreateConversionRequestInput!) { createConversionRequest(input: "
        "$input) { conversionRequest { id } userErrors { code } } }",
        "createConversionRequest",
        create_input(rw.program(), new_order(conversionNote="NO-SUCH-NOTE")),
        rw.token("A"),
    )
    assert payload["userErrors"]
    await api.drain_jobs()
    async with engine.connect() as conn:
        after = await conn.scalar(select(func.count()).select_from(events))
    assert after == before
    assert receiver.received == []


async def test_endpoints_are_managed_by_their_owners_only(
    api: Api, engine: AsyncEngine, receiver: Receiver
) -> None:
    rw = await request_world(engine)
    a_endpoint, _ = await create_endpoint(api, rw.token("A"), receiver.url("/A"))
    adv_endpoint, _ = await create_endpoint(api, rw.token("adv1"), receiver.url("/adv1"))

    def ids(data: dict[str, Any]) -> set[str]:
        return {e["id"] for e in data["webhookEndpoints"]}

    assert ids(await api.data(ENDPOINTS, token=rw.token("A"))) == {a_endpoint}
    assert ids(await api.data(ENDPOINTS, token=rw.token("B"))) == set()
    assert ids(await api.data(ENDPOINTS, token=rw.token("adv1"))) == {adv_endpoint}
    assert ids(await api.data(ENDPOINTS, token=rw.token("adv2"))) == set()
    assert ids(await api.data(ENDPOINTS, token=rw.token("admin"))) == {a_endpoint, adv_endpoint}

    for who in ("B", "adv1", "adv2"):
        for query, name, extra in (
            (UPDATE_ENDPOINT, "updateWebhookEndpoint", {"enabled": False}),
            (ROTATE, "rotateWebhookSecret", {}),
            (SEND_TEST, "sendTestWebhook", {}),
            (DELETE_ENDPOINT, "deleteWebhookEndpoint", {}),
        ):
            payload = await mutate(
                api, query, name, {"endpointId": a_endpoint, **extra}, rw.token(who)
            )
            assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"], (who, name)
        body = await api.query(DELIVERIES, {"id": a_endpoint}, token=rw.token(who))
        assert body["data"] is None and body["errors"], who
    # No secret is ever listed; the admin manages anyone's endpoint.
    assert "secret" not in str(await api.data(ENDPOINTS, token=rw.token("admin")))
    disabled = await mutate(
        api,
        UPDATE_ENDPOINT,
        "updateWebhookEndpoint",
        {"endpointId": a_endpoint, "enabled": False},
        rw.token("admin"),
    )
    assert disabled["webhookEndpoint"]["enabled"] is False
    deleted = await mutate(
        api, DELETE_ENDPOINT, "deleteWebhookEndpoint", {"endpointId": a_endpoint}, rw.token("A")
    )
    assert deleted == {"deletedEndpointId": a_endpoint, "userErrors": []}
    assert ids(await api.data(ENDPOINTS, token=rw.token("A"))) == set()


async def test_bad_urls_and_event_types_are_coded_user_errors(
    api: Api, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rw = await request_world(engine)
    monkeypatch.delenv("PORTAL_WEBHOOKS_ALLOW_PRIVATE", raising=False)
    rec, url_field = ["conversion.recorded"], ["input", "url"]
    types_field = ["input", "eventTypes"]
    cases = [
        ("not a url", rec, "INVALID_URL", url_field),
        ("ftp://example.com/x", rec, "INVALID_URL", url_field),
        ("http://example.com/hook", rec, "INSECURE_URL", url_field),
        ("https://127.0.0.1/hook", rec, "REFUSED_URL", url_field),
        ("https://localhost:8443/", rec, "REFUSED_URL", url_field),
        ("https://10.1.2.3/", rec, "REFUSED_URL", url_field),
        ("https://192.168.0.10/", rec, "REFUSED_URL", url_field),
        ("https://169.254.169.254/latest", rec, "REFUSED_URL", url_field),
        ("https://[::1]/", rec, "REFUSED_URL", url_field),
        ("https://[::ffff:127.0.0.1]/", rec, "REFUSED_URL", url_field),
        ("https://user:pw@93.184.215.14/", rec, "INVALID_URL", url_field),
        ("https://93.184.215.14/", ["conversion.exploded"], "UNKNOWN_EVENT_TYPE", types_field),
        ("https://93.184.215.14/", [], "BLANK", types_field),
    ]  # fmt: skip
    for url, types, code, field in cases:
        payload = await mutate(
            api,
            CREATE_ENDPOINT,
            "createWebhookEndpoint",
            {"url": url, "eventTypes": types},
            rw.token("A"),
        )
        assert payload["webhookEndpoint"] is None and payload["secret"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, field)], url
    assert (await api.data(ENDPOINTS, token=rw.token("A")))["webhookEndpoints"] == []


async def test_refused_again_at_delivery_when_the_address_turns_private(
    api: Api, engine: AsyncEngine, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    rw = await request_world(engine)
    endpoint, _ = await create_endpoint(api, rw.token("A"), receiver.url("/A"))
    monkeypatch.delenv("PORTAL_WEBHOOKS_ALLOW_PRIVATE")
    sent = await mutate(api, SEND_TEST, "sendTestWebhook", {"endpointId": endpoint}, rw.token("A"))
    assert sent["userErrors"] == []
    await api.drain_jobs()
    assert receiver.received == []
    (delivery,) = (await api.data(DELIVERIES, {"id": endpoint}, token=rw.token("A")))[
        "webhookDeliveries"
    ]
    assert delivery["status"] == "PENDING" and delivery["attemptCount"] == 1
    (attempt,) = delivery["attempts"]
    assert attempt["statusCode"] is None and "https" in attempt["error"]


async def test_test_event_redelivery_and_rotation_keep_signatures_valid(
    api: Api, engine: AsyncEngine, receiver: Receiver
) -> None:
    rw = await request_world(engine)
    endpoint, secret = await create_endpoint(api, rw.token("adv1"), receiver.url("/adv1"))
    sent = await mutate(
        api, SEND_TEST, "sendTestWebhook", {"endpointId": endpoint}, rw.token("adv1")
    )
    assert sent["delivery"]["eventType"] == "webhook.test"
    await api.drain_jobs()
    (test_event,) = receiver.verified("/adv1", secret)
    assert test_event["type"] == "webhook.test" and test_event["id"] == sent["delivery"]["eventId"]

    rotated = await mutate(
        api, ROTATE, "rotateWebhookSecret", {"endpointId": endpoint}, rw.token("adv1")
    )
    new_secret = rotated["secret"]
    assert new_secret != secret and new_secret.startswith("whsec_")
    again = await mutate(
        api,
        REDELIVER,
        "redeliverWebhookEvent",
        {"endpointId": endpoint, "eventId": test_event["id"]},
        rw.token("adv1"),
    )
    assert again["userErrors"] == [] and again["delivery"]["eventId"] == test_event["id"]
    await api.drain_jobs()
    second = receiver.at("/adv1")[1]
    assert second.headers["webhook-id"] == test_event["id"]  # the same id: deduplicate on it
    assert second.body == receiver.at("/adv1")[0].body
    receiver.received.remove(receiver.at("/adv1")[0])
    assert receiver.verified("/adv1", new_secret)[0]["id"] == test_event["id"]
    with pytest.raises(Exception, match=r"(?i)signature"):
        receiver.verified("/adv1", secret)
    unknown = await mutate(
        api,
        REDELIVER,
        "redeliverWebhookEvent",
        {"endpointId": endpoint, "eventId": "evt_nope"},
        rw.token("adv1"),
    )
    assert [e["code"] for e in unknown["userErrors"]] == ["NOT_FOUND"]
    log = (await api.data(DELIVERIES, {"id": endpoint}, token=rw.token("adv1")))[
        "webhookDeliveries"
    ]
    assert [d["status"] for d in log] == ["DELIVERED", "DELIVERED"]
    assert log[0]["attempts"][0]["statusCode"] == 204


async def test_a_410_disables_the_endpoint_and_its_owner_sees_why(
    api: Api, engine: AsyncEngine, receiver: Receiver
) -> None:
    rw = await request_world(engine)
    endpoint, _ = await create_endpoint(api, rw.token("A"), receiver.url("/gone"))
    receiver.answers["/gone"] = 410
    await mutate(api, SEND_TEST, "sendTestWebhook", {"endpointId": endpoint}, rw.token("A"))
    await api.drain_jobs()
    (listed,) = (await api.data(ENDPOINTS, token=rw.token("A")))["webhookEndpoints"]
    assert listed["enabled"] is False and "410" in listed["disabledReason"]
    # Events after that are not sent to it.
    await raise_request(api, rw.token("A"), create_input(rw.program(), new_order()))
    await api.drain_jobs()
    assert len(receiver.at("/gone")) == 1
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(webhook_deliveries)) == 1


async def test_a_reassigned_conversion_tells_its_former_partner_but_not_who_claimed_it(
    api: Api, engine: AsyncEngine, receiver: Receiver
) -> None:
    rw = await request_world(engine)
    types = [*REQUEST_EVENTS, "conversion.reassigned"]
    secrets = {}
    for who in ROLES:
        _, secrets[who] = await create_endpoint(api, rw.token(who), receiver.url(f"/{who}"), types)
    claim = await raise_request(api, rw.token("A"), create_input(rw.program(), new_order("B-0")))
    decided = await decide(api, rw.token("adv1"), claim["id"])
    assert decided["userErrors"] == []
    await api.drain_jobs()
    got = {who: receiver.verified(f"/{who}", secrets[who]) for who in secrets}
    moved = rw.conversion("B", 0)

    (told,) = [e["data"] for e in got["B"] if e["type"] == "conversion.reassigned"]
    assert told["conversionId"] == moved and told["orderId"] == "B-0"
    assert "toPartnerId" not in told and "requestId" not in told
    # B hears nothing of A's claim, nor of the conversion once it is A's.
    assert {e["type"] for e in got["B"]} == {"conversion.reassigned"}
    assert all(claim["id"] not in json.dumps(e) for e in got["B"])
    # A sees the conversion as now its own, not the reassignment (which is B's history).
    assert "conversion.reassigned" not in {e["type"] for e in got["A"]}
    changed = [e["data"] for e in got["A"] if e["type"] == "conversion.changed"]
    assert [c["id"] for c in changed] == [moved] and changed[0]["partnerId"] == rw.partner("A")
    for who in ("adv1", "admin"):
        (advertiser,) = [e["data"] for e in got[who] if e["type"] == "conversion.reassigned"]
        assert advertiser["toPartnerId"] == rw.partner("A"), who
    assert got["adv2"] == []  # another advertiser's program


async def test_amending_and_withdrawing_are_updates_for_the_request_s_readers_only(
    api: Api, engine: AsyncEngine, receiver: Receiver
) -> None:
    rw = await request_world(engine)
    secrets = {}
    for who in ("A", "B", "C", "adv1", "adv2", "admin"):
        _, secrets[who] = await create_endpoint(api, rw.token(who), receiver.url(f"/{who}"))
    request = await raise_request(api, rw.token("A"), create_input(rw.program(), new_order()))
    amended = await mutate(
        api,
        UPDATE,
        "updateConversionRequest",
        {"requestId": request["id"], "requested": {"orderValue": "250.00"}},
        rw.token("A"),
    )
    assert amended["userErrors"] == [], amended
    withdrawn = await mutate(
        api, WITHDRAW, "withdrawConversionRequest", {"requestId": request["id"]}, rw.token("A")
    )
    assert withdrawn["userErrors"] == []
    await api.drain_jobs()
    for who in ("A", "adv1", "admin"):
        updates = {
            e["data"]["status"]
            for e in receiver.verified(f"/{who}", secrets[who])
            if e["type"] == "conversion_request.updated"
        }
        assert updates == {"INQUIRED", "WITHDRAWN"}, who
    for who in ("B", "C", "adv2"):
        assert receiver.at(f"/{who}") == [], who


def _of_type(got: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in got if e["type"] == event_type]


async def test_a_failed_processing_reaches_the_request_s_readers_only(
    api: Api, engine: AsyncEngine, receiver: Receiver
) -> None:
    rw = await request_world(engine)
    secrets = {}
    for who in ROLES:
        _, secrets[who] = await create_endpoint(api, rw.token(who), receiver.url(f"/{who}"))
    request = await raise_request(api, rw.token("A"), create_input(rw.program(), new_order("F-1")))
    internal = "the partner must never read this"
    commented = await mutate(
        api,
        COMMENT,
        "commentOnConversionRequest",
        {"requestId": request["id"], "body": internal, "visibility": "INTERNAL"},
        rw.token("adv1"),
    )
    assert commented["userErrors"] == [], commented
    # The request's target is switched off after it was raised: applying it fails.
    await execute(
        engine,
        update(conversion_targets)
        .where(
            conversion_targets.c.program_id == rw.world.ids["p1"],
            conversion_targets.c.key == "SALE_NEW_CUSTOMER",
        )
        .values(active=False),
    )
    assert (await decide(api, rw.token("adv1"), request["id"]))["userErrors"] == []
    await api.drain_jobs()

    got = {who: receiver.verified(f"/{who}", secrets[who]) for who in ROLES}
    failed = {who: _of_type(got[who], "conversion_request.failed") for who in ROLES}
    for who in ("A", "adv1", "admin"):
        (event,) = failed[who]
        assert event["data"]["id"] == request["id"], who
        assert event["data"]["status"] == "FAILED", who
        assert "INACTIVE_TARGET" in event["data"]["failure"], who
    # One event, one id for every receiver.
    assert len({failed[who][0]["id"] for who in ("A", "adv1", "admin")}) == 1
    # B (a partner of the same program) and the other advertiser hear nothing of it at all.
    assert got["B"] == [] and got["adv2"] == []
    # The partner reads the documented fields, the failure as its API shows it, and nothing
    # internal anywhere in what it received.
    a_data = failed["A"][0]["data"]
    assert set(a_data) == REQUEST_FIELDS
    assert "commissionBreakdown" not in a_data
    shown = await detail(api, rw.token("A"), request["id"])
    assert shown is not None and a_data["failure"] == shown["failure"]
    assert all(internal not in json.dumps(e) for e in got["A"])
    assert internal in json.dumps(got["adv1"])  # the advertiser did hear of its comment


async def test_a_changed_conversion_reaches_its_partner_without_the_breakdown(
    api: Api, engine: AsyncEngine, receiver: Receiver
) -> None:
    rw = await request_world(engine)
    secrets = {}
    for who in ROLES:
        _, secrets[who] = await create_endpoint(api, rw.token(who), receiver.url(f"/{who}"))
    # The advertiser validates A's order A-0 (100.00 at 5 %) as confirmed at 300.00.
    validated = await validate(
        api,
        rw.token("adv1"),
        rw.program(),
        [{"orderId": "A-0", "status": "CONFIRMED", "orderValue": "300.00"}],
    )
    assert validated["userErrors"] == [], validated
    assert validated["results"][0]["outcome"] == "VALUE_CHANGED", validated
    await api.drain_jobs()

    got = {who: receiver.verified(f"/{who}", secrets[who]) for who in ROLES}
    changed = {who: _of_type(got[who], "conversion.changed") for who in ROLES}
    for who in ("A", "adv1", "admin"):
        (event,) = changed[who]
        data = event["data"]
        assert data["id"] == rw.conversion("A") and data["partnerId"] == rw.partner("A"), who
        assert (data["status"], data["orderValue"], data["commission"]) == (
            "CONFIRMED",
            "300.00",
            "15.00",
        ), who
        assert {"status", "orderValue", "commission"} <= set(data["changedFields"]), who
    assert len({changed[who][0]["id"] for who in ("A", "adv1", "admin")}) == 1
    # Neither the other partner of the program nor the other advertiser hears of it.
    assert got["B"] == [] and got["adv2"] == []
    # The partner's payload: the documented fields, never the advertiser's breakdown.
    assert set(changed["A"][0]["data"]) == CONVERSION_FIELDS
    for who in ("adv1", "admin"):
        assert set(changed[who][0]["data"]) == CONVERSION_FIELDS | {"commissionBreakdown"}, who
        assert changed[who][0]["data"]["commissionBreakdown"], who


async def test_a_pruned_event_leaves_the_delivery_log_and_cannot_be_redelivered(
    api: Api, engine: AsyncEngine, receiver: Receiver
) -> None:
    """Retention (portal.services.webhooks.prune_events): the log lists what is left, and
    redelivering a pruned event is the NOT_FOUND of an unknown one."""
    rw = await request_world(engine)
    endpoint, _ = await create_endpoint(api, rw.token("adv1"), receiver.url("/adv1"))
    sent = []
    for _ in range(2):
        payload = await mutate(
            api, SEND_TEST, "sendTestWebhook", {"endpointId": endpoint}, rw.token("adv1")
        )
        sent.append(payload["delivery"]["eventId"])
    await api.drain_jobs()
    old, recent = sent
    long_ago = datetime.now(UTC) - timedelta(days=91)
    async with engine.begin() as conn:
        await conn.execute(
            update(events)
            .where(events.c.event_key == old)
            .values(occurred_at=long_ago, dispatched_at=long_ago)
        )
    assert await prune_events(engine, 90) == 1

    log = (await api.data(DELIVERIES, {"id": endpoint}, token=rw.token("adv1")))[
        "webhookDeliveries"
    ]
    assert [(d["eventId"], d["status"]) for d in log] == [(recent, "DELIVERED")]
    for event_id, codes in ((old, ["NOT_FOUND"]), (recent, [])):
        again = await mutate(
            api,
            REDELIVER,
            "redeliverWebhookEvent",
            {"endpointId": endpoint, "eventId": event_id},
            rw.token("adv1"),
        )
        assert [e["code"] for e in again["userErrors"]] == codes, again
    await api.drain_jobs()
    assert [r.headers["webhook-id"] for r in receiver.at("/adv1")].count(recent) == 2
