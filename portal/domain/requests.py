"""Conversion requests (SPEC §6): the workflow, who may move a request where, and the checks
of requested values that need no database."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from portal.domain.access import Role, Viewer
from portal.domain.conversions import SUB_ID_COUNT, ConversionStatus
from portal.domain.errors import DomainError, ErrorCollector, PermissionDenied
from portal.domain.money import is_currency


class RequestKind(enum.Enum):
    CREATE_NEW = "CREATE_NEW"
    CHANGE_EXISTING = "CHANGE_EXISTING"


class RequestStatus(enum.Enum):
    INQUIRED = "INQUIRED"
    ACCEPTED = "ACCEPTED"
    PROCESSED = "PROCESSED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"
    WITHDRAWN = "WITHDRAWN"


class Decision(enum.Enum):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"


class CommentVisibility(enum.Enum):
    SHARED = "SHARED"
    INTERNAL = "INTERNAL"


OPEN_STATUSES = frozenset({RequestStatus.INQUIRED, RequestStatus.ACCEPTED, RequestStatus.FAILED})
FINAL_STATUSES = frozenset(
    {RequestStatus.PROCESSED, RequestStatus.REJECTED, RequestStatus.WITHDRAWN}
)

# How long a tracking time may lie in the future (clock skew between shop and portal).
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_TEXT = 2000


@dataclass(frozen=True, slots=True)
class RequestedValues:
    """What a request asks for. For CHANGE_EXISTING, None means 'leave as it is'."""

    order_id: str | None = None
    target: str | None = None
    category: str | None = None
    tracking_time: datetime | None = None
    order_value: Decimal | None = None
    currency: str | None = None
    status: ConversionStatus | None = None
    commission: Decimal | None = None
    sub_ids: tuple[str | None, ...] | None = None
    device: str | None = None
    conversion_note: str | None = None

    def merged_over(self, other: RequestedValues) -> RequestedValues:
        """These values where given, else `other`'s (an update of a saved request)."""
        changes = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if getattr(self, name) is not None
        }
        return replace(other, **changes)


# What a CHANGE_EXISTING request may change (all None: it changes nothing).
_CHANGEABLE = tuple(n for n in RequestedValues.__dataclass_fields__ if n != "order_id")


@dataclass(frozen=True, slots=True)
class ConversionRequest:
    id: int
    program_id: int
    partner_id: int
    kind: RequestKind
    status: RequestStatus
    conversion_id: int | None
    requested: RequestedValues
    comment: str | None
    commission: Decimal | None
    commission_currency: str | None
    commission_model_name: str | None
    commission_breakdown: dict[str, object] | None
    created_by: int
    created_at: datetime
    updated_at: datetime
    decided_by: int | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    decision_reason: str | None = None
    failure: str | None = None
    processed_at: datetime | None = None
    attempts: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


def check_values(kind: RequestKind, values: RequestedValues, now: datetime) -> None:
    """Checks needing no database; every error names its field (under `requested`)."""
    errors = ErrorCollector()
    f = "requested"
    if kind is RequestKind.CREATE_NEW:
        if values.order_id is None:
            errors.add("REQUIRED", "orderId is required to create a conversion", (f, "orderId"))
        if values.tracking_time is None:
            errors.add(
                "REQUIRED", "trackingTime is required to create a conversion", (f, "trackingTime")
            )
        if values.order_value is None:
            errors.add(
                "REQUIRED", "orderValue is required to create a conversion", (f, "orderValue")
            )
    elif all(getattr(values, n) is None for n in _CHANGEABLE):
        errors.add("NOTHING_TO_CHANGE", "the request changes nothing", (f,))
    if values.order_id is not None and not 1 <= len(values.order_id.strip()) <= 200:
        errors.add("INVALID_ORDER_ID", "an order id has 1–200 characters", (f, "orderId"))
    if values.tracking_time is not None:
        if values.tracking_time.tzinfo is None:
            errors.add("INVALID_TIME", "the tracking time needs a UTC offset", (f, "trackingTime"))
        elif values.tracking_time > now + FUTURE_TOLERANCE:
            errors.add(
                "FUTURE_TRACKING_TIME", "the tracking time lies in the future", (f, "trackingTime")
            )
    if values.order_value is not None and values.order_value < 0:
        errors.add("NEGATIVE_VALUE", "the order value must not be negative", (f, "orderValue"))
    if values.commission is not None and values.commission < 0:
        errors.add("NEGATIVE_VALUE", "the commission must not be negative", (f, "commission"))
    if values.currency is not None and not is_currency(values.currency):
        errors.add(
            "UNKNOWN_CURRENCY",
            f"{values.currency!r} is not an ISO 4217 currency code",
            (f, "currency"),
        )
    if values.sub_ids is not None:
        if len(values.sub_ids) > SUB_ID_COUNT:
            errors.add("TOO_MANY_SUB_IDS", f"at most {SUB_ID_COUNT} sub IDs", (f, "subIds"))
        for i, sub_id in enumerate(values.sub_ids):
            if sub_id is not None and len(sub_id) > 255:
                errors.add("TOO_LONG", "a sub ID has at most 255 characters", (f, "subIds", str(i)))
    if values.device is not None and len(values.device) > 32:
        errors.add("TOO_LONG", "a device has at most 32 characters", (f, "device"))
    errors.raise_if_any()


def check_comment(text: str | None, field: tuple[str, ...]) -> str | None:
    if text is None:
        return None
    cleaned = text.strip()
    if len(cleaned) > MAX_TEXT:
        raise DomainError("TOO_LONG", f"at most {MAX_TEXT} characters", field)
    return cleaned or None


# -- the workflow ----------------------------------------------------------------------------

_S = RequestStatus


def _require_status(
    request: ConversionRequest, allowed: frozenset[RequestStatus], action: str
) -> None:
    if request.status not in allowed:
        raise DomainError(
            "INVALID_STATE",
            f"the request is {request.status.value}; it cannot be {action}",
            ("requestId",),
        )


def check_may_decide(
    viewer: Viewer, request: ConversionRequest, allow_self_acceptance: bool
) -> None:
    """Deciders are admins and the program's advertiser users; nobody accepts a request they
    raised unless the program allows it."""
    if viewer.role is Role.PARTNER:
        raise PermissionDenied("partners cannot decide conversion requests", ("requestId",))
    if request.created_by == viewer.user_id and not allow_self_acceptance:
        raise DomainError(
            "SELF_DECISION_NOT_ALLOWED",
            "you raised this request; another user must decide it (the program does not allow "
            "self-acceptance)",
            ("requestId",),
        )


def check_decision(
    request: ConversionRequest, decision: Decision, note: str | None, reason: str | None
) -> None:
    _require_status(request, frozenset({_S.INQUIRED}), "decided")
    if decision is Decision.REJECT and not (note or (reason and reason.strip())):
        raise DomainError(
            "REASON_REQUIRED", "a rejection needs a conversion note or a reason", ("reason",)
        )


def status_after(decision: Decision) -> RequestStatus:
    return _S.ACCEPTED if decision is Decision.ACCEPT else _S.REJECTED


def check_may_change(viewer: Viewer, request: ConversionRequest, action: str) -> None:
    """Only the author changes or withdraws a request, and only while it is INQUIRED."""
    if request.created_by != viewer.user_id:
        raise PermissionDenied(f"only the author may {action} a request", ("requestId",))
    _require_status(
        request, frozenset({_S.INQUIRED}), f"{action}n" if action == "withdraw" else f"{action}d"
    )


def check_retry(viewer: Viewer, request: ConversionRequest) -> None:
    if viewer.role is Role.PARTNER:
        raise PermissionDenied("partners cannot retry processing", ("requestId",))
    _require_status(request, frozenset({_S.FAILED}), "retried")


def check_comment_visibility(viewer: Viewer, visibility: CommentVisibility) -> None:
    if viewer.role is Role.PARTNER and visibility is CommentVisibility.INTERNAL:
        raise PermissionDenied("partners write shared comments only", ("visibility",))
