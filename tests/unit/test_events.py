"""The webhook rules that need no database (issue 15): the signature against the Standard
Webhooks specification's example, the size limit, refused addresses, answers, the schedule."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from portal.domain.access import Role
from portal.domain.errors import DomainError
from portal.domain.events import (
    PAYLOAD_LIMIT_BYTES,
    RETRY_DELAYS,
    check_event_types,
    check_url_form,
    envelope,
    new_secret,
    next_attempt,
    outcome_of,
    refused_address,
    secret_bytes,
    sign,
    visible_payload,
)


def test_signature_matches_the_specification_example() -> None:
    # The example of the Standard Webhooks specification (and its reference libraries).
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        '{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_secrets_are_whsec_base64_of_24_random_bytes() -> None:
    a, b = new_secret(), new_secret()
    assert a != b and a.startswith("whsec_") and len(secret_bytes(a)) == 24


def test_a_large_payload_is_cut_to_its_ids_with_a_note() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    data = {
        "id": "Q29udmVyc2lvbjox",
        "programId": "UHJvZ3JhbTox",
        "body": "x" * PAYLOAD_LIMIT_BYTES,
    }
    body = json.loads(envelope("evt_1", "conversion_request.commented", at, data))
    assert body["data"]["truncated"] is True and "exceeded" in body["data"]["note"]
    assert body["data"]["id"] == data["id"] and body["data"]["programId"] == data["programId"]
    assert "body" not in body["data"]
    small = json.loads(envelope("evt_1", "conversion_request.commented", at, {"id": "x"}))
    assert small == {
        "id": "evt_1",
        "type": "conversion_request.commented",
        "version": 1,
        "timestamp": "2026-01-01T00:00:00+00:00",
        "data": {"id": "x"},
    }


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0.0.0.0", "::1",
     "fe80::1", "fd00:ec2::254", "::ffff:10.0.0.1", "100.64.0.1", "224.0.0.1"],
)  # fmt: skip
def test_non_public_addresses_are_refused(address: str) -> None:
    assert refused_address(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:85e5"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not refused_address(address)


def test_url_form() -> None:
    assert check_url_form("https://hooks.example.com/x", allow_private=False) == (
        "hooks.example.com",
        443,
    )
    assert check_url_form("http://127.0.0.1:9000/x", allow_private=True) == ("127.0.0.1", 9000)
    for url, code in [
        ("http://hooks.example.com", "INSECURE_URL"),
        ("https://", "INVALID_URL"),
        ("https://example.com:99999/", "INVALID_URL"),
        ("javascript:alert(1)", "INVALID_URL"),
    ]:
        with pytest.raises(DomainError) as refused:
            check_url_form(url, allow_private=False)
        assert refused.value.code == code and refused.value.field == ("url",)


def test_unknown_event_types_are_refused() -> None:
    assert check_event_types(["export.ready", "export.ready"], ("t",)) == ["export.ready"]
    with pytest.raises(DomainError) as refused:
        check_event_types(["export.ready", "conversion.deleted"], ("eventTypes",))
    assert refused.value.code == "UNKNOWN_EVENT_TYPE"


def test_answers() -> None:
    assert outcome_of(200).delivered and outcome_of(204).delivered
    assert outcome_of(410).disable and not outcome_of(410).delivered
    for status in (None, 301, 302, 400, 404, 429, 500, 503):
        assert not outcome_of(status).delivered and not outcome_of(status).disable


def test_schedule_is_about_a_day_and_jittered() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    total = sum(RETRY_DELAYS, timedelta())
    assert timedelta(hours=22) < total < timedelta(hours=26)
    rng = random.Random(7)
    waits = {next_attempt(1, now, rng) for _ in range(20)}
    assert len(waits) > 1  # jitter spreads receivers that failed together
    assert next_attempt(len(RETRY_DELAYS) + 1, now) is None


def test_partners_do_not_read_fields_hidden_from_them() -> None:
    data = {"id": "x", "commission": "1.00", "commissionBreakdown": {"rate": "5"}}
    assert "commissionBreakdown" not in visible_payload("conversion.recorded", Role.PARTNER, data)
    assert visible_payload("conversion.recorded", Role.ADVERTISER, data) == data
