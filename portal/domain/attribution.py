"""Which partner an order is attributed to (SPEC §5): at most one, never split, never twice.

Step 1 looks at the current order's touchpoints (`portal.domain.touchpoints.select_touchpoint`).
A returning customer's order is then decided by the *original* referrer's follow-up policy
(`attribute_order`). A lead is no order: its touchpoints alone decide it. An order id belongs to
one partner: a second conversion of an order (its lead after its sale) goes to the partner of the
first. Every decision carries the rule that decided and a reason a person can read, naming
partners by name and public id, also when nobody gets the order. All datetimes must be
timezone-aware.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import assert_never

from portal.domain.customers import CustomerKeys, customer_keys
from portal.domain.programs import FollowUpPolicy
from portal.domain.touchpoints import (
    AttributionSettings,
    IgnoredTouchpoint,
    PartnerLabels,
    Touchpoint,
    TouchpointKind,
    TouchpointSelection,
    describe_touchpoint,
    label_of,
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
    "PartnerLabels",
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
    SAME_ORDER = "SAME_ORDER"  # the partner of the order's other conversion (or nobody)


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


@dataclass(frozen=True, slots=True)
class OrderOwner:
    """The partner that has a conversion of the same order id already (of the other kind: the
    sale of a lead, the lead of a sale), and that conversion's target."""

    partner_id: int
    target: str


def attribute_order(
    *,
    order_time: datetime,
    touchpoints: Sequence[Touchpoint],
    settings: AttributionSettings,
    original: OriginalReferral | None,
    eligible_partner_ids: frozenset[int],
    lead: bool = False,
    owner: OrderOwner | None = None,
    labels: PartnerLabels | None = None,
) -> AttributionDecision:
    """Decide who earns the order (SPEC §5).

    `original` is the customer's first attributed order in the program (None: new customer).
    A known order *later* than this one is no earlier order, so the customer counts as new.
    Under FIRST_ORDER_AND_WINDOW and LIFETIME the original referrer must still be eligible, else
    nobody gets the order (ORIGINAL_REFERRER_INELIGIBLE); an expired window or FIRST_ORDER_ONLY
    decides "nobody" whatever the eligibility.

    `lead`: the conversion is a lead, no order: the touchpoints decide as for a new customer,
    whatever the customer ordered before. `owner`: the order id has a conversion of another
    partner's already: an order belongs to one partner, so that partner earns this one too
    (SAME_ORDER; nobody when it has no active relationship any more). `labels` name partners
    in the reason.
    """
    names: Mapping[int, str] = labels or {}
    selection = select_touchpoint(
        order_time=order_time,
        touchpoints=touchpoints,
        settings=settings,
        eligible_partner_ids=eligible_partner_ids,
    )
    step_one = selection.describe(names)
    winner = selection.winner
    if owner is not None:
        return _same_order(owner, eligible_partner_ids, names, step_one)
    note = ""
    if lead:  # no order: no follow-up order either
        original = None
    if original is not None:
        require_aware(original.order_time, "original.order_time")
        if original.order_time > order_time:
            note = (
                f" (the known attributed order of {original.order_time.isoformat()}"
                " is later than this order)"
            )
            original = None

    if original is None:
        subject = "a lead (no order), decided by its touchpoints" if lead else "new customer"
        reason = f"{subject}{note}: {step_one}"
        if winner is None:
            return AttributionDecision(None, AttributionRule.NO_TOUCHPOINT, reason, None, False)
        return AttributionDecision(
            winner.partner_id, _NEW_CUSTOMER_RULE[winner.kind], reason, winner, False
        )

    referrer = original.partner_id
    policy = original.policy
    referrer_label = label_of(names, referrer)
    head = (
        f"returning customer, originally referred by {referrer_label} "
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
        reason = f"{head}: the order is inside {window}, so {referrer_label}{overruled}"
    elif policy is FollowUpPolicy.LIFETIME:
        rule = AttributionRule.FOLLOW_UP_LIFETIME
        reason = f"{head}: every order of the customer goes to {referrer_label}{overruled}"
    else:
        assert_never(policy)

    if referrer not in eligible_partner_ids:
        reason = (
            f"{head}: the original referrer, {referrer_label}, has no active relationship, "
            f"so nobody{overruled}"
        )
        return AttributionDecision(
            None, AttributionRule.ORIGINAL_REFERRER_INELIGIBLE, reason, None, True
        )
    return AttributionDecision(referrer, rule, reason, None, True)


def _same_order(
    owner: OrderOwner, eligible: frozenset[int], labels: Mapping[int, str], step_one: str
) -> AttributionDecision:
    who = label_of(labels, owner.partner_id)
    head = (
        f"the order id has a {owner.target} conversion of {who} already, and an order belongs "
        "to one partner"
    )
    ignored = f"; the touchpoints do not matter ({step_one})"
    if owner.partner_id not in eligible:
        reason = f"{head}, which has no active relationship, so nobody{ignored}"
        return AttributionDecision(None, AttributionRule.SAME_ORDER, reason, None, False)
    reason = f"{head}, so {who}{ignored}"
    return AttributionDecision(owner.partner_id, AttributionRule.SAME_ORDER, reason, None, False)
