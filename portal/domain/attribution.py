"""Which partner an order is attributed to (SPEC §5): at most one, never split, never twice.

Step 1 looks at the current order's touchpoints (`portal.domain.touchpoints.select_touchpoint`).
A returning customer's order is then decided by the *original* referrer's follow-up policy
(`attribute_order`). Every decision carries the rule that decided and a reason a person can read,
also when nobody gets the order. All datetimes must be timezone-aware.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import assert_never

from portal.domain.customers import CustomerKeys, customer_keys
from portal.domain.programs import FollowUpPolicy
from portal.domain.touchpoints import (
    AttributionSettings,
    IgnoredTouchpoint,
    Touchpoint,
    TouchpointKind,
    TouchpointSelection,
    describe_touchpoint,
    require_aware,
    select_touchpoint,
)

__all__ = [
    "AttributionDecision",
    "AttributionRule",
    "AttributionSettings",
    "CustomerKeys",
    "IgnoredTouchpoint",
    "OriginalReferral",
    "Touchpoint",
    "TouchpointKind",
    "TouchpointSelection",
    "attribute_order",
    "customer_keys",
    "describe_touchpoint",
    "resolve_follow_up",
    "select_touchpoint",
]


@dataclass(frozen=True, slots=True)
class OriginalReferral:
    """The customer's first attributed order in the program, with the original referrer's
    follow-up policy already resolved (`resolve_follow_up`)."""

    partner_id: int
    order_time: datetime
    policy: FollowUpPolicy
    window_days: int


class AttributionRule(enum.Enum):
    """The rule that decided an order."""

    COOKIE = "COOKIE"  # new customer, a cookie won
    CLICK_ID = "CLICK_ID"  # new customer, a click id won
    COUPON = "COUPON"  # new customer, a coupon won (no cookie or click id counted)
    NO_TOUCHPOINT = "NO_TOUCHPOINT"  # new customer, no touchpoint counted: nobody
    FOLLOW_UP_FIRST_ORDER_ONLY = "FOLLOW_UP_FIRST_ORDER_ONLY"  # nobody
    FOLLOW_UP_IN_WINDOW = "FOLLOW_UP_IN_WINDOW"  # the original referrer
    FOLLOW_UP_WINDOW_EXPIRED = "FOLLOW_UP_WINDOW_EXPIRED"  # nobody
    FOLLOW_UP_LIFETIME = "FOLLOW_UP_LIFETIME"  # the original referrer
    FOLLOW_UP_WHENEVER_TRACKED = "FOLLOW_UP_WHENEVER_TRACKED"  # step 1's partner, or nobody
    ORIGINAL_REFERRER_INELIGIBLE = "ORIGINAL_REFERRER_INELIGIBLE"  # nobody


@dataclass(frozen=True, slots=True)
class AttributionDecision:
    partner_id: int | None
    rule: AttributionRule
    reason: str
    touchpoint: Touchpoint | None  # the touchpoint that won; None when a follow-up rule decided
    returning_customer: bool


def resolve_follow_up(
    settings: AttributionSettings,
    override_policy: FollowUpPolicy | None,
    override_window_days: int | None,
) -> tuple[FollowUpPolicy, int]:
    """A relationship's override, else the program default; policy and window independently."""
    policy = override_policy if override_policy is not None else settings.follow_up_policy
    window = (
        override_window_days if override_window_days is not None else settings.follow_up_window_days
    )
    return policy, window


_NEW_CUSTOMER_RULE = {
    TouchpointKind.COOKIE: AttributionRule.COOKIE,
    TouchpointKind.CLICK_ID: AttributionRule.CLICK_ID,
    TouchpointKind.COUPON: AttributionRule.COUPON,
}


def attribute_order(
    *,
    order_time: datetime,
    touchpoints: Sequence[Touchpoint],
    settings: AttributionSettings,
    original: OriginalReferral | None,
    eligible_partner_ids: frozenset[int],
) -> AttributionDecision:
    """Decide who earns the order (SPEC §5).

    `original` is the customer's first attributed order in the program (None: new customer).
    A known order *later* than this one is no earlier order, so the customer counts as new.
    Under FIRST_ORDER_AND_WINDOW and LIFETIME the original referrer must still be eligible, else
    nobody gets the order (ORIGINAL_REFERRER_INELIGIBLE); an expired window or FIRST_ORDER_ONLY
    decides "nobody" whatever the eligibility.
    """
    selection = select_touchpoint(
        order_time=order_time,
        touchpoints=touchpoints,
        settings=settings,
        eligible_partner_ids=eligible_partner_ids,
    )
    step_one = selection.describe()
    winner = selection.winner
    note = ""
    if original is not None:
        require_aware(original.order_time, "original.order_time")
        if original.order_time > order_time:
            note = (
                f" (the known attributed order of {original.order_time.isoformat()}"
                " is later than this order)"
            )
            original = None

    if original is None:
        reason = f"new customer{note}: {step_one}"
        if winner is None:
            return AttributionDecision(None, AttributionRule.NO_TOUCHPOINT, reason, None, False)
        return AttributionDecision(
            winner.partner_id, _NEW_CUSTOMER_RULE[winner.kind], reason, winner, False
        )

    referrer = original.partner_id
    policy = original.policy
    head = (
        f"returning customer, originally referred by partner {referrer} "
        f"(first attributed order {original.order_time.isoformat()}); "
        f"the original referrer's follow-up policy {policy.value} decides"
    )
    if policy is FollowUpPolicy.WHENEVER_TRACKED:
        reason = f"{head}: the current order's touchpoints name the partner: {step_one}"
        partner = winner.partner_id if winner is not None else None
        return AttributionDecision(
            partner, AttributionRule.FOLLOW_UP_WHENEVER_TRACKED, reason, winner, True
        )

    overruled = f"; the current order's touchpoints do not matter ({step_one})"
    if policy is FollowUpPolicy.FIRST_ORDER_ONLY:
        reason = f"{head}: only the first order earns a commission, so nobody{overruled}"
        return AttributionDecision(
            None, AttributionRule.FOLLOW_UP_FIRST_ORDER_ONLY, reason, None, True
        )
    if policy is FollowUpPolicy.FIRST_ORDER_AND_WINDOW:
        window_end = original.order_time + timedelta(days=original.window_days)
        window = f"the {original.window_days}-day window ending {window_end.isoformat()}"
        if order_time > window_end:
            reason = f"{head}: the order is after {window}, so nobody{overruled}"
            return AttributionDecision(
                None, AttributionRule.FOLLOW_UP_WINDOW_EXPIRED, reason, None, True
            )
        rule = AttributionRule.FOLLOW_UP_IN_WINDOW
        reason = f"{head}: the order is inside {window}, so partner {referrer}{overruled}"
    elif policy is FollowUpPolicy.LIFETIME:
        rule = AttributionRule.FOLLOW_UP_LIFETIME
        reason = f"{head}: every order of the customer goes to partner {referrer}{overruled}"
    else:
        assert_never(policy)

    if referrer not in eligible_partner_ids:
        reason = (
            f"{head}: the original referrer, partner {referrer}, has no active relationship, "
            f"so nobody{overruled}"
        )
        return AttributionDecision(
            None, AttributionRule.ORIGINAL_REFERRER_INELIGIBLE, reason, None, True
        )
    return AttributionDecision(referrer, rule, reason, None, True)
