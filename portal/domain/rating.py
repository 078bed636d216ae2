"""Commission rating: the commission of one conversion under a commission model (SPEC §4).

A conversion is rated with the period of the model that contains its tracking time, for its
(target × category), and per basket position with the position's own category. Every amount is
computed exactly and rounded once, half-up, to the minor unit of the program currency. The
result carries a snapshot (`Rating.breakdown`) that holds plain values only, so a later change of
the model never changes how an existing commission reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from functools import lru_cache
from typing import Any

from portal.domain.cart_mapping import Match, ShopAttributes
from portal.domain.commission import CommissionModel, CommissionPeriod, CommissionRate
from portal.domain.errors import DomainError
from portal.domain.exchange_rates import QUOTIENT_PRECISION, ExchangeRate
from portal.domain.money import Money, allocate, minor_unit, round_half_up, round_quotient
from portal.domain.programs import DEFAULT_CATEGORY

# Enough digits that no intermediate product or sum of accepted amounts is ever rounded by the
# decimal context: the only rounding is the explicit one at the end. The arithmetic goes
# through this context explicitly (a `localcontext()` per rating costs more than the rating).
_PRECISION = 120
_EXACT = Context(prec=_PRECISION, traps=[InvalidOperation, DivisionByZero, Overflow])
_HUNDRED = Decimal(100)
_ZERO = Decimal(0)
_ONE = Decimal(1)
_SHOWN = Context(prec=QUOTIENT_PRECISION)  # converted amounts as the snapshot shows them


# Built per basket position (twice: checked, then mapped), so constructed as fast as a plain
# slotted class: a value all the same, never changed once built (see RatingInput below).
@dataclass(slots=True, unsafe_hash=True)
class OrderLine:
    """One basket position; values in the program currency, net of shipping and VAT.
    `order_value` is the position's total (not a unit price); `quantity` is informational."""

    category: str
    order_value: Decimal
    discount: Decimal = Decimal(0)
    product_id: str | None = None
    quantity: int = 1
    # Cart mapping (issue 16): how the shop describes the position; `mapped`: its category is
    # the one the program's cart mapping gives it (no explicit category was sent), `match` the
    # rule that gave it (set by `conversion_rating.map_basket`).
    shop: ShopAttributes | None = None
    mapped: bool = False
    match: Match | None = None


# RatingInput, RatedLine and Rating are values all the same, but not frozen: one of each is
# built per conversion rated (imports rate thousands a second), and a frozen dataclass takes
# 3–8× as long to construct.
@dataclass(slots=True)
class RatingInput:
    """`exchange`: the amounts (order value, discount, positions) are in `exchange.source` and
    are converted into the program currency exactly, inside the rating, with its one division
    at the very end (`convert_amount`'s rule); None: they are in the program currency."""

    target: str
    category: str  # the conversion's category: used without basket, and for the fixed amount
    tracking_time: datetime  # tz-aware
    currency: str  # program currency
    order_value: Decimal  # net order value (exact, unrounded)
    discount: Decimal = Decimal(0)
    basket: tuple[OrderLine, ...] = ()
    exchange: ExchangeRate | None = None


@dataclass(slots=True)
class RatedLine:
    position: int  # 1-based
    category: str
    order_value: Decimal
    rated_base: Decimal
    percentage: Decimal | None
    commission: Decimal  # this position's share, rounded to the minor unit (see rate_conversion)


@dataclass(slots=True)
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
    base = _EXACT.subtract(order_value, discount) if discount_rating else order_value
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
      the currency's minor unit. With `order.exchange`, the amounts are converted exactly and
      the total is divided by the source's rate once, before that one rounding. Each
      `RatedLine.commission` is the position's exact amount allocated by largest remainder
      (ties by position) so that the rounded line amounts plus the rounded fixed amount sum
      exactly to the rounded total.
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
    exchange = order.exchange if order.exchange and not order.exchange.is_identity else None
    # Amounts in the source currency are multiplied by the target's reference rate here
    # (exactly) and divided by the source's once, at the end: every amount below is "scaled".
    multiplier = exchange.multiplier if exchange else _ONE
    divisor = exchange.divisor if exchange else _ONE
    # (category, order value, discount, product id, quantity) of each position.
    positions: Sequence[tuple[str, Decimal, Decimal, str | None, int]] = (
        [(p.category, p.order_value, p.discount, p.product_id, p.quantity) for p in order.basket]
        if order.basket
        else ((order.category, order.order_value, order.discount, None, 1),)
    )
    rated: list[tuple[CommissionRate, str, Decimal]] = []  # rate, its category, base (scaled)
    amounts: list[Decimal] = []  # scaled
    scaled_total = _ZERO
    # Per category of the positions: its rate, the rate's category and percentage / 100.
    by_category: dict[str, tuple[CommissionRate, str, Decimal]] = {}
    for category, value, discount, _, _ in positions:
        found = by_category.get(category)
        if found is None:
            rate, rate_category = find_rate(period, order.target, category)
            percentage = rate.percentage if rate.percentage is not None else _ZERO
            found = by_category[category] = (
                rate,
                rate_category,
                _EXACT.divide(percentage, _HUNDRED),
            )
        rate, rate_category, fraction = found
        base = rated_base(value, discount, model.discount_rating)
        if exchange:
            base = _EXACT.multiply(base, multiplier)
        amount = _EXACT.multiply(fraction, base)
        rated.append((rate, rate_category, base))
        amounts.append(amount)
        scaled_total = _EXACT.add(scaled_total, amount)
    if order.basket:
        fixed_rate, fixed_category = find_rate(period, order.target, order.category)
    else:  # the one position is the conversion itself: the same rate
        fixed_rate, fixed_category = rated[0][0], rated[0][1]
    fixed = fixed_rate.fixed_amount if fixed_rate.fixed_amount is not None else _ZERO
    scaled_total = _EXACT.add(scaled_total, _EXACT.multiply(fixed, divisor))
    total = round_quotient(scaled_total, divisor, currency)
    fixed_rounded = round_half_up(fixed, currency)

    def shown(scaled: Decimal) -> Decimal:
        return scaled if divisor == _ONE else _SHOWN.divide(scaled, divisor)

    def converted(amount: Decimal) -> Decimal:  # an amount of the source currency, shown
        return amount if exchange is None else shown(_EXACT.multiply(amount, multiplier))

    shares = allocate(
        amounts if exchange is None else [shown(a) for a in amounts],
        total - fixed_rounded,
        minor_unit(currency),
    )

    lines: list[RatedLine] = []
    line_snapshots: list[dict[str, object]] = []
    for index, position in enumerate(positions):
        category, value, discount, product_id, quantity = position
        rate, rate_category, base = rated[index]
        lines.append(
            RatedLine(index + 1, category, value, shown(base), rate.percentage, shares[index])
        )
        line_snapshots.append(
            {
                "position": index + 1,
                "category": category,
                "rateCategory": rate_category,
                "productId": product_id,
                "quantity": quantity,
                "orderValue": str(converted(value)),
                "discount": str(converted(discount)),
                "base": str(shown(base)),
                "percentage": _text(rate.percentage),
                "amount": str(shown(amounts[index])),
                "commission": str(shares[index]),
            }
        )
    breakdown: dict[str, object] = {
        **_snapshot_head(
            model.id,
            model.name,
            period.id,
            period.valid_from,
            period.valid_to,
            model.discount_rating,
            order.target,
            order.category,
        ),
        "trackingTime": instant.isoformat(),
        "currency": currency,
        "orderValue": str(converted(order.order_value)),
        "discount": str(converted(order.discount)),
        "basket": bool(order.basket),
        "lines": line_snapshots,
        "fixedRateCategory": fixed_category,
        "fixedAmount": _text(fixed_rate.fixed_amount),
        "fixedCommission": str(fixed_rounded),
        "exactTotal": str(shown(scaled_total)),
        "commission": str(total),
    }
    if exchange:
        # Every amount above is in the program currency (a quotient shown to 60 digits); the
        # commission was divided exactly, once, from the amounts as reported.
        breakdown["exchange"] = {
            **exchange.snapshot(),
            "originalOrderValue": str(order.order_value),
            "originalDiscount": str(order.discount),
        }
    return Rating(
        commission=Money(total, currency),
        model_name=model.name,
        period_id=period.id,
        lines=tuple(lines),
        breakdown=breakdown,
    )


@lru_cache(maxsize=1024)
def _snapshot_head(
    model_id: int,
    model_name: str,
    period_id: int,
    valid_from: datetime,
    valid_to: datetime | None,
    discount_rating: bool,
    target: str,
    category: str,
) -> dict[str, object]:
    """The part of a snapshot the conversions rated with one period, target and category share
    (copied into each snapshot, never changed)."""
    return {
        "modelId": model_id,
        "modelName": model_name,
        "periodId": period_id,
        "validFrom": valid_from.isoformat(),
        "validTo": valid_to.isoformat() if valid_to is not None else None,
        "discountRating": discount_rating,
        "target": target,
        "category": category,
    }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class AppliedRate:
    """The rate a rating applied to the conversion itself: its (target, category)'s percentage
    and fixed amount (either may be None)."""

    percentage: Decimal | None
    fixed_amount: Decimal | None


def applied_rate(breakdown: Mapping[str, Any] | None) -> AppliedRate | None:
    """The rate a snapshot (`Rating.breakdown`) records for the conversion's own target and
    category; None for a snapshot without a rating (an explicit commission without one)."""
    if not breakdown or "lines" not in breakdown:
        return None
    lines = breakdown.get("lines") or []
    own = breakdown.get("fixedRateCategory")
    line = next((x for x in lines if x.get("rateCategory") == own), lines[0] if lines else None)
    percentage = line.get("percentage") if line else None
    fixed = breakdown.get("fixedAmount")
    return AppliedRate(
        Decimal(percentage) if percentage is not None else None,
        Decimal(fixed) if fixed is not None else None,
    )
