"""What `record_orders` takes and answers (SPEC §5, `recordOrder` / `recordOrders`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from portal.domain.attribution import AttributionDecision, Touchpoint, TouchpointKind
from portal.domain.conversions import Conversion, ConversionStatus
from portal.domain.errors import DomainError

MAX_BATCH = 500
ALREADY_RECORDED = "ALREADY_RECORDED"
"""The rule of a re-sent order: the existing conversion answers, nothing is recomputed."""


@dataclass(frozen=True, slots=True)
class TouchpointInput:
    kind: TouchpointKind
    partner_id: int
    at: datetime
    consent: bool | None = None
    reference: str | None = None


# A value never changed once built; not frozen: one is built per basket position sent, and a
# frozen dataclass takes 3–8× as long to construct (see domain.rating.RatingInput).
@dataclass(slots=True, unsafe_hash=True)
class BasketLineInput:
    """One basket position in the order's currency; `category` None: the category the
    program's cart mapping gives it (`default` without a mapping). `product_id` is the SKU a
    mapping rule compares unless `sku` is given."""

    order_value: Decimal
    category: str | None = None
    discount: Decimal = Decimal(0)
    product_id: str | None = None
    quantity: int = 1
    shop_category: str | None = None
    sku: str | None = None
    brand: str | None = None
    on_sale: bool | None = None


@dataclass(frozen=True, slots=True)
class OrderInput:
    """An order as the shop reports it. Amounts are net of shipping and VAT, in `currency`
    (None: the program currency). `order_value` None: the sum of the basket's positions.
    `conversion_target` None: SALE_EXISTING_CUSTOMER for a returning customer, else
    SALE_NEW_CUSTOMER. `commission` overrides the computed commission (program currency)."""

    program_id: int
    order_id: str
    tracking_time: datetime
    order_value: Decimal | None
    currency: str | None = None
    discount: Decimal = Decimal(0)
    conversion_target: str | None = None
    tracking_category: str | None = None
    status: ConversionStatus = ConversionStatus.OPEN
    conversion_note: str | None = None
    commission: Decimal | None = None
    sub_ids: tuple[str | None, ...] = ()
    device: str | None = None
    customer_id: str | None = None
    customer_email: str | None = None
    touchpoints: tuple[TouchpointInput, ...] = ()
    basket: tuple[BasketLineInput, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderAttribution:
    """The attribution decision as answered: a rule of `AttributionRule`, or ALREADY_RECORDED
    when the order was recorded before (then the partner is the existing conversion's)."""

    partner_id: int | None
    rule: str
    reason: str
    touchpoint: Touchpoint | None
    returning_customer: bool

    @classmethod
    def of(cls, decision: AttributionDecision) -> OrderAttribution:
        return cls(
            decision.partner_id,
            decision.rule.value,
            decision.reason,
            decision.touchpoint,
            decision.returning_customer,
        )


@dataclass(slots=True)
class OrderResult:
    """One order's outcome. `errors` carry field paths relative to the order (e.g.
    `("orderValue",)`); on errors nothing of the order was written."""

    index: int
    order_id: str
    conversion: Conversion | None = None
    attribution: OrderAttribution | None = None
    errors: list[DomainError] = field(default_factory=list)
    created: bool = False
