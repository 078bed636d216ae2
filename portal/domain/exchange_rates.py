"""Daily reference exchange rates and currency conversion (SPEC §3).

Rates are quoted against one base currency (the ECB publishes EUR-based rates): a
`ReferenceRate` says how many units of `currency` one unit of `base` buys on `day`. A day
without a published rate (weekend, holiday) uses the latest earlier rate not older than
`FALLBACK_DAYS` days; older than that is a `MISSING_EXCHANGE_RATE` error naming the currency
and the date.

Money changes currency in one place, `convert_amount`: out of the base it multiplies by the
target's reference rate, into the base it divides by the source's, and between two other
currencies it multiplies by the one and divides once by the other — never by a reciprocal cut
to some digits. It rounds once, when asked, from the exact quotient.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, Inexact
from fractions import Fraction

from portal.domain.errors import DomainError
from portal.domain.money import require_currency, round_quotient

FALLBACK_DAYS = 7
"""A rate published at most this many days before the requested day still applies."""

CROSS_RATE_PRECISION = 34
"""Significant digits of a cross rate shown as one number (`RateTable.cross_rate`)."""

QUOTIENT_PRECISION = 60
"""Significant digits of an unrounded converted amount that needs a division: a quotient that
ends within them is exact (123.03 ÷ 1.2 = 102.525); `convert_amount(..., rounded=True)` is
exact whatever the quotient."""

RATE_PLACES = 12
"""Decimal places of the rate a conversion keeps and shows (`ExchangeRate.rate`): a label of
the conversion, rounded half-up. Amounts are never computed from it."""

_DIVISION = Context(prec=CROSS_RATE_PRECISION, rounding=ROUND_HALF_EVEN)
_QUOTIENT = Context(prec=QUOTIENT_PRECISION, rounding=ROUND_HALF_EVEN)
_ONE = Decimal(1)
_RATE_UNIT = Decimal(1).scaleb(-RATE_PLACES)


def _require_day(day: date) -> date:
    # A datetime is a date subclass but does not compare with dates: refuse it early.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a date, got {type(day).__name__}")
    return day


def _require_decimal(value: Decimal, what: str) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"{what} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise DomainError("INVALID_AMOUNT", f"{what} {value} is not a finite number", ("amount",))
    return value


def _exact_product(a: Decimal, b: Decimal) -> Decimal:
    """a × b without any rounding (the default context would round to 28 digits)."""
    digits = len(a.as_tuple().digits) + len(b.as_tuple().digits)
    context = Context(prec=max(digits, 28), traps=[Inexact])
    return context.multiply(a, b)


def required_window(day: date) -> tuple[date, date]:
    """The first and last day (both inclusive) whose rates `RateTable.rate_on(…, day)` may use,
    so that a repository can load only those rows."""
    _require_day(day)
    return day - timedelta(days=FALLBACK_DAYS), day


@dataclass(frozen=True, slots=True)
class ReferenceRate:
    """Units of `currency` per one unit of `base` on `day` (ECB: base EUR, e.g. USD 1.0823)."""

    base: str
    currency: str
    day: date
    rate: Decimal

    def __post_init__(self) -> None:
        require_currency(self.base, ("base",))
        require_currency(self.currency)
        _require_day(self.day)
        if not isinstance(self.rate, Decimal):
            raise TypeError(f"a rate must be a Decimal, not {type(self.rate).__name__}")
        if self.currency == self.base:
            raise DomainError(
                "INVALID_EXCHANGE_RATE",
                f"a rate of {self.base} against itself is always 1 and is not stored",
                ("currency",),
            )
        if not self.rate.is_finite() or self.rate <= 0:
            raise DomainError(
                "INVALID_EXCHANGE_RATE",
                f"the {self.currency} rate of {self.day.isoformat()} must be a positive number,"
                f" not {self.rate}",
                ("rate",),
            )


@dataclass(frozen=True, slots=True)
class ExchangeRate:
    """How an amount of `source` becomes an amount of `target`: × `multiplier` ÷ `divisor`,
    the two reference rates against one base (units per one unit of the base; the base itself
    is 1). EUR → USD at 1.0823: × 1.0823 ÷ 1; USD → EUR: × 1 ÷ 1.0823; USD → GBP: × 0.8512 ÷
    1.0823. `day` is the reference day used (the older of the two for a cross rate)."""

    source: str
    target: str
    multiplier: Decimal
    divisor: Decimal
    day: date

    @classmethod
    def identity(cls, currency: str, day: date) -> ExchangeRate:
        return cls(currency, currency, _ONE, _ONE, day)

    @property
    def is_identity(self) -> bool:
        return self.multiplier == self.divisor

    @property
    def rate(self) -> Decimal:
        """Units of `target` per unit of `source`, rounded half-up to `RATE_PLACES` places:
        what a conversion keeps and shows. Amounts are converted with `convert_amount`."""
        return _DIVISION.divide(self.multiplier, self.divisor).quantize(
            _RATE_UNIT, rounding=ROUND_HALF_UP
        )

    def snapshot(self) -> dict[str, str]:
        """The rate as plain values, for a conversion's commission breakdown: amounts of
        `originalCurrency` were converted × `multiplier` ÷ `divisor` (`rate` rounded)."""
        return {
            "originalCurrency": self.source,
            "currency": self.target,
            "multiplier": str(self.multiplier),
            "divisor": str(self.divisor),
            "rate": str(self.rate),
            "rateDay": self.day.isoformat(),
        }


def convert_amount(amount: Decimal, rate: ExchangeRate, *, rounded: bool = False) -> Decimal:
    """`amount` of `rate.source` in `rate.target`: amount × multiplier ÷ divisor. The product is
    exact and there is at most one division. `rounded`: rounded once, half away from zero, to
    the target currency's minor unit, from the exact quotient (USD 123.03 at an ECB rate of
    1.2000 is exactly EUR 102.525 and gives 102.53; USD 0.03 gives EUR 0.03). Unrounded, a
    quotient that does not end within `QUOTIENT_PRECISION` digits is carried to them: round
    with `rounded=True`, not afterwards, wherever the amount is final."""
    _require_decimal(amount, "the amount")
    product = amount if rate.multiplier == _ONE else _exact_product(amount, rate.multiplier)
    if rounded:
        return round_quotient(product, rate.divisor, rate.target)
    if rate.divisor == _ONE:
        return product
    return _QUOTIENT.divide(product, rate.divisor)


def convert_exactly(amount: Decimal, rate: ExchangeRate) -> Fraction:
    """`amount` of `rate.source` in `rate.target` exactly (amount × multiplier ÷ divisor, as in
    `convert_amount`), as a fraction: for sums of converted amounts at different rates (the
    statistics of many days), which must stay exact until they are rounded once, with
    `round_quotient(numerator, denominator, currency)`."""
    _require_decimal(amount, "the amount")
    return Fraction(amount) * Fraction(rate.multiplier) / Fraction(rate.divisor)


class RateTable:
    """An in-memory view of the reference rates of one base currency."""

    __slots__ = ("_base", "_days", "_rates")

    def __init__(self, base: str, rates: Iterable[ReferenceRate]) -> None:
        self._base = require_currency(base, ("base",))
        by_currency: dict[str, dict[date, Decimal]] = {}
        for row in rates:
            if row.base != base:
                raise DomainError(
                    "INVALID_EXCHANGE_RATE",
                    f"a {row.base}-based rate cannot go into a table of {base}-based rates",
                    ("base",),
                )
            days = by_currency.setdefault(row.currency, {})
            known = days.get(row.day)
            if known is not None and known != row.rate:
                raise DomainError(
                    "CONFLICTING_EXCHANGE_RATE",
                    f"two different {row.currency} rates for {row.day.isoformat()}:"
                    f" {known} and {row.rate}",
                    ("rate",),
                )
            days[row.day] = row.rate
        self._days: dict[str, list[date]] = {}
        self._rates: dict[str, list[Decimal]] = {}
        for currency, days in by_currency.items():
            ordered = sorted(days)
            self._days[currency] = ordered
            self._rates[currency] = [days[d] for d in ordered]

    @property
    def base(self) -> str:
        return self._base

    @property
    def currencies(self) -> frozenset[str]:
        """The currencies with at least one rate (the base itself not included)."""
        return frozenset(self._days)

    def rate_on(self, currency: str, day: date) -> tuple[Decimal, date]:
        """Units of `currency` per one unit of the base on `day`, and the day that rate is of:
        the rate of `day` itself, else the latest earlier one at most `FALLBACK_DAYS` days older
        (day − 7 still applies, day − 8 does not). The base currency is 1 on every day.

        Raises `DomainError("MISSING_EXCHANGE_RATE")` naming the currency and the date when
        there is no such rate, and `UNKNOWN_CURRENCY` for a code that is not ISO 4217."""
        require_currency(currency)
        _require_day(day)
        if currency == self._base:
            return _ONE, day
        days = self._days.get(currency, [])
        index = bisect.bisect_right(days, day) - 1
        if index >= 0 and (day - days[index]).days <= FALLBACK_DAYS:
            return self._rates[currency][index], days[index]
        raise DomainError(
            "MISSING_EXCHANGE_RATE",
            f"no {currency} exchange rate (against {self._base}) for {day.isoformat()}"
            f" or the {FALLBACK_DAYS} days before it",
            ("currency",),
        )

    def exchange_rate(self, source: str, target: str, day: date) -> ExchangeRate:
        """How `source` converts into `target` with the rates of `day` (see `rate_on` for the
        fallback); the same currency converts at 1 on any day."""
        require_currency(source)
        require_currency(target)
        _require_day(day)
        if source == target:
            return ExchangeRate.identity(source, day)
        divisor, source_day = self.rate_on(source, day)
        multiplier, target_day = self.rate_on(target, day)
        return ExchangeRate(source, target, multiplier, divisor, min(source_day, target_day))

    def cross_rate(self, source: str, target: str, day: date) -> tuple[Decimal, date]:
        """Units of `target` per one unit of `source` on `day` as one number, computed through
        the base as rate(target) / rate(source) with `CROSS_RATE_PRECISION` significant digits
        (to show it; amounts go through `convert_amount`), and the day of the rates used."""
        rate = self.exchange_rate(source, target, day)
        if rate.divisor == _ONE:
            return rate.multiplier, rate.day
        return _DIVISION.divide(rate.multiplier, rate.divisor), rate.day
