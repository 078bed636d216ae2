"""Commission models: named sets of rates with non-overlapping validity periods (SPEC §4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from portal.domain.errors import DomainError


@dataclass(frozen=True, slots=True)
class CommissionRate:
    """The rate for one (target × category): a percentage of the net order value and/or a fixed
    amount in the program currency."""

    target: str
    category: str
    percentage: Decimal | None
    fixed_amount: Decimal | None


@dataclass(frozen=True, slots=True)
class CommissionPeriod:
    """Rates valid from `valid_from` (inclusive) until `valid_to` (exclusive; None = open)."""

    id: int
    model_id: int
    valid_from: datetime
    valid_to: datetime | None
    rates: tuple[CommissionRate, ...]

    def contains(self, instant: datetime) -> bool:
        return self.valid_from <= instant and (self.valid_to is None or instant < self.valid_to)

    def overlaps(self, valid_from: datetime, valid_to: datetime | None) -> bool:
        starts_before_other_ends = valid_to is None or self.valid_from < valid_to
        ends_after_other_starts = self.valid_to is None or valid_from < self.valid_to
        return starts_before_other_ends and ends_after_other_starts


@dataclass(frozen=True, slots=True)
class CommissionModel:
    id: int
    program_id: int
    name: str
    discount_rating: bool
    periods: tuple[CommissionPeriod, ...]

    def period_at(self, instant: datetime) -> CommissionPeriod | None:
        for period in self.periods:
            if period.contains(instant):
                return period
        return None


# Stored exactly as NUMERIC(9, 4): more places would be rounded away silently.
PERCENTAGE_PLACES = 4


def _decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def validate_rate(rate: CommissionRate, index: int) -> None:
    field = ("rates", str(index))
    if rate.percentage is None and rate.fixed_amount is None:
        raise DomainError("RATE_EMPTY", "a rate needs a percentage or a fixed amount", field)
    if rate.percentage is not None and not Decimal(0) <= rate.percentage <= Decimal(100):
        raise DomainError(
            "OUT_OF_RANGE", "a percentage is between 0 and 100", (*field, "percentage")
        )
    if rate.percentage is not None and _decimal_places(rate.percentage) > PERCENTAGE_PLACES:
        raise DomainError(
            "TOO_PRECISE",
            f"a percentage has at most {PERCENTAGE_PLACES} decimal places",
            (*field, "percentage"),
        )
    if rate.fixed_amount is not None and rate.fixed_amount < 0:
        raise DomainError(
            "NEGATIVE_VALUE", "a fixed amount must not be negative", (*field, "fixedAmount")
        )


def validate_new_period(
    existing: Sequence[CommissionPeriod],
    valid_from: datetime,
    valid_to: datetime | None,
    rates: Sequence[CommissionRate],
) -> None:
    """A new period must be a real interval, carry distinct rates and overlap no other period of
    the same model."""
    if valid_to is not None and valid_to <= valid_from:
        raise DomainError("INVALID_PERIOD", "validTo must be after validFrom", ("validTo",))
    if not rates:
        raise DomainError("RATE_EMPTY", "a period needs at least one rate", ("rates",))
    seen: set[tuple[str, str]] = set()
    for index, rate in enumerate(rates):
        validate_rate(rate, index)
        key = (rate.target, rate.category)
        if key in seen:
            raise DomainError(
                "DUPLICATE_RATE",
                f"the rate for {rate.target} × {rate.category} is given twice",
                ("rates", str(index)),
            )
        seen.add(key)
    for period in existing:
        if period.overlaps(valid_from, valid_to):
            raise DomainError(
                "PERIOD_OVERLAP",
                f"the period overlaps the period starting {period.valid_from.isoformat()}",
                ("validFrom",),
            )
