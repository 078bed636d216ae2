"""Advertisers, their programs, and the program-scoped vocabularies (categories, targets, notes)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from portal.domain.errors import DomainError
from portal.domain.money import require_currency

T = TypeVar("T")

DEFAULT_CATEGORY = "default"
DEFAULT_TARGETS = ("SALE_NEW_CUSTOMER", "SALE_EXISTING_CUSTOMER", "LEAD")
LEAD_TARGET = "LEAD"
DEFAULT_NOTES = {
    "RETURNED": "The order was returned",
    "INVALID_ORDER": "The order is invalid (cancelled, fraudulent or a test)",
    "DUPLICATE": "The order was tracked twice",
    "OTHER_REASON": "Other reason",
}


class TargetKind(enum.Enum):
    """What a conversion target counts: a SALE is an order (it makes a customer known, and an
    order id has at most one sale conversion); a LEAD is no order (a sign-up, a newsletter):
    it neither makes a customer returning nor becomes anyone's first order. An order id may
    have one conversion of each kind, both the same partner's."""

    SALE = "SALE"
    LEAD = "LEAD"


def default_target_kind(key: str) -> TargetKind:
    """The kind of a target created without one: LEAD for the key `LEAD`, else SALE."""
    return TargetKind.LEAD if key.strip().upper() == LEAD_TARGET else TargetKind.SALE


class ConsentMode(enum.Enum):
    """RELAXED counts every touchpoint; RESTRICTIVE ignores touchpoints without consent."""

    RELAXED = "RELAXED"
    RESTRICTIVE = "RESTRICTIVE"


class FollowUpPolicy(enum.Enum):
    """Who earns a returning customer's follow-up order (SPEC §5)."""

    FIRST_ORDER_ONLY = "FIRST_ORDER_ONLY"
    FIRST_ORDER_AND_WINDOW = "FIRST_ORDER_AND_WINDOW"
    LIFETIME = "LIFETIME"
    WHENEVER_TRACKED = "WHENEVER_TRACKED"


@dataclass(frozen=True, slots=True)
class Advertiser:
    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Program:
    id: int
    advertiser_id: int
    name: str
    currency: str
    cookie_lifetime_days: int
    consent_mode: ConsentMode
    follow_up_policy: FollowUpPolicy
    follow_up_window_days: int
    allow_self_acceptance: bool
    created_at: datetime
    # Partners without a relationship see a listed program (its public fields) and may apply.
    publicly_listed: bool = False
    # Strict: an explicit tracking category an order names must be a known, active key of the
    # program (UNKNOWN_CATEGORY / INACTIVE_CATEGORY); not strict: an unknown key becomes
    # `default` (the behaviour of programs created before issue 16).
    strict_tracking_categories: bool = False

    def with_currency(self, currency: str, has_conversions: bool) -> Program:
        """A program's currency is fixed once it has conversions."""
        require_currency(currency, ("currency",))
        if currency != self.currency and has_conversions:
            raise DomainError(
                "CURRENCY_LOCKED",
                f"the currency of program {self.name!r} cannot change: it already has conversions",
                ("currency",),
            )
        return replace(self, currency=currency)

    def revised(
        self,
        *,
        name: str | None = None,
        cookie_lifetime_days: int | None = None,
        consent_mode: ConsentMode | None = None,
        follow_up_policy: FollowUpPolicy | None = None,
        follow_up_window_days: int | None = None,
        allow_self_acceptance: bool | None = None,
        publicly_listed: bool | None = None,
        strict_tracking_categories: bool | None = None,
    ) -> Program:
        """The program with the given settings changed (None keeps one), validated as a whole."""
        revised = replace(
            self,
            name=self.name if name is None else name.strip(),
            cookie_lifetime_days=_keep(cookie_lifetime_days, self.cookie_lifetime_days),
            consent_mode=_keep(consent_mode, self.consent_mode),
            follow_up_policy=_keep(follow_up_policy, self.follow_up_policy),
            follow_up_window_days=_keep(follow_up_window_days, self.follow_up_window_days),
            allow_self_acceptance=_keep(allow_self_acceptance, self.allow_self_acceptance),
            publicly_listed=_keep(publicly_listed, self.publicly_listed),
            strict_tracking_categories=_keep(
                strict_tracking_categories, self.strict_tracking_categories
            ),
        )
        validate_program_settings(
            revised.cookie_lifetime_days, revised.follow_up_window_days, revised.name
        )
        return revised


def _keep(new: T | None, current: T) -> T:
    return current if new is None else new


def validate_program_settings(
    cookie_lifetime_days: int, follow_up_window_days: int, name: str
) -> None:
    if not name.strip():
        raise DomainError("BLANK", "the name must not be blank", ("name",))
    if len(name) > 200:
        raise DomainError("TOO_LONG", "the name has at most 200 characters", ("name",))
    if not 1 <= cookie_lifetime_days <= 3650:
        raise DomainError(
            "OUT_OF_RANGE", "the cookie lifetime is 1 to 3650 days", ("cookieLifetimeDays",)
        )
    if not 1 <= follow_up_window_days <= 3650:
        raise DomainError(
            "OUT_OF_RANGE", "the follow-up window is 1 to 3650 days", ("followUpWindowDays",)
        )


@dataclass(frozen=True, slots=True)
class TrackingCategory:
    id: int
    program_id: int
    key: str
    name: str
    active: bool


@dataclass(frozen=True, slots=True)
class ConversionTarget:
    id: int
    program_id: int
    key: str
    name: str
    active: bool
    kind: TargetKind = TargetKind.SALE


@dataclass(frozen=True, slots=True)
class ConversionNote:
    id: int
    program_id: int
    code: str
    text: str


def validate_key(key: str, field: tuple[str, ...]) -> str:
    """Keys of categories, targets and notes: 1–64 characters of letters, digits, `_`, `-`."""
    cleaned = key.strip()
    if not cleaned or len(cleaned) > 64 or not all(c.isalnum() or c in "_-" for c in cleaned):
        raise DomainError("INVALID_KEY", "a key is 1–64 letters, digits, '_' or '-'", field)
    return cleaned


def validate_name(name: str, field: tuple[str, ...] = ("name",), max_length: int = 200) -> str:
    """A display name or text: trimmed, not blank, at most `max_length` characters."""
    cleaned = name.strip()
    if not cleaned:
        raise DomainError("BLANK", "the text must not be blank", field)
    if len(cleaned) > max_length:
        raise DomainError("TOO_LONG", f"the text has at most {max_length} characters", field)
    return cleaned
