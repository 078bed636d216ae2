"""Rating a conversion: the one place that turns an order's or a request's values and basket
positions into the rating input, calls `rate_conversion`, and turns the rating back into the
conversion's commission, snapshot and basket. Recording orders, raising, previewing and
processing requests all rate through here (a later step that maps a shop's positions to
tracking categories goes in `rate`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from portal.domain.commission import CommissionModel
from portal.domain.conversions import BasketPosition, ConversionStatus
from portal.domain.exchange_rates import ExchangeRate, convert_amount
from portal.domain.money import minor_unit, round_half_up, spread
from portal.domain.rating import OrderLine, Rating, RatingInput, rate_conversion


# A value all the same; not frozen: one is built per row of an import (see RatingInput).
@dataclass(slots=True)
class RatedValues:
    """What a conversion is rated on. Amounts are in the order's currency when `exchange` is
    given (converted exactly inside the rating), else in the program currency."""

    target: str
    category: str
    tracking_time: datetime
    currency: str  # the program currency
    order_value: Decimal
    discount: Decimal = Decimal(0)
    positions: tuple[OrderLine, ...] = ()
    exchange: ExchangeRate | None = None


def rate(model: CommissionModel, values: RatedValues) -> Rating:
    """The rating of `values` under `model` (SPEC §4)."""
    return rate_conversion(
        model,
        RatingInput(
            target=values.target,
            category=values.category,
            tracking_time=values.tracking_time,
            currency=values.currency,
            order_value=values.order_value,
            discount=values.discount,
            basket=values.positions,
            exchange=values.exchange,
        ),
    )


def lines_of(basket: Sequence[BasketPosition]) -> tuple[OrderLine, ...]:
    """A stored basket as rating input (values in the program currency)."""
    return tuple(
        OrderLine(p.category, p.order_value, Decimal(0), p.product_id, p.quantity) for p in basket
    )


def program_amount(amount: Decimal, values: RatedValues) -> Decimal:
    """An amount of `values` in the program currency, rounded once."""
    if values.exchange is None:
        return round_half_up(amount, values.currency)
    return convert_amount(amount, values.exchange, rounded=True)


def rated_basket(
    values: RatedValues, rating: Rating | None, commission: Decimal, status: ConversionStatus
) -> tuple[BasketPosition, ...]:
    """The positions to store: values in the program currency, each with its share of the
    conversion's `commission` — the rating's shares, or, for an explicit commission, shares in
    proportion to the positions' values (they always add up to the commission)."""
    amounts = [program_amount(line.order_value, values) for line in values.positions]
    if rating is not None and rating.commission.amount == commission:
        shares = [line.commission for line in rating.lines]
    else:
        shares = spread(commission, amounts, minor_unit(values.currency))
    return tuple(
        BasketPosition(
            position=index,
            category=line.category,
            order_value=amounts[index - 1],
            commission=shares[index - 1],
            status=status,
            product_id=line.product_id,
            quantity=line.quantity,
        )
        for index, line in enumerate(values.positions, start=1)
    )


def with_status(
    basket: Sequence[BasketPosition], status: ConversionStatus
) -> tuple[BasketPosition, ...]:
    """The positions after the conversion's status was set as a whole: every position takes
    it (SPEC §4: CONFIRMED when one position is, REJECTED when all are)."""
    return tuple(
        BasketPosition(
            p.position, p.category, p.order_value, p.commission, status, p.product_id, p.quantity
        )
        for p in basket
    )


def explicit_commission(
    breakdown: dict[str, Any], computed: Decimal | None, commission: Decimal, source: str
) -> dict[str, Any]:
    """The snapshot of an explicit commission (given with an order, or asked for by a request):
    the rating's snapshot `breakdown` as it was, the `computed` commission (None: no rating),
    and that it was overridden, by what (`order` or `request`)."""
    return {
        **breakdown,
        "overridden": True,
        "overriddenBy": source,
        "computedCommission": str(computed) if computed is not None else None,
        "commission": str(commission),
    }
