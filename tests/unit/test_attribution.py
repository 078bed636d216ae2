"""Attribution (SPEC §5): step 1 touchpoints, the follow-up policy table, customer keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from portal.domain.attribution import (
    AttributionDecision,
    AttributionRule,
    AttributionSettings,
    OriginalReferral,
    Touchpoint,
    TouchpointKind,
    attribute_order,
    customer_keys,
    resolve_follow_up,
)
from portal.domain.programs import ConsentMode, FollowUpPolicy

ORDER = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FIRST = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
ALL = frozenset({1, 2, 3, 7, 9})
COOKIE = TouchpointKind.COOKIE
CLICK = TouchpointKind.CLICK_ID
COUPON = TouchpointKind.COUPON


def settings(
    *,
    lifetime: int = 30,
    consent: ConsentMode = ConsentMode.RELAXED,
    policy: FollowUpPolicy = FollowUpPolicy.WHENEVER_TRACKED,
    window: int = 30,
) -> AttributionSettings:
    return AttributionSettings(lifetime, consent, policy, window)


def tp(
    kind: TouchpointKind,
    partner: int,
    before: timedelta = timedelta(days=1),
    *,
    consent: bool | None = None,
    ref: str | None = None,
) -> Touchpoint:
    return Touchpoint(kind, partner, ORDER - before, consent, ref)


def decide(
    *touchpoints: Touchpoint,
    config: AttributionSettings | None = None,
    original: OriginalReferral | None = None,
    eligible: frozenset[int] = ALL,
    order_time: datetime = ORDER,
) -> AttributionDecision:
    return attribute_order(
        order_time=order_time,
        touchpoints=touchpoints,
        settings=config or settings(),
        original=original,
        eligible_partner_ids=eligible,
    )


def returning(
    policy: FollowUpPolicy, partner: int = 1, window: int = 30, at: datetime = FIRST
) -> OriginalReferral:
    return OriginalReferral(partner, at, policy, window)


# --- step 1: the current order's touchpoints (new customer) ---------------------------------


def test_new_customer_without_touchpoints_goes_to_nobody_with_a_reason() -> None:
    decision = decide()
    assert decision.partner_id is None
    assert decision.rule is AttributionRule.NO_TOUCHPOINT
    assert decision.touchpoint is None
    assert not decision.returning_customer
    assert "new customer" in decision.reason and "no touchpoint counts" in decision.reason


def test_cookie_beats_coupon_and_the_reason_names_both() -> None:
    cookie = tp(COOKIE, 7, timedelta(days=2), ref="ck-123")
    coupon = tp(COUPON, 9, timedelta(hours=1), ref="SUMMER")
    decision = decide(coupon, cookie)
    assert decision.partner_id == 7
    assert decision.rule is AttributionRule.COOKIE
    assert decision.touchpoint == cookie
    assert "cookie ck-123 of partner 7 set 2026-02-27T12:00:00+00:00 wins" in decision.reason
    assert "beats coupon SUMMER of partner 9" in decision.reason
    assert "a cookie or click id beats a coupon" in decision.reason


def test_coupon_wins_when_no_cookie_counts() -> None:
    coupon = tp(COUPON, 9, ref="SUMMER")
    decision = decide(coupon)
    assert (decision.partner_id, decision.rule, decision.touchpoint) == (
        9,
        AttributionRule.COUPON,
        coupon,
    )


def test_latest_cookie_wins() -> None:
    older = tp(COOKIE, 1, timedelta(days=5), ref="old")
    newer = tp(COOKIE, 2, timedelta(days=1), ref="new")
    for order in ((older, newer), (newer, older)):
        decision = decide(*order)
        assert decision.partner_id == 2
        assert decision.touchpoint == newer
    assert "cookie old of partner 1" in decide(older, newer).reason
    assert "(earlier)" in decide(older, newer).reason


def test_latest_coupon_wins() -> None:
    older = tp(COUPON, 1, timedelta(days=5))
    newer = tp(COUPON, 2, timedelta(days=1))
    assert decide(newer, older).partner_id == 2
    assert decide(older, newer).partner_id == 2


def test_equally_late_cookies_keep_the_later_one_in_input_order() -> None:
    first = tp(COOKIE, 1, timedelta(days=1))
    second = tp(COOKIE, 2, timedelta(days=1))
    assert decide(first, second).partner_id == 2
    assert decide(second, first).partner_id == 1
    assert "same time, earlier in the input" in decide(first, second).reason


def test_click_id_ranks_as_cookie() -> None:
    click = tp(CLICK, 3, timedelta(days=1), ref="clk-9")
    older_cookie = tp(COOKIE, 1, timedelta(days=3))
    newer_cookie = tp(COOKIE, 1, timedelta(hours=1))
    coupon = tp(COUPON, 9, timedelta(minutes=1))
    decision = decide(coupon, click)
    assert (decision.partner_id, decision.rule) == (3, AttributionRule.CLICK_ID)
    assert "click id clk-9 of partner 3 set" in decision.reason
    assert decide(click, older_cookie).partner_id == 3
    assert decide(click, newer_cookie).partner_id == 1


def test_cookie_exactly_at_its_lifetime_counts_one_second_beyond_does_not() -> None:
    config = settings(lifetime=30)
    at_limit = tp(COOKIE, 1, timedelta(days=30))
    beyond = tp(COOKIE, 1, timedelta(days=30, seconds=1))
    assert decide(at_limit, config=config).partner_id == 1
    decision = decide(beyond, config=config)
    assert decision.partner_id is None
    assert decision.rule is AttributionRule.NO_TOUCHPOINT
    assert "older than the cookie lifetime of 30 days" in decision.reason


def test_expired_click_id_does_not_count_and_a_coupon_then_wins() -> None:
    config = settings(lifetime=7)
    expired_click = tp(CLICK, 1, timedelta(days=7, seconds=1))
    coupon = tp(COUPON, 2, timedelta(days=60))  # coupons have no lifetime
    decision = decide(expired_click, coupon, config=config)
    assert (decision.partner_id, decision.rule) == (2, AttributionRule.COUPON)


def test_touchpoint_after_the_order_is_ignored() -> None:
    later_cookie = tp(COOKIE, 1, timedelta(seconds=-1))
    coupon = tp(COUPON, 2)
    decision = decide(later_cookie, coupon)
    assert decision.partner_id == 2
    assert "after the order" in decision.reason
    assert decide(tp(COOKIE, 1, timedelta(0))).partner_id == 1  # at the order instant counts


def test_ineligible_partners_cookie_is_ignored_and_a_valid_coupon_wins() -> None:
    cookie = tp(COOKIE, 5, timedelta(hours=1))
    coupon = tp(COUPON, 9, timedelta(days=1), ref="SUMMER")
    decision = decide(cookie, coupon, eligible=frozenset({9}))
    assert (decision.partner_id, decision.touchpoint) == (9, coupon)
    assert (
        "cookie of partner 5 set 2026-03-01T11:00:00+00:00 (the partner has no active relationship)"
        in decision.reason
    )


def test_ineligible_coupon_alone_gives_nobody() -> None:
    decision = decide(tp(COUPON, 9), eligible=frozenset({1}))
    assert decision.partner_id is None and decision.rule is AttributionRule.NO_TOUCHPOINT


@pytest.mark.parametrize(
    ("mode", "consent", "counts"),
    [
        (ConsentMode.RELAXED, None, True),
        (ConsentMode.RELAXED, False, True),
        (ConsentMode.RELAXED, True, True),
        (ConsentMode.RESTRICTIVE, None, False),
        (ConsentMode.RESTRICTIVE, False, False),
        (ConsentMode.RESTRICTIVE, True, True),
    ],
)
@pytest.mark.parametrize("kind", [COOKIE, CLICK, COUPON])
def test_consent_in_each_consent_mode(
    mode: ConsentMode, consent: bool | None, counts: bool, kind: TouchpointKind
) -> None:
    decision = decide(tp(kind, 7, consent=consent), config=settings(consent=mode))
    assert decision.partner_id == (7 if counts else None)
    if not counts:
        given = "missing" if consent is None else "refused"
        assert f"consent {given}, consent mode RESTRICTIVE" in decision.reason


def test_restrictive_mode_lets_a_consented_coupon_beat_an_unconsented_cookie() -> None:
    decision = decide(
        tp(COOKIE, 1, consent=None),
        tp(COUPON, 2, consent=True),
        config=settings(consent=ConsentMode.RESTRICTIVE),
    )
    assert (decision.partner_id, decision.rule) == (2, AttributionRule.COUPON)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(order_time=ORDER.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(Touchpoint(COOKIE, 1, ORDER.replace(tzinfo=None)))


def test_mixed_time_zones_compare_by_instant() -> None:
    plus_two = timezone(timedelta(hours=2))
    # 13:30+02:00 is 11:30 UTC: before the order at 12:00 UTC, so it counts.
    cookie = Touchpoint(COOKIE, 1, datetime(2026, 3, 1, 13, 30, tzinfo=plus_two))
    assert decide(cookie).partner_id == 1


# --- returning customers: the policy table --------------------------------------------------


CURRENT = (tp(COOKIE, 2, ref="ck-new"), tp(COUPON, 3, ref="NEW"))


def test_first_order_only_gives_nobody_whatever_touchpoints() -> None:
    original = returning(FollowUpPolicy.FIRST_ORDER_ONLY, partner=1)
    for touchpoints in ((), CURRENT, (tp(COOKIE, 1),)):
        decision = decide(*touchpoints, original=original)
        assert decision.partner_id is None
        assert decision.rule is AttributionRule.FOLLOW_UP_FIRST_ORDER_ONLY
        assert decision.returning_customer
        assert "FIRST_ORDER_ONLY" in decision.reason


def test_window_policy_gives_the_original_referrer_inside_the_window_over_new_touchpoints() -> None:
    original = returning(FollowUpPolicy.FIRST_ORDER_AND_WINDOW, partner=1, window=30)
    decision = decide(*CURRENT, original=original, order_time=FIRST + timedelta(days=10))
    assert decision.partner_id == 1
    assert decision.rule is AttributionRule.FOLLOW_UP_IN_WINDOW
    assert decision.touchpoint is None
    assert "originally referred by partner 1" in decision.reason


def test_window_end_instant_is_included_one_second_after_is_not() -> None:
    original = returning(FollowUpPolicy.FIRST_ORDER_AND_WINDOW, partner=1, window=30)
    end = FIRST + timedelta(days=30)
    at_end = decide(original=original, order_time=end)
    assert (at_end.partner_id, at_end.rule) == (1, AttributionRule.FOLLOW_UP_IN_WINDOW)
    after = decide(
        Touchpoint(COOKIE, 2, end),
        original=original,
        order_time=end + timedelta(seconds=1),
    )
    assert (after.partner_id, after.rule) == (None, AttributionRule.FOLLOW_UP_WINDOW_EXPIRED)
    assert "touchpoints do not matter (cookie of partner 2 set" in after.reason


def test_after_the_window_nobody_gets_it_even_with_a_new_cookie_or_coupon() -> None:
    original = returning(FollowUpPolicy.FIRST_ORDER_AND_WINDOW, partner=1, window=30)
    late = FIRST + timedelta(days=45)
    for touchpoint in (
        Touchpoint(COOKIE, 2, late),
        Touchpoint(COUPON, 3, late),
        Touchpoint(COOKIE, 1, late),
    ):
        decision = decide(touchpoint, original=original, order_time=late)
        assert decision.partner_id is None
        assert decision.rule is AttributionRule.FOLLOW_UP_WINDOW_EXPIRED


def test_the_window_is_the_original_referrals_not_the_program_default() -> None:
    original = returning(FollowUpPolicy.FIRST_ORDER_AND_WINDOW, partner=1, window=60)
    decision = decide(
        original=original, order_time=FIRST + timedelta(days=45), config=settings(window=30)
    )
    assert decision.partner_id == 1


def test_lifetime_always_gives_the_original_referrer() -> None:
    original = returning(FollowUpPolicy.LIFETIME, partner=1)
    for touchpoints in ((), CURRENT):
        decision = decide(*touchpoints, original=original, order_time=FIRST + timedelta(days=3650))
        assert (decision.partner_id, decision.rule) == (1, AttributionRule.FOLLOW_UP_LIFETIME)
        assert decision.returning_customer


def test_whenever_tracked_gives_another_partner_when_tracked() -> None:
    original = returning(FollowUpPolicy.WHENEVER_TRACKED, partner=1)
    decision = decide(*CURRENT, original=original)
    assert decision.partner_id == 2
    assert decision.rule is AttributionRule.FOLLOW_UP_WHENEVER_TRACKED
    assert decision.touchpoint == CURRENT[0]
    assert decision.returning_customer


def test_whenever_tracked_gives_the_original_referrer_when_it_tracked_again() -> None:
    original = returning(FollowUpPolicy.WHENEVER_TRACKED, partner=1)
    decision = decide(tp(COUPON, 1), original=original)
    assert (decision.partner_id, decision.rule) == (1, AttributionRule.FOLLOW_UP_WHENEVER_TRACKED)


def test_whenever_tracked_without_touchpoints_gives_nobody() -> None:
    original = returning(FollowUpPolicy.WHENEVER_TRACKED, partner=1)
    decision = decide(original=original)
    assert (decision.partner_id, decision.touchpoint) == (None, None)
    assert decision.rule is AttributionRule.FOLLOW_UP_WHENEVER_TRACKED
    assert "no touchpoint counts" in decision.reason


def test_whenever_tracked_still_applies_step_one_filters() -> None:
    original = returning(FollowUpPolicy.WHENEVER_TRACKED, partner=1)
    decision = decide(tp(COOKIE, 2), original=original, eligible=frozenset({1}))
    assert decision.partner_id is None


@pytest.mark.parametrize("policy", [FollowUpPolicy.FIRST_ORDER_AND_WINDOW, FollowUpPolicy.LIFETIME])
def test_ineligible_original_referrer_gives_nobody_not_the_new_partner(
    policy: FollowUpPolicy,
) -> None:
    original = returning(policy, partner=1)
    decision = decide(*CURRENT, original=original, eligible=frozenset({2, 3}), order_time=FIRST)
    assert decision.partner_id is None
    assert decision.rule is AttributionRule.ORIGINAL_REFERRER_INELIGIBLE
    assert "partner 1, has no active relationship" in decision.reason


def test_policy_outcome_nobody_wins_over_ineligibility() -> None:
    only = decide(original=returning(FollowUpPolicy.FIRST_ORDER_ONLY), eligible=frozenset())
    assert only.rule is AttributionRule.FOLLOW_UP_FIRST_ORDER_ONLY
    expired = decide(
        original=returning(FollowUpPolicy.FIRST_ORDER_AND_WINDOW, window=1),
        eligible=frozenset(),
    )
    assert expired.rule is AttributionRule.FOLLOW_UP_WINDOW_EXPIRED


def test_a_known_order_later_than_this_one_makes_no_returning_customer() -> None:
    original = returning(FollowUpPolicy.FIRST_ORDER_ONLY, partner=1, at=ORDER + timedelta(days=1))
    decision = decide(tp(COOKIE, 2), original=original)
    assert (decision.partner_id, decision.rule) == (2, AttributionRule.COOKIE)
    assert not decision.returning_customer
    assert "later than this order" in decision.reason


def test_a_second_order_at_the_same_instant_is_a_follow_up() -> None:
    original = returning(FollowUpPolicy.FIRST_ORDER_ONLY, partner=1, at=ORDER)
    decision = decide(tp(COOKIE, 2), original=original)
    assert decision.returning_customer and decision.partner_id is None


# --- resolve_follow_up ----------------------------------------------------------------------


def test_resolve_follow_up_uses_the_program_default_without_override() -> None:
    config = settings(policy=FollowUpPolicy.LIFETIME, window=30)
    assert resolve_follow_up(config, None, None) == (FollowUpPolicy.LIFETIME, 30)


def test_resolve_follow_up_prefers_the_relationship_override() -> None:
    config = settings(policy=FollowUpPolicy.LIFETIME, window=30)
    assert resolve_follow_up(config, FollowUpPolicy.FIRST_ORDER_AND_WINDOW, 14) == (
        FollowUpPolicy.FIRST_ORDER_AND_WINDOW,
        14,
    )
    assert resolve_follow_up(config, FollowUpPolicy.FIRST_ORDER_ONLY, None) == (
        FollowUpPolicy.FIRST_ORDER_ONLY,
        30,
    )
    assert resolve_follow_up(config, None, 7) == (FollowUpPolicy.LIFETIME, 7)


# --- customer_keys --------------------------------------------------------------------------


SECRET = b"k" * 32


def test_email_hash_is_normalized() -> None:
    messy = customer_keys(customer_id=None, email=" Foo@Example.COM ", secret=SECRET)
    clean = customer_keys(customer_id=None, email="foo@example.com", secret=SECRET)
    assert messy.email_hash is not None
    assert messy.email_hash == clean.email_hash
    assert len(messy.email_hash) == 64 and int(messy.email_hash, 16) >= 0
    assert "foo" not in messy.email_hash


def test_customer_id_is_stripped_and_hashed_apart_from_the_email() -> None:
    keys = customer_keys(customer_id=" 4711 ", email="a@b.c", secret=SECRET)
    assert (
        keys.customer_id_hash
        == customer_keys(customer_id="4711", email=None, secret=SECRET).customer_id_hash
    )
    assert keys.customer_id_hash is not None and keys.customer_id_hash != keys.email_hash
    assert (
        keys.customer_id_hash
        != customer_keys(customer_id="4712", email=None, secret=SECRET).customer_id_hash
    )


def test_known_hmac_value() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET, b"foo@example.com", hashlib.sha256).hexdigest()
    assert customer_keys(customer_id=None, email="FOO@example.com", secret=SECRET).email_hash == (
        expected
    )


def test_different_secrets_give_different_hashes() -> None:
    one = customer_keys(customer_id="42", email="foo@example.com", secret=b"one")
    two = customer_keys(customer_id="42", email="foo@example.com", secret=b"two")
    assert one.email_hash != two.email_hash
    assert one.customer_id_hash != two.customer_id_hash


@pytest.mark.parametrize("blank", [None, "", "   ", "\t\n"])
def test_blank_inputs_give_none(blank: str | None) -> None:
    keys = customer_keys(customer_id=blank, email=blank, secret=SECRET)
    assert keys.customer_id_hash is None and keys.email_hash is None
    assert keys.is_empty


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        customer_keys(customer_id="1", email="a@b.c", secret=b"")
