"""`convert_amount` against exact rational arithmetic (`fractions.Fraction`): into the base it
divides, out of it it multiplies, across two currencies it multiplies by one rate and divides
once by the other, and it rounds once, half away from zero, to the target's minor unit — for
random amounts, reference rates and currencies with 0, 2 and 3 minor digits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.exchange_rates import RateTable, ReferenceRate, convert_amount
from portal.domain.money import minor_units, round_quotient

DAY = date(2026, 11, 20)
# EUR is the base; JPY has 0 minor digits, USD/GBP 2, KWD/BHD 3.
CURRENCIES = ("EUR", "USD", "GBP", "JPY", "KWD", "BHD")


def half_up(value: Fraction, places: int) -> Fraction:
    """The exact value rounded half away from zero to `places` decimals."""
    scaled = abs(value) * 10**places
    whole = scaled.numerator // scaled.denominator
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    return Fraction(whole if value >= 0 else -whole, 10**places)


def terminates(value: Fraction) -> bool:
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    return denominator == 1


def amounts(currency: str) -> st.SearchStrategy[Decimal]:
    places = minor_units(currency)
    return st.integers(min_value=0, max_value=10**12).map(lambda n: Decimal(n).scaleb(-places))


rates = st.builds(
    lambda digits, places: Decimal(digits).scaleb(-places),
    st.integers(min_value=1, max_value=9_999_999),
    st.integers(min_value=0, max_value=6),
)


@st.composite
def conversions(draw: st.DrawFn) -> tuple[Decimal, str, str, dict[str, Decimal]]:
    source = draw(st.sampled_from(CURRENCIES))
    target = draw(st.sampled_from(CURRENCIES))
    quotes = {c: draw(rates) for c in CURRENCIES if c != "EUR"}
    return draw(amounts(source)), source, target, quotes


@settings(max_examples=400, deadline=None)
@given(conversions())
def test_rounded_conversion_equals_exact_rational_rounding(
    case: tuple[Decimal, str, str, dict[str, Decimal]],
) -> None:
    amount, source, target, quotes = case
    table = RateTable("EUR", [ReferenceRate("EUR", c, DAY, r) for c, r in quotes.items()])
    rate = table.exchange_rate(source, target, DAY)
    per_base = {**{c: Fraction(r) for c, r in quotes.items()}, "EUR": Fraction(1)}
    exact = Fraction(amount) * per_base[target] / per_base[source]

    rounded = convert_amount(amount, rate, rounded=True)

    assert Fraction(rounded) == half_up(exact, minor_units(target))
    assert -rounded.as_tuple().exponent == minor_units(target)  # type: ignore[operator]
    unrounded = convert_amount(amount, rate)
    if terminates(exact):
        assert Fraction(unrounded) == exact  # a quotient that ends is exact, never cut short


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.integers(min_value=0, max_value=8),
    rates,
    st.sampled_from(CURRENCIES),
)
def test_round_quotient_is_the_exact_half_up_rounding(
    digits: int, places: int, divisor: Decimal, currency: str
) -> None:
    numerator = Decimal(digits).scaleb(-places)
    exact = Fraction(numerator) / Fraction(divisor)
    assert Fraction(round_quotient(numerator, divisor, currency)) == half_up(
        exact, minor_units(currency)
    )
