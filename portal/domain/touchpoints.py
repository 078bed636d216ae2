"""Step 1 of attribution (SPEC §5.1): which of the current order's touchpoints counts and wins.

A touchpoint is evidence that a partner referred the order: a tracking cookie, a click id (ranks
like a cookie) or a redeemed coupon (ranks below both). All datetimes must be timezone-aware.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.domain.programs import ConsentMode, FollowUpPolicy


class TouchpointKind(enum.Enum):
    """A click id is tracking evidence of the same kind as a cookie and ranks like one; a coupon
    ranks below both."""

    COOKIE = "COOKIE"
    CLICK_ID = "CLICK_ID"
    COUPON = "COUPON"

    @property
    def is_tracking(self) -> bool:
        """Cookies and click ids are tracking; they expire with the cookie lifetime."""
        return self is not TouchpointKind.COUPON


_LABEL = {
    TouchpointKind.COOKIE: "cookie",
    TouchpointKind.CLICK_ID: "click id",
    TouchpointKind.COUPON: "coupon",
}


PartnerLabels = Mapping[int, str]
"""How a decision names partners: by public id and name, e.g. "Cashback Club (UGFy…)"."""


def label_of(labels: PartnerLabels, partner_id: int) -> str:
    """The partner as `labels` names it (without a label: by its number, for tests only)."""
    return labels.get(partner_id) or f"partner {partner_id}"


@dataclass(frozen=True, slots=True)
class Touchpoint:
    kind: TouchpointKind
    partner_id: int
    at: datetime  # when the cookie/click was set, or the coupon redeemed
    consent: bool | None = None  # None: unknown or missing
    reference: str | None = None  # cookie id, click id or coupon code


@dataclass(frozen=True, slots=True)
class AttributionSettings:
    """The program's attribution setting."""

    cookie_lifetime_days: int
    consent_mode: ConsentMode
    follow_up_policy: FollowUpPolicy
    follow_up_window_days: int


@dataclass(frozen=True, slots=True)
class IgnoredTouchpoint:
    touchpoint: Touchpoint
    why: str


@dataclass(frozen=True, slots=True)
class TouchpointSelection:
    """Step 1: the winning touchpoint (if any), the other counting ones, and the ignored ones."""

    winner: Touchpoint | None
    losers: tuple[Touchpoint, ...]
    ignored: tuple[IgnoredTouchpoint, ...]

    def describe(self, labels: PartnerLabels) -> str:
        if self.winner is None:
            text = "no touchpoint counts"
        else:
            text = f"{describe_touchpoint(self.winner, labels)} wins"
            if self.losers:
                beaten = ", ".join(_why_lost(loser, self.winner, labels) for loser in self.losers)
                text += f"; beats {beaten}"
        if self.ignored:
            ignored = ", ".join(
                f"{describe_touchpoint(i.touchpoint, labels)} ({i.why})" for i in self.ignored
            )
            text += f"; ignored: {ignored}"
        return text


def describe_touchpoint(touchpoint: Touchpoint, labels: PartnerLabels) -> str:
    """E.g. "cookie ck-123 of Cashback Club (UGFy…) set 2026-01-01T12:00:00+00:00"."""
    label = _LABEL[touchpoint.kind]
    if touchpoint.reference:
        label += f" {touchpoint.reference}"
    verb = "set" if touchpoint.kind.is_tracking else "redeemed"
    partner = label_of(labels, touchpoint.partner_id)
    return f"{label} of {partner} {verb} {touchpoint.at.isoformat()}"


def _why_lost(loser: Touchpoint, winner: Touchpoint, labels: PartnerLabels) -> str:
    if winner.kind.is_tracking and not loser.kind.is_tracking:
        why = "a cookie or click id beats a coupon"
    elif loser.at < winner.at:
        why = "earlier"
    else:
        why = "same time, earlier in the input"
    return f"{describe_touchpoint(loser, labels)} ({why})"


def require_aware(moment: datetime, what: str) -> None:
    """Naive datetimes are a programming error here (e.g. an adapter that lost the zone)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment.isoformat()}")


def _why_ignored(
    touchpoint: Touchpoint,
    order_time: datetime,
    settings: AttributionSettings,
    eligible_partner_ids: frozenset[int],
) -> str | None:
    if touchpoint.partner_id not in eligible_partner_ids:
        return "the partner has no active relationship"
    if touchpoint.at > order_time:
        return "after the order"
    if settings.consent_mode is ConsentMode.RESTRICTIVE and touchpoint.consent is not True:
        given = "missing" if touchpoint.consent is None else "refused"
        return f"consent {given}, consent mode RESTRICTIVE"
    lifetime = timedelta(days=settings.cookie_lifetime_days)
    if touchpoint.kind.is_tracking and order_time - touchpoint.at > lifetime:
        return f"older than the cookie lifetime of {settings.cookie_lifetime_days} days"
    return None


def select_touchpoint(
    *,
    order_time: datetime,
    touchpoints: Sequence[Touchpoint],
    settings: AttributionSettings,
    eligible_partner_ids: frozenset[int],
) -> TouchpointSelection:
    """Step 1 of SPEC §5.

    A touchpoint counts when its partner is eligible (ACTIVE relationship), it is not after the
    order, it has consent in RESTRICTIVE mode, and — for a cookie or click id — it was set at most
    the cookie lifetime before the order (exactly the lifetime still counts; coupons have no
    lifetime). A cookie or click id beats a coupon; within a rank the latest `at` wins, and of
    equally late ones the one later in the input wins.
    """
    require_aware(order_time, "order_time")
    counted: list[tuple[int, Touchpoint]] = []
    ignored: list[IgnoredTouchpoint] = []
    for index, touchpoint in enumerate(touchpoints):
        require_aware(touchpoint.at, f"touchpoint {index} at")
        why = _why_ignored(touchpoint, order_time, settings, eligible_partner_ids)
        if why is None:
            counted.append((index, touchpoint))
        else:
            ignored.append(IgnoredTouchpoint(touchpoint, why))
    if not counted:
        return TouchpointSelection(None, (), tuple(ignored))
    win_index, winner = max(counted, key=lambda c: (c[1].kind.is_tracking, c[1].at, c[0]))
    # Losers best first, so the reason lists the closest competitor first.
    others = sorted(
        (c for c in counted if c[0] != win_index),
        key=lambda c: (c[1].kind.is_tracking, c[1].at, c[0]),
        reverse=True,
    )
    return TouchpointSelection(winner, tuple(t for _, t in others), tuple(ignored))
