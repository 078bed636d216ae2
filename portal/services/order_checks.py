"""Checking one reported order against its program, and converting its amounts into the
program currency. Every problem of an order is reported at once, each naming its field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from portal.domain.attribution import Touchpoint
from portal.domain.cart_mapping import MAX_TEXT, ShopAttributes
from portal.domain.conversions import SUB_ID_COUNT, ConversionStatus
from portal.domain.errors import DomainError, ErrorCollector
from portal.domain.exchange_rates import ExchangeRate, RateTable
from portal.domain.order_values import (
    MAX_CUSTOMER_ID,
    MAX_DEVICE,
    MAX_EMAIL,
    MAX_NOTE_CODE,
    MAX_POSITIONS,
    MAX_PRODUCT_ID,
    MAX_REFERENCE,
    MAX_TOUCHPOINTS,
    Position,
    check_commission,
    check_currency,
    check_order_amounts,
    check_order_id,
    check_sub_ids,
    check_text,
    check_time,
)
from portal.domain.programs import DEFAULT_CATEGORY
from portal.domain.rating import OrderLine
from portal.services.order_batch import ProgramSetup, tracking_day
from portal.services.order_types import BasketLineInput, OrderInput


@dataclass(frozen=True, slots=True)
class CheckedOrder:
    """A valid order. Its amounts are in the order's own currency, exact; `exchange` converts
    them into the program currency (None: they are in it already). The basket's positions
    carry their share of the order discount."""

    order_id: str
    tracking_time: datetime
    category: str
    explicit_target: str | None
    currency: str  # the program currency
    order_value: Decimal
    discount: Decimal
    basket: tuple[OrderLine, ...]
    exchange: ExchangeRate | None
    original_currency: str | None
    commission: Decimal | None
    status: ConversionStatus
    conversion_note: str | None
    sub_ids: tuple[str | None, ...]
    device: str | None
    touchpoints: tuple[Touchpoint, ...]

    @property
    def original_order_value(self) -> Decimal | None:
        return self.order_value if self.exchange is not None else None


def resolve_category(setup: ProgramSetup, key: str | None, field: tuple[str, ...]) -> str:
    """An absent category is `default`; an unknown one is refused (UNKNOWN_CATEGORY) by a
    strict program, else falls back to `default`; an inactive one is an error. A category of
    another program is unknown here."""
    cleaned = (key or "").strip()
    known = setup.categories.get(cleaned)
    if known is None and cleaned and setup.program.strict_tracking_categories:
        raise DomainError(
            "UNKNOWN_CATEGORY",
            f"the program has no tracking category {cleaned!r} (it refuses unknown keys: "
            "strictTrackingCategories)",
            field,
        )
    category = known or setup.categories.get(DEFAULT_CATEGORY)
    if category is None:
        raise DomainError("UNKNOWN_CATEGORY", "the program has no `default` category", field)
    if not category.active:
        raise DomainError(
            "INACTIVE_CATEGORY", f"the tracking category {category.key!r} is inactive", field
        )
    return category.key


def resolve_target(setup: ProgramSetup, key: str, field: tuple[str, ...]) -> str:
    target = setup.targets.get(key.strip())
    if target is None:
        raise DomainError(
            "UNKNOWN_TARGET", f"the program has no conversion target {key.strip()!r}", field
        )
    if not target.active:
        raise DomainError(
            "INACTIVE_TARGET", f"the conversion target {target.key!r} is inactive", field
        )
    return target.key


def _resolved(errors: ErrorCollector, resolve: object, *args: object) -> str | None:
    try:
        return resolve(*args)  # type: ignore[operator, no-any-return]
    except DomainError as error:
        errors.errors.append(error)
        return None


def check_shop(
    errors: ErrorCollector, line: BasketLineInput, field: tuple[str, ...]
) -> ShopAttributes | None:
    """How the shop describes a position (texts stripped, each at most `MAX_TEXT`); the SKU
    is the product id unless given. None when it describes nothing."""
    category = check_text(errors, line.shop_category, MAX_TEXT, (*field, "shopCategory"))
    sku = check_text(errors, line.sku, MAX_TEXT, (*field, "sku"))
    brand = check_text(errors, line.brand, MAX_TEXT, (*field, "brand"))
    product = (line.product_id or "").strip() or None
    return ShopAttributes.described(category, sku or product, brand, line.on_sale)


def order_exchange(
    currency: str, program_currency: str, day: date, rates: Mapping[date, RateTable]
) -> ExchangeRate | None:
    """How the order's currency converts into the program's on the tracking day (UTC); None
    when they are the same. MISSING_EXCHANGE_RATE names the currency field."""
    if currency == program_currency:
        return None
    table = rates.get(day) or RateTable("EUR", ())  # no rate at all near that day was loaded
    try:
        return table.exchange_rate(currency, program_currency, day)
    except DomainError as error:
        raise DomainError(error.code, error.message, ("currency",)) from None


def check_order(
    order: OrderInput,
    setup: ProgramSetup,
    rates: Mapping[date, RateTable],
    now: datetime,
) -> CheckedOrder:
    """Checks the order; raises ValidationFailed with every problem found."""
    errors = ErrorCollector()
    program = setup.program

    order_id = check_order_id(errors, order.order_id, ("orderId",))
    check_time(errors, order.tracking_time, now, ("trackingTime",))
    currency = order.currency or program.currency
    known_currency = check_currency(errors, currency, ("currency",))

    category = _resolved(
        errors, resolve_category, setup, order.tracking_category, ("trackingCategory",)
    )
    explicit_target = None
    if order.conversion_target is not None:
        explicit_target = _resolved(
            errors, resolve_target, setup, order.conversion_target, ("conversionTarget",)
        )

    if order.status not in ConversionStatus:
        errors.add("INVALID_STATUS", "status is OPEN, CONFIRMED or REJECTED", ("status",))
    note = check_text(errors, order.conversion_note, MAX_NOTE_CODE, ("conversionNote",))
    if note is not None and note not in setup.notes:
        errors.add(
            "UNKNOWN_CONVERSION_NOTE",
            f"the program has no conversion note {note!r}",
            ("conversionNote",),
        )
    commission = None
    if order.commission is not None:
        commission = check_commission(errors, order.commission, program.currency, ("commission",))

    sub_ids = check_sub_ids(errors, order.sub_ids, ("subIds",))
    device = check_text(errors, order.device, MAX_DEVICE, ("device",))
    check_text(errors, order.customer_id, MAX_CUSTOMER_ID, ("customerId",))
    check_text(errors, order.customer_email, MAX_EMAIL, ("customerEmail",))

    if len(order.touchpoints) > MAX_TOUCHPOINTS:
        errors.add("TOO_MANY_TOUCHPOINTS", f"at most {MAX_TOUCHPOINTS}", ("touchpoints",))
    touchpoints = []
    for i, t in enumerate(order.touchpoints):
        field = ("touchpoints", str(i))
        before = len(errors.errors)
        check_time(errors, t.at, None, (*field, "at"))
        reference = check_text(errors, t.reference, MAX_REFERENCE, (*field, "reference"))
        if len(errors.errors) == before:
            touchpoints.append(Touchpoint(t.kind, t.partner_id, t.at, t.consent, reference))

    if len(order.basket) > MAX_POSITIONS:
        errors.add("TOO_MANY_POSITIONS", f"at most {MAX_POSITIONS} positions", ("basket",))
    line_categories: list[str | None] = []
    shops: list[ShopAttributes | None] = []
    for i, line in enumerate(order.basket):
        field = ("basket", str(i))
        if line.quantity < 1:
            errors.add("OUT_OF_RANGE", "the quantity is at least 1", (*field, "quantity"))
        check_text(errors, line.product_id, MAX_PRODUCT_ID, (*field, "productId"))
        shops.append(check_shop(errors, line, field))
        if line.category is None or not line.category.strip():
            line_categories.append(None)  # the cart mapping's
            continue
        line_categories.append(
            _resolved(errors, resolve_category, setup, line.category, (*field, "trackingCategory"))
        )
    amounts = check_order_amounts(
        errors,
        order.order_value,
        order.discount,
        [Position(line.order_value, line.discount) for line in order.basket],
        currency if known_currency else program.currency,
    )
    errors.raise_if_any()
    assert order_id is not None and category is not None and amounts is not None

    exchange = order_exchange(currency, program.currency, tracking_day(order.tracking_time), rates)
    basket = tuple(
        OrderLine(
            line_category or DEFAULT_CATEGORY,
            position.value,
            position.discount,
            (line.product_id or "").strip() or None,
            line.quantity,
            shop,
            line_category is None,
        )
        for line, line_category, position, shop in zip(
            order.basket, line_categories, amounts.positions, shops, strict=True
        )
    )
    return CheckedOrder(
        order_id=order_id,
        tracking_time=order.tracking_time,
        category=category,
        explicit_target=explicit_target,
        currency=program.currency,
        order_value=amounts.order_value,
        discount=amounts.discount,
        basket=basket,
        exchange=exchange,
        original_currency=currency if exchange is not None else None,
        commission=commission,
        status=order.status,
        conversion_note=note,
        sub_ids=(*sub_ids, *(None,) * (SUB_ID_COUNT - len(sub_ids))),
        device=device,
        touchpoints=tuple(touchpoints),
    )
