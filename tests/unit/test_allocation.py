"""Allocation of amounts to minor units (`money.allocate`, `money.spread`): integer arithmetic
on the decimals' digits gives what the exact rationals give — floors, then the missing units
to the largest remainders, ties to the earlier position."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.money import allocate, spread

UNITS = st.sampled_from([Decimal("0.01"), Decimal("1"), Decimal("0.001"), Decimal("0.0001")])
AMOUNTS = st.decimals(
    min_value=Decimal("-1000"), max_value=Decimal("100000"), places=6, allow_nan=False
)
WEIGHTS = st.decimals(min_value=Decimal(0), max_value=Decimal("50000"), places=4, allow_nan=False)


def _reference(exact: list[Fraction], total: Fraction, unit: Fraction) -> list[Decimal]:
    floors = [(a // unit) for a in exact]
    rests = [a - f * unit for a, f in zip(exact, floors, strict=True)]
    difference = (total - sum(f * unit for f in floors)) / unit
    missing = int(difference)  # toward zero
    each, extra = divmod(missing, len(exact))
    order = sorted(range(len(exact)), key=lambda i: (-rests[i], i))[:extra]
    counts = [f + each + (1 if i in order else 0) for i, f in enumerate(floors)]
    unit_decimal = Decimal(unit.numerator) / Decimal(unit.denominator)
    return [(unit_decimal * c).quantize(unit_decimal) for c in counts]


@settings(max_examples=500, deadline=None)
@given(st.lists(AMOUNTS, min_size=2, max_size=12), UNITS, st.integers(-3, 3))
def test_allocate_is_the_exact_largest_remainder(
    amounts: list[Decimal], unit: Decimal, shift: int
) -> None:
    total = (sum(amounts, Decimal(0)) / unit).to_integral_value() * unit + shift * unit
    got = allocate(amounts, total, unit)
    assert got == _reference([Fraction(a) for a in amounts], Fraction(total), Fraction(unit))
    assert sum(got, Decimal(0)) == total
    assert all(g == g.quantize(unit) for g in got)


@settings(max_examples=500, deadline=None)
@given(st.lists(WEIGHTS, min_size=1, max_size=12), UNITS, st.integers(0, 10**7))
def test_spread_shares_the_exact_fractions(weights: list[Decimal], unit: Decimal, n: int) -> None:
    total = unit * n
    got = spread(total, weights, unit)
    whole = sum(Fraction(w) for w in weights)
    fractions = (
        [Fraction(total) * Fraction(w) / whole for w in weights]
        if whole
        else [Fraction(total) / len(weights)] * len(weights)
    )
    assert got == _reference(fractions, Fraction(total), Fraction(unit))
    assert sum(got, Decimal(0)) == total


def test_ties_go_to_the_earlier_position_whatever_the_magnitudes() -> None:
    """1/3 of a unit left over on a share of 12.333… and on one of 1.333…: the earlier one."""
    got = spread(Decimal("13.67"), [Decimal(37), Decimal(4), Decimal("0.01")], Decimal("0.01"))
    assert sum(got) == Decimal("13.67")
    assert got == _reference(
        [
            Fraction(1367, 100) * Fraction(w) / Fraction(4101, 100)
            for w in (37, 4, Fraction(1, 100))
        ],
        Fraction(1367, 100),
        Fraction(1, 100),
    )
