from datetime import date, datetime
from decimal import Context, Decimal

import pytest

from portal.domain.errors import DomainError
from portal.domain.exchange_rates import (
    CROSS_RATE_PRECISION,
    FALLBACK_DAYS,
    ExchangeRate,
    RateTable,
    ReferenceRate,
    convert_amount,
    required_window,
)

FRI_13 = date(2026, 11, 13)
THU_19 = date(2026, 11, 19)
FRI_20 = date(2026, 11, 20)
SAT_21 = date(2026, 11, 21)
SUN_22 = date(2026, 11, 22)
MON_23 = date(2026, 11, 23)


def eur(currency: str, day: date, rate: str) -> ReferenceRate:
    return ReferenceRate("EUR", currency, day, Decimal(rate))


@pytest.fixture
def table() -> RateTable:
    return RateTable(
        "EUR",
        [
            eur("USD", FRI_13, "1.0790"),
            eur("USD", THU_19, "1.0811"),
            eur("USD", FRI_20, "1.0823"),
            eur("GBP", THU_19, "0.85060"),
            eur("GBP", FRI_20, "0.85120"),
            eur("JPY", FRI_20, "163.12"),
            eur("CHF", FRI_13, "0.9364"),  # the only CHF rate
        ],
    )


def test_the_rate_of_the_day_itself(table: RateTable) -> None:
    assert table.rate_on("USD", FRI_20) == (Decimal("1.0823"), FRI_20)
    assert table.rate_on("USD", THU_19) == (Decimal("1.0811"), THU_19)


@pytest.mark.parametrize("day", [SAT_21, SUN_22, MON_23])
def test_a_weekend_or_a_day_without_rates_uses_the_friday(table: RateTable, day: date) -> None:
    assert table.rate_on("USD", day) == (Decimal("1.0823"), FRI_20)


def test_a_rate_seven_days_old_still_applies(table: RateTable) -> None:
    assert FALLBACK_DAYS == 7
    assert table.rate_on("CHF", FRI_20) == (Decimal("0.9364"), FRI_13)


def test_a_rate_eight_days_old_is_missing_naming_currency_and_date(table: RateTable) -> None:
    with pytest.raises(DomainError) as raised:
        table.rate_on("CHF", SAT_21)
    assert raised.value.code == "MISSING_EXCHANGE_RATE"
    assert "CHF" in raised.value.message
    assert "2026-11-21" in raised.value.message
    assert raised.value.field == ("currency",)


def test_a_later_rate_is_never_used_for_an_earlier_day(table: RateTable) -> None:
    with pytest.raises(DomainError) as raised:
        table.rate_on("JPY", THU_19)
    assert raised.value.code == "MISSING_EXCHANGE_RATE"
    assert "JPY" in raised.value.message
    assert "2026-11-19" in raised.value.message


def test_a_currency_without_any_rate_is_missing(table: RateTable) -> None:
    with pytest.raises(DomainError) as raised:
        table.rate_on("SEK", FRI_20)
    assert raised.value.code == "MISSING_EXCHANGE_RATE"


def test_a_code_that_is_no_currency_is_unknown(table: RateTable) -> None:
    with pytest.raises(DomainError) as raised:
        table.rate_on("XYZ", FRI_20)
    assert raised.value.code == "UNKNOWN_CURRENCY"


def test_the_base_currency_is_one_on_any_day() -> None:
    empty = RateTable("EUR", [])
    assert empty.rate_on("EUR", date(1999, 1, 4)) == (Decimal(1), date(1999, 1, 4))


def test_the_same_currency_converts_at_one(table: RateTable) -> None:
    # Even without any rate for that currency.
    assert table.cross_rate("SEK", "SEK", SAT_21) == (Decimal(1), SAT_21)
    rate = table.exchange_rate("SEK", "SEK", SAT_21)
    assert rate == ExchangeRate.identity("SEK", SAT_21)
    assert convert_amount(Decimal("12.345"), rate) == Decimal("12.345")


def test_from_the_base_the_rate_is_the_reference_rate_itself(table: RateTable) -> None:
    assert table.cross_rate("EUR", "USD", SUN_22) == (Decimal("1.0823"), FRI_20)


def test_to_the_base_the_rate_is_the_inverse(table: RateTable) -> None:
    rate, day = table.cross_rate("USD", "EUR", FRI_20)
    assert day == FRI_20
    assert rate == Context(prec=CROSS_RATE_PRECISION).divide(Decimal(1), Decimal("1.0823"))
    assert abs(rate * Decimal("1.0823") - 1) < Decimal("1e-30")


def test_a_cross_rate_goes_through_the_base_without_early_rounding(table: RateTable) -> None:
    rate, day = table.cross_rate("USD", "GBP", FRI_20)
    assert day == FRI_20
    assert rate == Context(prec=CROSS_RATE_PRECISION).divide(Decimal("0.85120"), Decimal("1.0823"))
    assert len(rate.as_tuple().digits) >= 28
    assert abs(rate * Decimal("1.0823") - Decimal("0.85120")) < Decimal("1e-27")


def test_a_cross_rate_reports_the_older_of_the_two_days() -> None:
    table = RateTable("EUR", [eur("USD", THU_19, "1.0811"), eur("GBP", FRI_20, "0.85120")])
    assert table.cross_rate("USD", "GBP", SAT_21)[1] == THU_19
    assert table.cross_rate("GBP", "USD", SAT_21)[1] == THU_19


def test_a_cross_rate_needs_both_rates(table: RateTable) -> None:
    with pytest.raises(DomainError) as raised:
        table.cross_rate("USD", "CHF", SAT_21)
    assert raised.value.code == "MISSING_EXCHANGE_RATE"
    assert "CHF" in raised.value.message


def test_convert_keeps_the_exact_amount(table: RateTable) -> None:
    rate = table.exchange_rate("EUR", "USD", SAT_21)
    assert convert_amount(Decimal("100.005"), rate) == Decimal("108.2354115")  # not rounded
    assert rate.rate == Decimal("1.0823")
    assert rate.day == FRI_20


def test_convert_does_not_round_even_beyond_the_default_precision() -> None:
    amount = Decimal("123456789012345.123456")
    table = RateTable("EUR", [eur("GBP", FRI_20, "0.851234567891")])
    rate = table.exchange_rate("EUR", "GBP", FRI_20)
    exact = Context(prec=100).multiply(amount, Decimal("0.851234567891"))
    assert convert_amount(amount, rate) == exact
    assert convert_amount(amount, rate) != amount * Decimal("0.851234567891")  # 28 digits round


def test_convert_to_a_currency_without_minor_units_is_not_rounded(table: RateTable) -> None:
    rate = table.exchange_rate("EUR", "JPY", FRI_20)
    assert convert_amount(Decimal("10.01"), rate) == Decimal("1632.8312")
    assert convert_amount(Decimal("10.01"), rate, rounded=True) == Decimal("1633")


def test_convert_refuses_a_float(table: RateTable) -> None:
    with pytest.raises(TypeError):
        convert_amount(1.5, table.exchange_rate("EUR", "USD", FRI_20))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("123.03", "102.53"), ("0.03", "0.03"), ("0.06", "0.05"), ("1.20", "1.00")],
)
def test_into_the_base_divides_and_rounds_exact_halves_up(amount: str, expected: str) -> None:
    # USD 123.03 at 1.2000 is exactly EUR 102.525; 0.03 is exactly 0.025 (both half-up);
    # a reciprocal cut to 34 digits made them 102.52 and 0.02.
    table = RateTable("EUR", [eur("USD", FRI_20, "1.2000")])
    rate = table.exchange_rate("USD", "EUR", FRI_20)
    assert (rate.multiplier, rate.divisor) == (Decimal(1), Decimal("1.2000"))
    assert convert_amount(Decimal(amount), rate, rounded=True) == Decimal(expected)


def test_a_cross_rate_divides_once() -> None:
    table = RateTable("EUR", [eur("USD", FRI_20, "1.2000"), eur("GBP", FRI_20, "0.8000")])
    rate = table.exchange_rate("USD", "GBP", FRI_20)
    assert (rate.multiplier, rate.divisor) == (Decimal("0.8000"), Decimal("1.2000"))
    # 123.03 × 0.8 ÷ 1.2 = 82.02 exactly
    assert convert_amount(Decimal("123.03"), rate) == Decimal("82.02")
    assert convert_amount(Decimal("0.03"), rate, rounded=True) == Decimal("0.02")  # 0.02 exactly


def test_the_rate_a_conversion_keeps_is_rounded_to_twelve_places() -> None:
    table = RateTable("EUR", [eur("USD", FRI_20, "1.2000")])
    assert table.exchange_rate("USD", "EUR", FRI_20).rate == Decimal("0.833333333333")
    assert table.exchange_rate("EUR", "USD", FRI_20).rate == Decimal("1.200000000000")


def test_a_datetime_is_not_a_day(table: RateTable) -> None:
    with pytest.raises(TypeError):
        table.rate_on("USD", datetime(2026, 11, 20, 12, 0))


def test_required_window_covers_exactly_the_fallback_days() -> None:
    assert required_window(FRI_20) == (FRI_13, FRI_20)


def test_the_rows_of_the_required_window_are_enough(table: RateTable) -> None:
    first, last = required_window(FRI_20)
    rows = [
        eur("USD", date(2026, 11, 12), "1.0700"),  # outside the window: must not matter
        eur("CHF", FRI_13, "0.9364"),
        eur("USD", FRI_20, "1.0823"),
    ]
    windowed = RateTable("EUR", [row for row in rows if first <= row.day <= last])
    assert windowed.rate_on("CHF", FRI_20) == table.rate_on("CHF", FRI_20)
    assert windowed.rate_on("USD", FRI_20) == table.rate_on("USD", FRI_20)


def test_two_different_rates_for_one_day_are_refused() -> None:
    with pytest.raises(DomainError) as raised:
        RateTable("EUR", [eur("USD", FRI_20, "1.0823"), eur("USD", FRI_20, "1.0824")])
    assert raised.value.code == "CONFLICTING_EXCHANGE_RATE"


def test_the_same_rate_twice_is_accepted() -> None:
    table = RateTable("EUR", [eur("USD", FRI_20, "1.0823"), eur("USD", FRI_20, "1.08230")])
    assert table.rate_on("USD", FRI_20)[0] == Decimal("1.0823")


def test_a_rate_of_another_base_is_refused() -> None:
    with pytest.raises(DomainError) as raised:
        RateTable("EUR", [ReferenceRate("USD", "GBP", FRI_20, Decimal("0.79"))])
    assert raised.value.code == "INVALID_EXCHANGE_RATE"


@pytest.mark.parametrize("rate", ["0", "-1.08", "NaN", "Infinity"])
def test_a_reference_rate_must_be_positive_and_finite(rate: str) -> None:
    with pytest.raises(DomainError) as raised:
        eur("USD", FRI_20, rate)
    assert raised.value.code == "INVALID_EXCHANGE_RATE"


def test_a_reference_rate_is_never_a_float() -> None:
    with pytest.raises(TypeError):
        ReferenceRate("EUR", "USD", FRI_20, 1.0823)  # type: ignore[arg-type]


def test_a_reference_rate_of_the_base_against_itself_is_refused() -> None:
    with pytest.raises(DomainError) as raised:
        eur("EUR", FRI_20, "1")
    assert raised.value.code == "INVALID_EXCHANGE_RATE"
