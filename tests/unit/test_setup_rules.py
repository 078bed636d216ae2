"""Rules behind the setup mutations, without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from portal.domain.commission import CommissionRate, validate_rate
from portal.domain.errors import DomainError
from portal.domain.partners import RelationshipStatus as S
from portal.domain.partners import check_new_relationship, revise_follow_up
from portal.domain.programs import ConsentMode, FollowUpPolicy, Program, validate_name

PROGRAM = Program(
    id=1,
    advertiser_id=1,
    name="Shop",
    currency="EUR",
    cookie_lifetime_days=30,
    consent_mode=ConsentMode.RELAXED,
    follow_up_policy=FollowUpPolicy.WHENEVER_TRACKED,
    follow_up_window_days=30,
    allow_self_acceptance=False,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def code_of(error: pytest.ExceptionInfo[DomainError]) -> tuple[str, tuple[str, ...]]:
    return error.value.code, error.value.field


def test_revised_program_changes_only_what_is_given() -> None:
    revised = PROGRAM.revised(name=" Shop DE ", follow_up_policy=FollowUpPolicy.LIFETIME)
    assert (revised.name, revised.follow_up_policy) == ("Shop DE", FollowUpPolicy.LIFETIME)
    assert revised.cookie_lifetime_days == 30 and revised.consent_mode is ConsentMode.RELAXED


def test_revised_program_keeps_false_and_zero_distinct_from_none() -> None:
    allowed = PROGRAM.revised(allow_self_acceptance=True)
    assert allowed.revised(allow_self_acceptance=False).allow_self_acceptance is False
    with pytest.raises(DomainError) as error:
        PROGRAM.revised(cookie_lifetime_days=0)
    assert code_of(error) == ("OUT_OF_RANGE", ("cookieLifetimeDays",))


@pytest.mark.parametrize("status", [S.APPLIED, S.PAUSED, S.REJECTED])
def test_a_new_relationship_starts_active_or_blocked(status: S) -> None:
    with pytest.raises(DomainError) as error:
        check_new_relationship(status, 1)
    assert code_of(error) == ("INVALID_TRANSITION", ("status",))
    check_new_relationship(S.ACTIVE, 1)
    check_new_relationship(S.BLOCKED, None)


def test_an_invitation_needs_a_model() -> None:
    with pytest.raises(DomainError) as error:
        check_new_relationship(S.ACTIVE, None)
    assert code_of(error) == ("COMMISSION_MODEL_REQUIRED", ("commissionModelId",))


def test_follow_up_override_parts_are_kept_replaced_or_cleared() -> None:
    current = (FollowUpPolicy.LIFETIME, 90)
    assert revise_follow_up(current, None, None, False) == current
    assert revise_follow_up(current, None, 10, False) == (FollowUpPolicy.LIFETIME, 10)
    assert revise_follow_up(current, FollowUpPolicy.FIRST_ORDER_ONLY, None, False) == (
        FollowUpPolicy.FIRST_ORDER_ONLY,
        90,
    )
    assert revise_follow_up(current, None, None, True) == (None, None)


@pytest.mark.parametrize("window", [0, 3651])
def test_follow_up_window_is_one_to_3650_days(window: int) -> None:
    with pytest.raises(DomainError) as error:
        revise_follow_up((None, None), None, window, False)
    assert code_of(error) == ("OUT_OF_RANGE", ("followUpWindowDays",))
    assert revise_follow_up((None, None), None, 3650, False) == (None, 3650)


def test_clearing_and_setting_the_override_at_once_is_a_conflict() -> None:
    with pytest.raises(DomainError) as error:
        revise_follow_up((None, None), None, 5, True)
    assert code_of(error) == ("CONFLICTING_INPUT", ("clearFollowUpOverride",))


@pytest.mark.parametrize(
    ("percentage", "ok"),
    [("12.3456", True), ("12.34560", True), ("1E+1", True), ("12.34567", False)],
)
def test_percentages_have_at_most_four_decimal_places(percentage: str, ok: bool) -> None:
    rate = CommissionRate("LEAD", "default", Decimal(percentage), None)
    if ok:
        validate_rate(rate, 0)
        return
    with pytest.raises(DomainError) as error:
        validate_rate(rate, 3)
    assert code_of(error) == ("TOO_PRECISE", ("rates", "3", "percentage"))


def test_names_are_trimmed_and_bounded() -> None:
    assert validate_name("  Premium ") == "Premium"
    with pytest.raises(DomainError) as error:
        validate_name("x" * 501, ("text",), max_length=500)
    assert code_of(error) == ("TOO_LONG", ("text",))
