"""The order book's pure rules (issue 12): periods, line checks, and the tracking-difference
percentage rounded once, half-up, from the exact fraction."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.errors import DomainError, ValidationFailed
from portal.domain.order_books import (
    MAX_PERIOD_DAYS,
    BookLine,
    Period,
    check_lines,
    check_period,
    tracking_difference_percent,
)

JUNE = Period(date(2024, 6, 1), date(2024, 6, 30))


def test_a_period_is_whole_utc_days_both_ends_included() -> None:
    assert JUNE.contains(datetime(2024, 6, 30, 23, 59, 59, tzinfo=UTC))
    assert not JUNE.contains(datetime(2024, 7, 1, tzinfo=UTC))
    # 01:30 in Berlin on 1 June is 23:30 UTC on 31 May: outside.
    assert not JUNE.contains(datetime.fromisoformat("2024-06-01T01:30:00+02:00"))
    assert JUNE.days == 30


def test_periods_are_checked() -> None:
    with pytest.raises(DomainError) as backwards:
        check_period(Period(date(2024, 6, 2), date(2024, 6, 1)))
    assert backwards.value.code == "INVALID_PERIOD"
    longest = Period(date(2024, 1, 1), date(2024, 1, 1) + timedelta(days=MAX_PERIOD_DAYS - 1))
    assert check_period(longest) == longest
    with pytest.raises(DomainError) as too_long:
        check_period(Period(longest.first_day, longest.last_day + timedelta(days=1)))
    assert too_long.value.code == "PERIOD_TOO_LONG"


def test_every_repetition_of_an_order_id_is_named_with_its_first_row() -> None:
    moment = datetime(2024, 6, 5, tzinfo=UTC)
    lines = [BookLine(oid, moment, Decimal(1)) for oid in ("A", "B", " A ", "A")]
    with pytest.raises(ValidationFailed) as failed:
        check_lines(lines, JUNE, limit=10, rows=[2, 3, 4, 5])
    assert [(e.code, e.field) for e in failed.value.errors] == [
        ("DUPLICATE_ORDER_ID", ("lines", "2", "orderId")),
        ("DUPLICATE_ORDER_ID", ("lines", "3", "orderId")),
    ]
    assert "row 2 and row 4" in failed.value.errors[0].message
    with pytest.raises(DomainError) as too_many:
        check_lines(lines, JUNE, limit=3)
    assert too_many.value.code == "TOO_MANY_LINES"


def test_values_fit_the_stored_decimal() -> None:
    moment = datetime(2024, 6, 5, tzinfo=UTC)
    for value in ("1e15", "0.0000001", "NaN"):
        with pytest.raises(ValidationFailed) as failed:
            check_lines([BookLine("A", moment, Decimal(value))], JUNE, limit=1)
        assert failed.value.errors[0].code == "INVALID_AMOUNT", value
    [line] = check_lines([BookLine(" A ", moment, Decimal("0.000001"), "usd")], JUNE, limit=1)
    assert (line.order_id, line.currency) == ("A", "USD")


def test_the_percentage_is_rounded_once_half_up() -> None:
    assert tracking_difference_percent(0, 0) is None
    assert tracking_difference_percent(4, 7) == Decimal("57.14")
    assert tracking_difference_percent(2, 3) == Decimal("66.67")
    assert tracking_difference_percent(1, 8) == Decimal("12.50")
    assert tracking_difference_percent(1, 80_000) == Decimal("0.00")  # 0.00125
    assert tracking_difference_percent(1, 40_000) == Decimal("0.00")  # 0.0025 → 0.00
    assert tracking_difference_percent(1, 400) == Decimal("0.25")
    assert tracking_difference_percent(1, 1600) == Decimal("0.06")  # 0.0625 → 0.06
    assert tracking_difference_percent(1, 200_000) == Decimal("0.00")  # 0.0005
    assert tracking_difference_percent(1, 2_000) == Decimal("0.05")
    assert tracking_difference_percent(3, 3) == Decimal("100.00")


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=10**6))
def test_the_percentage_equals_the_exact_fraction_rounded(untracked: int, book: int) -> None:
    from decimal import ROUND_HALF_UP, localcontext
    from fractions import Fraction

    exact = Fraction(untracked * 100, book)
    with localcontext() as context:
        context.prec = 60
        expected = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
    assert tracking_difference_percent(untracked, book) == expected
