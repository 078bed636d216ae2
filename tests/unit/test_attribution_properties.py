"""Properties of attribution (SPEC §5) over generated touchpoints, settings and histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.attribution import (
    AttributionRule,
    AttributionSettings,
    OriginalReferral,
    Touchpoint,
    TouchpointKind,
    attribute_order,
)
from portal.domain.programs import ConsentMode, FollowUpPolicy

ORDER = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PARTNERS = st.integers(min_value=1, max_value=6)
# Offsets before the order, in seconds: around the lifetimes generated below, and a few after it.
OFFSETS = st.integers(min_value=-3 * 86_400, max_value=40 * 86_400)

touchpoints = st.lists(
    st.builds(
        Touchpoint,
        kind=st.sampled_from(TouchpointKind),
        partner_id=PARTNERS,
        at=OFFSETS.map(lambda s: ORDER - timedelta(seconds=s)),
        consent=st.sampled_from([None, True, False]),
        reference=st.none() | st.text(min_size=1, max_size=8),
    ),
    max_size=8,
)
attribution_settings = st.builds(
    AttributionSettings,
    cookie_lifetime_days=st.integers(min_value=1, max_value=35),
    consent_mode=st.sampled_from(ConsentMode),
    follow_up_policy=st.sampled_from(FollowUpPolicy),
    follow_up_window_days=st.integers(min_value=1, max_value=60),
)
eligible = st.frozensets(PARTNERS, max_size=6)
RESTRICTING = [
    FollowUpPolicy.FIRST_ORDER_ONLY,
    FollowUpPolicy.FIRST_ORDER_AND_WINDOW,
    FollowUpPolicy.LIFETIME,
]


def originals(policies: list[FollowUpPolicy]) -> st.SearchStrategy[OriginalReferral]:
    return st.builds(
        OriginalReferral,
        partner_id=PARTNERS,
        order_time=st.integers(min_value=0, max_value=90 * 86_400).map(
            lambda s: ORDER - timedelta(seconds=s)
        ),
        policy=st.sampled_from(policies),
        window_days=st.integers(min_value=1, max_value=60),
    )


def counts(tp: Touchpoint, config: AttributionSettings, ids: frozenset[int]) -> bool:
    """Step 1's filter, restated independently of the implementation."""
    if tp.partner_id not in ids or tp.at > ORDER:
        return False
    if config.consent_mode is ConsentMode.RESTRICTIVE and tp.consent is not True:
        return False
    if tp.kind is TouchpointKind.COUPON:
        return True
    return ORDER - tp.at <= timedelta(days=config.cookie_lifetime_days)


@settings(max_examples=300)
@given(
    touchpoints,
    attribution_settings,
    st.none() | originals(list(FollowUpPolicy)),
    eligible,
)
def test_never_more_than_one_partner_and_only_a_named_one(
    tps: list[Touchpoint],
    config: AttributionSettings,
    original: OriginalReferral | None,
    ids: frozenset[int],
) -> None:
    decision = attribute_order(
        order_time=ORDER,
        touchpoints=tps,
        settings=config,
        original=original,
        eligible_partner_ids=ids,
    )
    assert decision.reason
    named = {t.partner_id for t in tps} | ({original.partner_id} if original else set())
    if decision.partner_id is None:
        assert decision.touchpoint is None
    else:
        assert isinstance(decision.partner_id, int)
        assert decision.partner_id in ids
        assert decision.partner_id in named
    if decision.touchpoint is not None:
        assert decision.touchpoint in tps
        assert decision.touchpoint.partner_id == decision.partner_id
        assert counts(decision.touchpoint, config, ids)


@settings(max_examples=300)
@given(touchpoints, attribution_settings, eligible)
def test_a_coupon_never_beats_a_counted_cookie_for_a_new_customer(
    tps: list[Touchpoint], config: AttributionSettings, ids: frozenset[int]
) -> None:
    decision = attribute_order(
        order_time=ORDER, touchpoints=tps, settings=config, original=None, eligible_partner_ids=ids
    )
    counted = [t for t in tps if counts(t, config, ids)]
    tracking = [t for t in counted if t.kind is not TouchpointKind.COUPON]
    assert not decision.returning_customer
    if not counted:
        assert decision.partner_id is None
        assert decision.rule is AttributionRule.NO_TOUCHPOINT
        return
    assert decision.touchpoint is not None
    if tracking:
        assert decision.touchpoint.kind is not TouchpointKind.COUPON
        assert decision.touchpoint.at == max(t.at for t in tracking)
    else:
        assert decision.touchpoint.kind is TouchpointKind.COUPON
        assert decision.touchpoint.at == max(t.at for t in counted)


@settings(max_examples=300)
@given(touchpoints, attribution_settings, originals(RESTRICTING), eligible)
def test_returning_customer_under_restricting_policies_goes_to_the_original_or_nobody(
    tps: list[Touchpoint],
    config: AttributionSettings,
    original: OriginalReferral,
    ids: frozenset[int],
) -> None:
    decision = attribute_order(
        order_time=ORDER,
        touchpoints=tps,
        settings=config,
        original=original,
        eligible_partner_ids=ids,
    )
    assert decision.returning_customer
    assert decision.partner_id in (None, original.partner_id)
    assert decision.touchpoint is None
    if original.policy is FollowUpPolicy.FIRST_ORDER_ONLY:
        assert decision.partner_id is None
    elif original.policy is FollowUpPolicy.LIFETIME:
        assert (decision.partner_id == original.partner_id) == (original.partner_id in ids)
    else:
        window_end = original.order_time + timedelta(days=original.window_days)
        inside = window_end >= ORDER
        expected = original.partner_id if inside and original.partner_id in ids else None
        assert decision.partner_id == expected


@settings(max_examples=200)
@given(touchpoints, attribution_settings, originals([FollowUpPolicy.WHENEVER_TRACKED]), eligible)
def test_whenever_tracked_follows_step_one_like_a_new_customer(
    tps: list[Touchpoint],
    config: AttributionSettings,
    original: OriginalReferral,
    ids: frozenset[int],
) -> None:
    def run(orig: OriginalReferral | None) -> tuple[int | None, Touchpoint | None]:
        d = attribute_order(
            order_time=ORDER,
            touchpoints=tps,
            settings=config,
            original=orig,
            eligible_partner_ids=ids,
        )
        return d.partner_id, d.touchpoint

    assert run(original) == run(None)
