"""Daily reference exchange rates and currency conversion (SPEC §3).

Rates are quoted against one base currency (the ECB publishes EUR-based rates): a
`ReferenceRate` says how many units of `currency` one unit of `base` buys on `day`. A day
without a published rate (weekend, holiday) uses the latest earlier rate not older than
`FALLBACK_DAYS` days; older than that is a `MISSING_EXCHANGE_RATE` error naming the currency
and the date.

Nothing here rounds an amount: a conversion's amount is exact, and the caller rounds once, at the
end of its computation (`portal.domain.money.round_half_up`). The only inexact step is the
division of a cross rate (source and target both other than the base), which is carried out with
`CROSS_RATE_PRECISION` significant digits.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, Inexact

from portal.domain.errors import DomainError
from portal.domain.money import require_currency

FALLBACK_DAYS = 7
"""A rate published at most this many days before the requested day still applies."""

CROSS_RATE_PRECISION = 34
"""Significant digits of a cross rate (target per source, computed through the base)."""

_DIVISION = Context(prec=CROSS_RATE_PRECISION, rounding=ROUND_HALF_EVEN)
_ONE = Decimal(1)


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
class CurrencyConversion:
    """The result of converting an amount from one currency to another."""

    amount: Decimal
    """The converted amount, exact (not rounded: the caller rounds once at the end)."""
    rate: Decimal
    """The rate applied: units of the target currency per one unit of the source currency."""
    rate_day: date
    """The reference day whose rates were used (the older one for a cross rate)."""


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

    def cross_rate(self, source: str, target: str, day: date) -> tuple[Decimal, date]:
        """Units of `target` per one unit of `source` on `day`, computed through the base as
        rate(target) / rate(source) with `CROSS_RATE_PRECISION` significant digits, and the day
        of the rates used: the older of the two when they differ. The same currency is 1."""
        require_currency(source)
        require_currency(target)
        _require_day(day)
        if source == target:
            return _ONE, day
        source_rate, source_day = self.rate_on(source, day)
        target_rate, target_day = self.rate_on(target, day)
        if source == self._base:
            return target_rate, target_day
        return _DIVISION.divide(target_rate, source_rate), min(source_day, target_day)

    def convert(self, amount: Decimal, source: str, target: str, day: date) -> CurrencyConversion:
        """Convert `amount` of `source` into `target` with the rates of `day`. The converted
        amount is the exact product of `amount` and the applied rate; nothing is rounded."""
        _require_decimal(amount, "the amount")
        rate, rate_day = self.cross_rate(source, target, day)
        return CurrencyConversion(amount=_exact_product(amount, rate), rate=rate, rate_day=rate_day)
