"""Partners and their relationships to programs, with the relationship's status machine."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from portal.domain.errors import DomainError
from portal.domain.programs import FollowUpPolicy


class RelationshipStatus(enum.Enum):
    APPLIED = "APPLIED"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    REJECTED = "REJECTED"
    BLOCKED = "BLOCKED"


_S = RelationshipStatus
# Who may move a relationship where. A rejected partner may apply again; a blocked one may not
# (only the advertiser can lift a block).
ADVERTISER_TRANSITIONS: dict[RelationshipStatus, frozenset[RelationshipStatus]] = {
    _S.APPLIED: frozenset({_S.ACTIVE, _S.REJECTED, _S.BLOCKED}),
    _S.ACTIVE: frozenset({_S.PAUSED, _S.BLOCKED}),
    _S.PAUSED: frozenset({_S.ACTIVE, _S.BLOCKED}),
    _S.REJECTED: frozenset({_S.ACTIVE, _S.BLOCKED}),
    _S.BLOCKED: frozenset({_S.ACTIVE}),
}
EARNING_STATUSES: frozenset[RelationshipStatus] = frozenset({_S.ACTIVE})
"""The relationship statuses under which a partner earns commission: its touchpoints count,
orders and requests are attributed and rated for it. A PAUSED partner earns nothing new (a
change of one of its conversions that needs a new rating takes an explicit commission)."""
PARTNER_MAY_APPLY_FROM: frozenset[RelationshipStatus | None] = frozenset({None, _S.REJECTED})
# An advertiser creates a relationship by inviting a partner (ACTIVE) or by barring it (BLOCKED).
ADVERTISER_MAY_CREATE: frozenset[RelationshipStatus] = frozenset({_S.ACTIVE, _S.BLOCKED})
MAX_FOLLOW_UP_WINDOW_DAYS = 3650


@dataclass(frozen=True, slots=True)
class Partner:
    id: int
    name: str
    payout_currency: str
    country: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Relationship:
    id: int
    partner_id: int
    program_id: int
    status: RelationshipStatus
    commission_model_id: int | None
    follow_up_policy: FollowUpPolicy | None
    follow_up_window_days: int | None
    created_at: datetime
    updated_at: datetime


def earns_commission(status: RelationshipStatus | None) -> bool:
    """Whether a partner with a relationship of `status` earns commission (`EARNING_STATUSES`)."""
    return status in EARNING_STATUSES


def check_transition(
    current: RelationshipStatus | None, new: RelationshipStatus, commission_model_id: int | None
) -> None:
    """Raise unless an advertiser (or admin) may move a relationship from `current` to `new`."""
    if current is not None and current != new and new not in ADVERTISER_TRANSITIONS[current]:
        raise DomainError(
            "INVALID_TRANSITION",
            f"a relationship cannot go from {current.value} to {new.value}",
            ("status",),
        )
    if new is RelationshipStatus.ACTIVE and commission_model_id is None:
        raise DomainError(
            "COMMISSION_MODEL_REQUIRED",
            "an ACTIVE relationship needs a commission model",
            ("commissionModelId",),
        )


def check_new_relationship(status: RelationshipStatus, commission_model_id: int | None) -> None:
    """Raise unless an advertiser (or admin) may create a relationship with `status`."""
    if status not in ADVERTISER_MAY_CREATE:
        raise DomainError(
            "INVALID_TRANSITION",
            f"a new relationship starts ACTIVE (an invitation) or BLOCKED, not {status.value}",
            ("status",),
        )
    check_transition(None, status, commission_model_id)


def revise_follow_up(
    current: tuple[FollowUpPolicy | None, int | None],
    policy: FollowUpPolicy | None,
    window_days: int | None,
    clear: bool,
) -> tuple[FollowUpPolicy | None, int | None]:
    """A relationship's follow-up override after a change: `clear` drops it (falling back to the
    program's setting); a given policy or window replaces that part; None keeps it."""
    if clear and (policy is not None or window_days is not None):
        raise DomainError(
            "CONFLICTING_INPUT",
            "clear the follow-up override or set it, not both",
            ("clearFollowUpOverride",),
        )
    if clear:
        return None, None
    if window_days is not None and not 1 <= window_days <= MAX_FOLLOW_UP_WINDOW_DAYS:
        raise DomainError(
            "OUT_OF_RANGE",
            f"the follow-up window is 1 to {MAX_FOLLOW_UP_WINDOW_DAYS} days",
            ("followUpWindowDays",),
        )
    return (
        current[0] if policy is None else policy,
        current[1] if window_days is None else window_days,
    )


def check_application(current: RelationshipStatus | None) -> None:
    """Raise unless a partner may apply (again) to a program."""
    if current not in PARTNER_MAY_APPLY_FROM:
        assert current is not None
        code = "BLOCKED" if current is RelationshipStatus.BLOCKED else "ALREADY_APPLIED"
        raise DomainError(code, f"the relationship is {current.value}", ("programId",))


def validate_country(country: str) -> str:
    code = country.strip().upper()
    if len(code) != 2 or not code.isalpha() or not code.isascii():
        raise DomainError(
            "INVALID_COUNTRY", "a country is an ISO 3166-1 alpha-2 code", ("country",)
        )
    return code
