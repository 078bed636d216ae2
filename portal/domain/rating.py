"""Commission rating: the commission of one conversion under a commission model (SPEC §4).

A conversion is rated with the period of the model that contains its tracking time, for its
(target × category), and per basket position with the position's own category. Every amount is
computed exactly and rounded once, half-up, to the minor unit of the program currency. The
result carries a snapshot (`Rating.breakdown`) that holds plain values only, so a later change of
the model never changes how an existing commission reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal, localcontext
from functools import lru_cache

from portal.domain.commission import CommissionModel, CommissionPeriod, CommissionRate
from portal.domain.errors import DomainError
from portal.domain.money import Money, minor_unit, round_half_up
from portal.domain.programs import DEFAULT_CATEGORY

# Enough digits that no intermediate product or sum of accepted amounts is ever rounded by the
# decimal context: the only rounding is the explicit one at the end.
_PRECISION = 120
_HUNDRED = Decimal(100)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One basket position; values in the program currency, net of shipping and VAT.
    `order_value` is the position's total (not a unit price); `quantity` is informational."""

    category: str
    order_value: Decimal
    discount: Decimal = Decimal(0)
    product_id: str | None = None
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class RatingInput:
    target: str
    category: str  # the conversion's category: used without basket, and for the fixed amount
    tracking_time: datetime  # tz-aware
    currency: str  # program currency
    order_value: Decimal  # net order value in program currency (exact, unrounded)
    discount: Decimal = Decimal(0)
    basket: tuple[OrderLine, ...] = ()


@dataclass(frozen=True, slots=True)
class RatedLine:
    position: int  # 1-based
    category: str
    order_value: Decimal
    rated_base: Decimal
    percentage: Decimal | None
    commission: Decimal  # this position's share, rounded to the minor unit (see rate_conversion)


@dataclass(frozen=True, slots=True)
class Rating:
    commission: Money  # rounded once, half-up
    model_name: str
    period_id: int
    lines: tuple[RatedLine, ...]
    breakdown: dict[str, object]  # JSON-serialisable snapshot; Decimals as strings


def find_rate(period: CommissionPeriod, target: str, category: str) -> tuple[CommissionRate, str]:
    """The rate for (target, category), else the rate for (target, "default").

    Returns the rate and the category whose rate was used (`"default"` on fallback).
    """
    fallback: CommissionRate | None = None
    for rate in period.rates:
        if rate.target != target:
            continue
        if rate.category == category:
            return rate, category
        if rate.category == DEFAULT_CATEGORY:
            fallback = rate
    if fallback is not None:
        return fallback, DEFAULT_CATEGORY
    raise DomainError(
        "NO_RATE",
        f"the commission period {period.id} has no rate for target {target!r} and category "
        f"{category!r}, nor for target {target!r} and the category {DEFAULT_CATEGORY!r}",
        ("conversionTarget",),
    )


def rated_base(order_value: Decimal, discount: Decimal, discount_rating: bool) -> Decimal:
    """The value a percentage applies to: after discount when the model rates discounts; never
    below 0."""
    base = order_value - discount if discount_rating else order_value
    return base if base > _ZERO else _ZERO


def rate_conversion(model: CommissionModel, order: RatingInput) -> Rating:
    """Rate one conversion with `model`.

    - The period is the one that contains `order.tracking_time` (valid_from inclusive, valid_to
      exclusive), not the time of rating; none raises NO_COMMISSION_PERIOD.
    - Without basket the conversion is rated as one position (position 1, the conversion's
      category, order value and discount): percentage/100 × base + fixed amount.
    - With basket every position is rated with the rate of ITS OWN category (falling back to the
      default category): percentage/100 × position base. The fixed amount is applied ONCE per
      conversion, from the rate of the conversion's (target, category) — a fixed amount is a
      per-conversion reward (e.g. "5 EUR per sale"), and applying it per position would make it
      depend on how the shop splits the basket.
    - Percentage None and fixed amount None count as 0.
    - Total = sum of the exact position amounts + the exact fixed amount, rounded once, half-up, to
      the currency's minor unit. Each `RatedLine.commission` is the position's exact amount
      allocated by largest remainder (ties by position) so that the rounded line amounts plus the
      rounded fixed amount sum exactly to the rounded total.
    """
    instant = order.tracking_time
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("the tracking time must be timezone-aware")
    period = model.period_at(instant)
    if period is None:
        raise DomainError(
            "NO_COMMISSION_PERIOD",
            f"the commission model {model.name!r} has no period that contains the tracking time "
            f"{instant.isoformat()}",
            ("trackingTime",),
        )
    currency = order.currency
    positions: Sequence[OrderLine] = order.basket or (
        OrderLine(order.category, order.order_value, order.discount),
    )
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        rated: list[tuple[OrderLine, CommissionRate, str, Decimal]] = []
        amounts: list[Decimal] = []
        for line in positions:
            rate, rate_category = find_rate(period, order.target, line.category)
            base = rated_base(line.order_value, line.discount, model.discount_rating)
            percentage = rate.percentage if rate.percentage is not None else _ZERO
            rated.append((line, rate, rate_category, base))
            amounts.append(percentage / _HUNDRED * base)

        if order.basket:
            fixed_rate, fixed_category = find_rate(period, order.target, order.category)
        else:  # the one position is the conversion itself: the same rate
            fixed_rate, fixed_category = rated[0][1], rated[0][2]
        fixed = fixed_rate.fixed_amount if fixed_rate.fixed_amount is not None else _ZERO
        exact_total = sum(amounts, _ZERO) + fixed
        total = round_half_up(exact_total, currency)
        fixed_rounded = round_half_up(fixed, currency)
        shares = _allocate(amounts, total - fixed_rounded, minor_unit(currency))

    lines: list[RatedLine] = []
    line_snapshots: list[dict[str, object]] = []
    for index, ((line, rate, rate_category, base), amount, share) in enumerate(
        zip(rated, amounts, shares, strict=True), start=1
    ):
        lines.append(
            RatedLine(index, line.category, line.order_value, base, rate.percentage, share)
        )
        line_snapshots.append(
            {
                "position": index,
                "category": line.category,
                "rateCategory": rate_category,
                "productId": line.product_id,
                "quantity": line.quantity,
                "orderValue": str(line.order_value),
                "discount": str(line.discount),
                "base": str(base),
                "percentage": _text(rate.percentage),
                "amount": str(amount),
                "commission": str(share),
            }
        )
    breakdown: dict[str, object] = {
        "modelId": model.id,
        "modelName": model.name,
        "periodId": period.id,
        "validFrom": _iso(period.valid_from),
        "validTo": _iso(period.valid_to) if period.valid_to is not None else None,
        "discountRating": model.discount_rating,
        "target": order.target,
        "category": order.category,
        "trackingTime": instant.isoformat(),
        "currency": currency,
        "orderValue": str(order.order_value),
        "discount": str(order.discount),
        "basket": bool(order.basket),
        "lines": line_snapshots,
        "fixedRateCategory": fixed_category,
        "fixedAmount": _text(fixed_rate.fixed_amount),
        "fixedCommission": str(fixed_rounded),
        "exactTotal": str(exact_total),
        "commission": str(total),
    }
    return Rating(
        commission=Money(total, currency),
        model_name=model.name,
        period_id=period.id,
        lines=tuple(lines),
        breakdown=breakdown,
    )


def _allocate(amounts: Sequence[Decimal], target: Decimal, unit: Decimal) -> list[Decimal]:
    """Round `amounts` to multiples of `unit` so they sum exactly to `target` (a multiple of
    `unit`): floor every amount, then hand the remaining units to the largest remainders first
    (ties: earlier position first). A difference beyond one unit per amount, or a negative one,
    is spread evenly the same way, so this never fails."""
    if not amounts:
        return []
    if len(amounts) == 1:
        return [target.quantize(unit)]
    floors = [amount.quantize(unit, rounding=ROUND_FLOOR) for amount in amounts]
    missing = int((target - sum(floors, _ZERO)) / unit)
    each, extra = divmod(missing, len(amounts))
    order = sorted(range(len(amounts)), key=lambda i: (-(amounts[i] - floors[i]), i))
    lucky = set(order[:extra])
    return [
        (floor + unit * (each + (1 if i in lucky else 0))).quantize(unit)
        for i, floor in enumerate(floors)
    ]


@lru_cache(maxsize=1024)
def _iso(instant: datetime) -> str:
    """A period's bounds in ISO 8601 (the same few for every conversion rated)."""
    return instant.isoformat()


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
