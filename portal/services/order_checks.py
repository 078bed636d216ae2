"""Checking one reported order against its program, and converting its amounts into the
program currency. Every problem of an order is reported at once, each naming its field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from portal.domain.attribution import Touchpoint
from portal.domain.conversions import SUB_ID_COUNT, ConversionStatus
from portal.domain.errors import DomainError, ErrorCollector
from portal.domain.exchange_rates import RateTable
from portal.domain.money import is_currency, minor_units
from portal.domain.programs import DEFAULT_CATEGORY
from portal.domain.rating import OrderLine
from portal.services.order_batch import ProgramSetup, tracking_day
from portal.services.order_types import OrderInput

MAX_ORDER_ID = 200
MAX_SUB_ID = 255
MAX_DEVICE = 32
MAX_TEXT = 320
MAX_TOUCHPOINTS = 50
MAX_POSITIONS = 500
FUTURE_TOLERANCE = timedelta(minutes=5)
"""Shop clocks drift: a tracking time at most this far ahead of ours is accepted."""

_STORED_RATE_PLACES = Decimal("1e-12")  # the scale of conversions.exchange_rate


@dataclass(frozen=True, slots=True)
class CheckedOrder:
    """A valid order with its amounts in the program currency, exact (not rounded)."""

    order_id: str
    tracking_time: datetime
    category: str
    explicit_target: str | None
    currency: str
    order_value: Decimal
    discount: Decimal
    basket: tuple[OrderLine, ...]
    original_order_value: Decimal | None
    original_currency: str | None
    exchange_rate: Decimal | None
    commission: Decimal | None
    status: ConversionStatus
    conversion_note: str | None
    sub_ids: tuple[str | None, ...]
    device: str | None
    touchpoints: tuple[Touchpoint, ...]


def resolve_category(setup: ProgramSetup, key: str | None, field: tuple[str, ...]) -> str:
    """An unknown (or absent) category falls back to `default`; an inactive one is an error.
    A category of another program is unknown here."""
    cleaned = (key or "").strip()
    category = setup.categories.get(cleaned) or setup.categories.get(DEFAULT_CATEGORY)
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


def _aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def _amount(errors: ErrorCollector, value: Decimal, field: tuple[str, ...]) -> None:
    if not value.is_finite():
        errors.add("INVALID_AMOUNT", "the amount is not a finite number", field)
    elif value < 0:
        errors.add("NEGATIVE_VALUE", "the amount must not be negative", field)


def _discount(
    errors: ErrorCollector, value: Decimal, discount: Decimal, field: tuple[str, ...]
) -> None:
    _amount(errors, discount, field)
    if discount.is_finite() and value.is_finite() and discount > value >= 0:
        errors.add("DISCOUNT_EXCEEDS_VALUE", "the discount exceeds the order value", field)


def _text(
    errors: ErrorCollector, value: str | None, limit: int, field: tuple[str, ...]
) -> str | None:
    cleaned = value.strip() if value is not None else ""
    if len(cleaned) > limit:
        errors.add("TOO_LONG", f"at most {limit} characters", field)
    return cleaned or None


class _Converter:
    """Converts amounts of the order's currency into the program currency with the rates of
    the tracking day (UTC), exactly (`RateTable.convert`): the caller rounds once, at the end."""

    def __init__(self, source: str, target: str, day: date, table: RateTable | None) -> None:
        self.source, self.target, self.day = source, target, day
        self.table = table
        self.rate: Decimal | None = None
        if source != target:
            if table is None:  # no rate at all near that day was loaded
                table = RateTable("EUR", ())
            self.rate = table.convert(Decimal(1), source, target, day).rate
            self.table = table

    def __call__(self, amount: Decimal) -> Decimal:
        if self.rate is None or self.table is None:
            return amount
        return self.table.convert(amount, self.source, self.target, self.day).amount


def check_order(
    order: OrderInput,
    setup: ProgramSetup,
    rates: Mapping[date, RateTable],
    now: datetime,
) -> CheckedOrder:
    """Checks the order; raises ValidationFailed with every problem found."""
    errors = ErrorCollector()
    program = setup.program

    order_id = order.order_id.strip()
    if not order_id:
        errors.add("BLANK", "the order id must not be blank", ("orderId",))
    elif len(order_id) > MAX_ORDER_ID:
        errors.add("TOO_LONG", f"an order id has at most {MAX_ORDER_ID} characters", ("orderId",))

    aware = _aware(order.tracking_time)
    if not aware:
        errors.add("INVALID_DATETIME", "the tracking time needs a UTC offset", ("trackingTime",))
    elif order.tracking_time > now + FUTURE_TOLERANCE:
        errors.add(
            "FUTURE_TRACKING_TIME",
            f"the tracking time {order.tracking_time.isoformat()} is in the future",
            ("trackingTime",),
        )

    _amount(errors, order.order_value, ("orderValue",))
    _discount(errors, order.order_value, order.discount, ("discount",))

    currency = order.currency or program.currency
    if not is_currency(currency):
        errors.add("UNKNOWN_CURRENCY", f"{currency!r} is not an ISO 4217 code", ("currency",))

    category = DEFAULT_CATEGORY
    try:
        category = resolve_category(setup, order.tracking_category, ("trackingCategory",))
    except DomainError as error:
        errors.errors.append(error)
    explicit_target = None
    if order.conversion_target is not None:
        try:
            explicit_target = resolve_target(setup, order.conversion_target, ("conversionTarget",))
        except DomainError as error:
            errors.errors.append(error)

    if order.status not in ConversionStatus:
        errors.add("INVALID_STATUS", "status is OPEN, CONFIRMED or REJECTED", ("status",))
    note = _text(errors, order.conversion_note, 64, ("conversionNote",))
    if note is not None and note not in setup.notes:
        errors.add(
            "UNKNOWN_CONVERSION_NOTE",
            f"the program has no conversion note {note!r}",
            ("conversionNote",),
        )

    if order.commission is not None:
        _amount(errors, order.commission, ("commission",))
        exponent = order.commission.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > minor_units(program.currency):
            errors.add(
                "INVALID_AMOUNT",
                f"a commission in {program.currency} has at most "
                f"{minor_units(program.currency)} decimal places",
                ("commission",),
            )

    if len(order.sub_ids) > SUB_ID_COUNT:
        errors.add("TOO_MANY_SUB_IDS", f"at most {SUB_ID_COUNT} sub ids", ("subIds",))
    sub_ids = tuple(
        _text(errors, s, MAX_SUB_ID, ("subIds", str(i))) for i, s in enumerate(order.sub_ids)
    )[:SUB_ID_COUNT]
    device = _text(errors, order.device, MAX_DEVICE, ("device",))
    _text(errors, order.customer_id, 200, ("customerId",))
    _text(errors, order.customer_email, MAX_TEXT, ("customerEmail",))

    if len(order.touchpoints) > MAX_TOUCHPOINTS:
        errors.add("TOO_MANY_TOUCHPOINTS", f"at most {MAX_TOUCHPOINTS}", ("touchpoints",))
    touchpoints = []
    for i, t in enumerate(order.touchpoints):
        field = ("touchpoints", str(i))
        if not _aware(t.at):
            errors.add("INVALID_DATETIME", "`at` needs a UTC offset", (*field, "at"))
            continue
        reference = _text(errors, t.reference, MAX_TEXT, (*field, "reference"))
        touchpoints.append(Touchpoint(t.kind, t.partner_id, t.at, t.consent, reference))

    if len(order.basket) > MAX_POSITIONS:
        errors.add("TOO_MANY_POSITIONS", f"at most {MAX_POSITIONS} positions", ("basket",))
    line_categories = []
    for i, line in enumerate(order.basket):
        field = ("basket", str(i))
        _amount(errors, line.order_value, (*field, "orderValue"))
        _discount(errors, line.order_value, line.discount, (*field, "discount"))
        if line.quantity < 1:
            errors.add("OUT_OF_RANGE", "the quantity is at least 1", (*field, "quantity"))
        _text(errors, line.product_id, 200, (*field, "productId"))
        try:
            line_categories.append(
                resolve_category(setup, line.category, (*field, "trackingCategory"))
            )
        except DomainError as error:
            errors.errors.append(error)

    errors.raise_if_any()

    try:
        convert = _Converter(
            currency,
            program.currency,
            tracking_day(order.tracking_time),
            rates.get(tracking_day(order.tracking_time)),
        )
    except DomainError as error:
        raise DomainError(error.code, error.message, ("currency",)) from None
    foreign = convert.rate is not None
    basket = tuple(
        OrderLine(
            category,
            convert(line.order_value),
            convert(line.discount),
            (line.product_id or "").strip() or None,
            line.quantity,
        )
        for line, category in zip(order.basket, line_categories, strict=True)
    )
    return CheckedOrder(
        order_id=order_id,
        tracking_time=order.tracking_time,
        category=category,
        explicit_target=explicit_target,
        currency=program.currency,
        order_value=convert(order.order_value),
        discount=convert(order.discount),
        basket=basket,
        original_order_value=order.order_value if foreign else None,
        original_currency=currency if foreign else None,
        exchange_rate=None if convert.rate is None else convert.rate.quantize(_STORED_RATE_PLACES),
        commission=order.commission,
        status=order.status,
        conversion_note=note,
        sub_ids=(*sub_ids, *(None,) * (SUB_ID_COUNT - len(sub_ids))),
        device=device,
        touchpoints=tuple(touchpoints),
    )
