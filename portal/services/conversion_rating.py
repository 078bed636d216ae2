"""Rating a conversion: the one place that turns an order's or a request's values and basket
positions into the rating input, calls `rate_conversion`, and turns the rating back into the
conversion's commission, snapshot and basket. Recording orders, raising, previewing and
processing requests all rate through here. The cart mapping (issue 16) is applied here too, in
`map_basket`, with the mapping version in effect at the conversion's tracking time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from portal.domain.cart_mapping import ProgramMappings
from portal.domain.commission import CommissionModel
from portal.domain.conversions import BasketPosition, ConversionStatus
from portal.domain.exchange_rates import ExchangeRate, convert_amount
from portal.domain.money import minor_unit, round_half_up, spread
from portal.domain.programs import DEFAULT_CATEGORY
from portal.domain.rating import OrderLine, Rating, RatingInput, rate_conversion

_ZERO = Decimal(0)


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
    # The program's cart mapping; None: positions keep the categories they carry.
    mappings: ProgramMappings | None = None
    mapped: bool = False  # `map_basket` ran
    amounts: list[Decimal] | None = None  # see `position_amounts`


def map_basket(values: RatedValues) -> None:
    """The cart-mapping step (issue 16), the one place it happens: each position whose category
    follows the mapping (`OrderLine.mapped`: no explicit category was sent) gets the category
    of the first matching rule of the version in effect at the tracking time, or the default
    category when no rule matches or no version is in effect then. The unit price a rule
    compares is the position's value in the program currency (rounded once) per piece. Runs
    once per `values`; `rate` and `rated_basket` call it."""
    if values.mapped:
        return
    values.mapped = True
    if values.mappings is None or not any(line.mapped for line in values.positions):
        return
    found = values.mappings.at(values.tracking_time)
    compiled = found[1] if found is not None else None
    lines = []
    # Only a price rule needs the amounts in the program currency.
    amounts = position_amounts(values) if compiled is not None and compiled.uses_price else None
    for index, line in enumerate(values.positions):
        if not line.mapped or (
            compiled is None and line.match is None and line.category == DEFAULT_CATEGORY
        ):
            lines.append(line)  # its category stands (or is the default already)
            continue
        match = None
        category = DEFAULT_CATEGORY
        if compiled is not None:
            value = amounts[index] if amounts is not None else _ZERO
            shop = line.shop
            if shop is None:
                match = compiled.match_values(value, line.quantity)
            else:
                match = compiled.match_shop(shop, value, line.quantity)
            category = match.category
        lines.append(
            OrderLine(
                category,
                line.order_value,
                line.discount,
                line.product_id,
                line.quantity,
                line.shop,
                True,
                match,
            )
        )
    values.positions = tuple(lines)


def rate(model: CommissionModel, values: RatedValues) -> Rating:
    """The rating of `values` under `model` (SPEC §4), after the cart mapping. When a mapping
    version was in effect, the snapshot names it (`cartMapping`: version id and validFrom) and,
    per mapped position, the 1-based number of the rule that gave its category
    (`cartMappingRule`; null: no rule matched, the default category)."""
    map_basket(values)
    rating = _rate(model, values)
    found = values.mappings.at(values.tracking_time) if values.mappings is not None else None
    if found is not None and any(line.mapped for line in values.positions):
        rating.breakdown["cartMapping"] = {
            "versionId": found[1].version_id,
            "validFrom": found[0].isoformat(),
        }
        snapshots = rating.breakdown.get("lines")
        assert isinstance(snapshots, list)
        for line, snapshot in zip(values.positions, snapshots, strict=True):
            if line.mapped:
                rule = line.match.rule if line.match is not None else None
                snapshot["cartMappingRule"] = None if rule is None else rule + 1
    return rating


def _rate(model: CommissionModel, values: RatedValues) -> Rating:
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
    """A stored basket as rating input (values in the program currency): a mapped position is
    mapped again when rated (with the version in effect at the tracking time then)."""
    return tuple(
        OrderLine(p.category, p.order_value, Decimal(0), p.product_id, p.quantity, p.shop, p.mapped)
        for p in basket
    )


def position_amounts(values: RatedValues) -> list[Decimal]:
    """The positions' values in the program currency, each rounded once (worked out once per
    `values`: the cart mapping's price rules and the stored basket both use them)."""
    if values.amounts is None:
        values.amounts = [program_amount(line.order_value, values) for line in values.positions]
    return values.amounts


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
    map_basket(values)
    amounts = position_amounts(values)
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
            shop=line.shop,
            mapped=line.mapped,
            mapping_version=line.match.version_id if line.match else None,
            mapping_rule=line.match.rule if line.match else None,
        )
        for index, line in enumerate(values.positions, start=1)
    )


def with_status(
    basket: Sequence[BasketPosition], status: ConversionStatus
) -> tuple[BasketPosition, ...]:
    """The positions after the conversion's status was set as a whole: every position takes
    it (SPEC §4: CONFIRMED when one position is, REJECTED when all are)."""
    return tuple(replace(p, status=status) for p in basket)


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
