"""Conversion requests (SPEC §6): the workflow, who may move a request where, and the checks
of requested values that need no database."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from portal.domain.access import Role, Viewer
from portal.domain.conversions import ConversionStatus
from portal.domain.errors import DomainError, ErrorCollector, PermissionDenied
from portal.domain.order_values import (
    MAX_DEVICE,
    MAX_NOTE_CODE,
    check_amount,
    check_currency,
    check_order_id,
    check_sub_ids,
    check_text,
    check_time,
)


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

MAX_TEXT = 2000


class Mover(enum.Enum):
    """Who moves a request: its AUTHOR, a DECIDER (an admin or a user of the program's
    advertiser) or the SYSTEM (processing; the settlement of an order by another request)."""

    AUTHOR = "AUTHOR"
    DECIDER = "DECIDER"
    SYSTEM = "SYSTEM"


_S = RequestStatus
_M = Mover
TRANSITIONS: dict[tuple[RequestStatus, RequestStatus], frozenset[Mover]] = {
    (_S.INQUIRED, _S.ACCEPTED): frozenset({_M.DECIDER}),
    # by the SYSTEM: another request for the same order was accepted, the conversion a
    # change request is about was reassigned to another partner, or tracking recorded the
    # order a CREATE_NEW request asks for as its own partner's conversion
    (_S.INQUIRED, _S.REJECTED): frozenset({_M.DECIDER, _M.SYSTEM}),
    (_S.INQUIRED, _S.WITHDRAWN): frozenset({_M.AUTHOR}),
    (_S.ACCEPTED, _S.PROCESSED): frozenset({_M.SYSTEM}),
    (_S.ACCEPTED, _S.FAILED): frozenset({_M.SYSTEM}),
    (_S.FAILED, _S.ACCEPTED): frozenset({_M.DECIDER}),  # a retry
}
"""Every move a request can make (SPEC §6), and who makes it. Each move is kept as an event."""


def describe_transitions() -> str:
    """The table in words, e.g. for the schema: "INQUIRED → ACCEPTED (decider) | …"."""
    parts = []
    for source in RequestStatus:
        moves = [
            f"{target.value} ({' or '.join(m.value.lower() for m in sorted(who, key=_order))})"
            for (start, target), who in TRANSITIONS.items()
            if start is source
        ]
        if moves:
            parts.append(f"{source.value} → {' | '.join(moves)}")
    return "; ".join(parts)


def _order(mover: Mover) -> int:
    return list(Mover).index(mover)


def check_move(current: RequestStatus, new: RequestStatus, mover: Mover, action: str) -> None:
    """Raise INVALID_STATE unless `mover` may move a request from `current` to `new`."""
    if mover not in TRANSITIONS.get((current, new), frozenset()):
        raise DomainError(
            "INVALID_STATE",
            f"the request is {current.value}; it cannot be {action}",
            ("requestId",),
        )


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


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """One move of a request's status, as kept: who (None: the system), when, from, to, and a
    note (the decision's reason, the failure)."""

    request_id: int
    from_status: RequestStatus | None  # None: the request was raised
    to_status: RequestStatus
    actor_user_id: int | None
    at: datetime
    note: str | None = None


def history_of(request: ConversionRequest, moves: list[RequestEvent]) -> list[RequestEvent]:
    """A request's history, oldest first: its raising (kept in the request itself), then every
    move, as kept."""
    raised = RequestEvent(
        request.id, None, RequestStatus.INQUIRED, request.created_by, request.created_at
    )
    return [raised, *moves]


def check_values(kind: RequestKind, values: RequestedValues, now: datetime) -> None:
    """Checks needing no database; every error names its field (under `requested`). The
    rules and codes are those of a recorded order (`portal.domain.order_values`)."""
    errors = ErrorCollector()
    f = "requested"
    if kind is RequestKind.CREATE_NEW:
        check_order_id(errors, values.order_id, (f, "orderId"))
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
    elif values.order_id is not None:
        check_order_id(errors, values.order_id, (f, "orderId"))
    if values.tracking_time is not None:
        check_time(errors, values.tracking_time, now, (f, "trackingTime"))
    if values.order_value is not None:
        check_amount(errors, values.order_value, (f, "orderValue"))
    if values.commission is not None:
        check_amount(errors, values.commission, (f, "commission"))
    if values.currency is not None:
        check_currency(errors, values.currency, (f, "currency"))
    if values.sub_ids is not None:
        check_sub_ids(errors, values.sub_ids, (f, "subIds"))
    if values.device is not None:
        check_text(errors, values.device, MAX_DEVICE, (f, "device"))
    if values.conversion_note is not None:
        check_text(errors, values.conversion_note, MAX_NOTE_CODE, (f, "conversionNote"))
    errors.raise_if_any()


def check_comment(text: str | None, field: tuple[str, ...]) -> str | None:
    if text is None:
        return None
    cleaned = text.strip()
    if len(cleaned) > MAX_TEXT:
        raise DomainError("TOO_LONG", f"at most {MAX_TEXT} characters", field)
    return cleaned or None


# -- the workflow ----------------------------------------------------------------------------


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
    check_move(request.status, status_after(decision), Mover.DECIDER, "decided")
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
    # An update keeps the status; the author may amend what it may still withdraw.
    check_move(
        request.status,
        _S.WITHDRAWN,
        Mover.AUTHOR,
        f"{action}n" if action == "withdraw" else f"{action}d",
    )


def check_retry(viewer: Viewer, request: ConversionRequest) -> None:
    if viewer.role is Role.PARTNER:
        raise PermissionDenied("partners cannot retry processing", ("requestId",))
    check_move(request.status, _S.ACCEPTED, Mover.DECIDER, "retried")


def check_comment_visibility(viewer: Viewer, visibility: CommentVisibility) -> None:
    if viewer.role is Role.PARTNER and visibility is CommentVisibility.INTERNAL:
        raise PermissionDenied("partners write shared comments only", ("visibility",))
