"""Domain events and their webhook delivery rules (issue 15): the event types, the envelope
a receiver gets, what each role may read of a payload, the size limit, the retry schedule, the
Standard Webhooks signature, and which endpoint URLs are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from portal.domain.access import Role
from portal.domain.errors import DomainError

PAYLOAD_VERSION = 1

# The object each event type is about (its visibility decides who receives the event).
EVENT_TYPES: dict[str, str] = {
    "conversion_request.created": "conversion_request",
    "conversion_request.updated": "conversion_request",
    "conversion_request.commented": "comment",
    "conversion_request.decided": "conversion_request",
    "conversion_request.processed": "conversion_request",
    "conversion_request.failed": "conversion_request",
    "conversion.recorded": "conversion",
    "conversion.changed": "conversion",
    "conversion.reassigned": "conversion_reassignment",
    "import.finished": "job",
    "export.ready": "job",
    "billing_run.finished": "job",
    "payout_entry.confirmed": "payout_entry",
    "payout_entry.paid": "payout_entry",
    "advertiser_invoice.confirmed": "advertiser_invoice",
}
TEST_EVENT_TYPE = "webhook.test"

# Fields of a payload a role may not read although it may see the object.
_HIDDEN: dict[str, dict[Role, frozenset[str]]] = {
    # The partner sees its own commission, never the advertiser's order-level extras.
    "conversion.recorded": {Role.PARTNER: frozenset({"commissionBreakdown"})},
    "conversion.changed": {Role.PARTNER: frozenset({"commissionBreakdown"})},
    # The former partner learns its conversion moved, never who claimed it (nor the claim).
    "conversion.reassigned": {Role.PARTNER: frozenset({"toPartnerId", "requestId"})},
    # An advertiser sees a payout entry for its programs' lines; the entry's totals include
    # the partner's other programs.
    "payout_entry.confirmed": {Role.ADVERTISER: frozenset({"net", "vat", "gross"})},
    "payout_entry.paid": {Role.ADVERTISER: frozenset({"net", "vat", "gross"})},
}

MAX_RETENTION_DAYS = 36_500
"""The longest events retention (a century): beyond it the cut-off date leaves the calendar."""


def retention_problem(days: int) -> str | None:
    """Why `days` is no events retention (the setting, the CLI and the prune share it)."""
    if days < 1:
        return f"at least 1 (days), not {days}"
    if days > MAX_RETENTION_DAYS:
        return f"at most {MAX_RETENTION_DAYS:,} (days), not {days}"
    return None


PAYLOAD_LIMIT_BYTES = 64 * 1024
"""A body above this size is sent with its ids only (and a note saying so)."""

RESPONSE_KEPT_CHARS = 1000
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
    timedelta(hours=8),
)
"""The waits after each failed attempt: ten attempts over about 23.6 hours. After the last
the endpoint is disabled."""
JITTER = 0.1


def check_event_types(types: Iterable[str], field: tuple[str, ...]) -> list[str]:
    chosen = list(dict.fromkeys(types))
    if not chosen:
        raise DomainError("BLANK", "name at least one event type", field)
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise DomainError("UNKNOWN_EVENT_TYPE", f"unknown event type {unknown[0]!r}", field)
    return chosen


def new_event_key() -> str:
    return "evt_" + secrets.token_hex(16)


def new_secret() -> str:
    """`whsec_` + base64 of 24 random bytes (the Standard Webhooks secret format)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header: `v1,` + base64(HMAC-SHA256(key, id.timestamp.body))."""
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def visible_payload(event_type: str, role: Role, data: Mapping[str, Any]) -> dict[str, Any]:
    hidden = _HIDDEN.get(event_type, {}).get(role, frozenset())
    return {k: v for k, v in data.items() if k not in hidden}


def envelope(
    event_key: str, event_type: str, occurred_at: datetime, data: Mapping[str, Any]
) -> str:
    """The body a receiver gets. Above PAYLOAD_LIMIT_BYTES `data` keeps only its ids."""
    body = {
        "id": event_key,
        "type": event_type,
        "version": PAYLOAD_VERSION,
        "timestamp": occurred_at.isoformat(),
        "data": dict(data),
    }
    text = json.dumps(body, separators=(",", ":"), default=str)
    if len(text.encode()) <= PAYLOAD_LIMIT_BYTES:
        return text
    ids = {k: v for k, v in data.items() if k == "id" or k.endswith("Id")}
    body["data"] = {
        **ids,
        "truncated": True,
        "note": f"the payload exceeded {PAYLOAD_LIMIT_BYTES} bytes; read the object by its id",
    }
    return json.dumps(body, separators=(",", ":"), default=str)


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    delivered: bool
    disable: bool
    status_code: int | None


def outcome_of(status_code: int | None) -> AttemptOutcome:
    """2xx delivered; 410 Gone disables the endpoint; anything else (3xx included: redirects
    are not followed) is retried."""
    if status_code is not None and 200 <= status_code < 300:
        return AttemptOutcome(True, False, status_code)
    return AttemptOutcome(False, status_code == 410, status_code)


def next_attempt(attempts: int, now: datetime, rng: random.Random | None = None) -> datetime | None:
    """When to try again after `attempts` failed attempts; None once the schedule is over."""
    if attempts > len(RETRY_DELAYS):
        return None
    delay = RETRY_DELAYS[attempts - 1].total_seconds()
    jitter = (rng or random).uniform(-JITTER, JITTER)
    return now + timedelta(seconds=delay * (1 + jitter))


# -- endpoint URLs ----------------------------------------------------------------------------

_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}


def check_url_form(url: str, *, allow_private: bool) -> tuple[str, int]:
    """The host and port of a well-formed endpoint URL (https; http only with allow_private)."""
    field = ("url",)
    if len(url) > 2000:
        raise DomainError("INVALID_URL", "the URL is longer than 2000 characters", field)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise DomainError("INVALID_URL", "the URL is malformed", field) from None
    schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in schemes:
        raise DomainError(
            "INSECURE_URL" if parts.scheme == "http" else "INVALID_URL",
            "the URL must start with https://",
            field,
        )
    if not parts.hostname or parts.username or parts.password:
        raise DomainError("INVALID_URL", "the URL needs a host and no credentials", field)
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def refused_address(address: str) -> bool:
    """Loopback, private, link-local, cloud metadata and other non-public addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip in _METADATA
        or ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )
