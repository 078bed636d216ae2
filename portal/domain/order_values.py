"""The values of a conversion as an order reports them (`recordOrder`) or a request asks for
them (`createConversionRequest`, files): one check per value, one code per fault, every limit
named once. Both paths call these, so they accept and refuse the same things."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from portal.domain.conversions import SUB_ID_COUNT
from portal.domain.errors import ErrorCollector
from portal.domain.money import is_currency, minor_units, spread, unit_of

MAX_ORDER_ID = 200
MAX_SUB_ID = 255
MAX_DEVICE = 32
MAX_NOTE_CODE = 64
MAX_CUSTOMER_ID = 200
MAX_EMAIL = 320
MAX_REFERENCE = 320
MAX_PRODUCT_ID = 200
MAX_TOUCHPOINTS = 50
MAX_POSITIONS = 500
FUTURE_TOLERANCE = timedelta(minutes=5)
"""Shop clocks drift: a tracking time at most this far ahead of ours is accepted."""

Field = tuple[str, ...]


def check_order_id(errors: ErrorCollector, order_id: str | None, field: Field) -> str | None:
    """The order id, stripped: REQUIRED when absent, BLANK when empty, TOO_LONG past the limit."""
    if order_id is None:
        errors.add("REQUIRED", "the order id is required", field)
        return None
    cleaned = order_id.strip()
    if not cleaned:
        errors.add("BLANK", "the order id must not be blank", field)
    elif len(cleaned) > MAX_ORDER_ID:
        errors.add("TOO_LONG", f"an order id has at most {MAX_ORDER_ID} characters", field)
    return cleaned or None


def check_time(
    errors: ErrorCollector, moment: datetime, now: datetime | None, field: Field
) -> None:
    """INVALID_DATETIME without a UTC offset; FUTURE_TRACKING_TIME beyond the tolerance (when
    `now` is given: the time of a touchpoint may be anything)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        errors.add("INVALID_DATETIME", "the time needs a UTC offset", field)
    elif now is not None and moment > now + FUTURE_TOLERANCE:
        errors.add(
            "FUTURE_TRACKING_TIME",
            f"the tracking time {moment.isoformat()} lies in the future",
            field,
        )


def check_amount(errors: ErrorCollector, value: Decimal, field: Field) -> bool:
    """INVALID_AMOUNT when not a finite number, NEGATIVE_VALUE below 0; True when valid."""
    if not value.is_finite():
        errors.add("INVALID_AMOUNT", "the amount is not a finite number", field)
        return False
    if value < 0:
        errors.add("NEGATIVE_VALUE", "the amount must not be negative", field)
        return False
    return True


def check_commission(
    errors: ErrorCollector, commission: Decimal, currency: str, field: Field
) -> Decimal | None:
    """An explicit commission is an amount of the program currency: not negative, and with at
    most the currency's minor digits (INVALID_AMOUNT: it is never rounded to fit). Answers it
    in the currency's minor unit ("5.1000" EUR is 5.10), None when invalid."""
    if not check_amount(errors, commission, field):
        return None
    unit = Decimal(1).scaleb(-minor_units(currency))
    if commission != commission.quantize(unit):
        errors.add(
            "INVALID_AMOUNT",
            f"a commission in {currency} has at most {minor_units(currency)} decimal places",
            field,
        )
        return None
    return commission.quantize(unit)


def check_currency(errors: ErrorCollector, code: str, field: Field) -> bool:
    if not is_currency(code):
        errors.add("UNKNOWN_CURRENCY", f"{code!r} is not an ISO 4217 currency code", field)
        return False
    return True


def check_text(errors: ErrorCollector, value: str | None, limit: int, field: Field) -> str | None:
    """Text stripped (None when blank); TOO_LONG past `limit` characters."""
    cleaned = value.strip() if value is not None else ""
    if len(cleaned) > limit:
        errors.add("TOO_LONG", f"at most {limit} characters", field)
    return cleaned or None


def check_sub_ids(
    errors: ErrorCollector, sub_ids: Sequence[str | None], field: Field
) -> tuple[str | None, ...]:
    """Sub IDs 1–6, each stripped (None when blank); TOO_MANY_SUB_IDS past six."""
    if len(sub_ids) > SUB_ID_COUNT:
        errors.add("TOO_MANY_SUB_IDS", f"at most {SUB_ID_COUNT} sub IDs", field)
    checked: list[str | None] = []
    for i, sub_id in enumerate(sub_ids[:SUB_ID_COUNT]):
        # Most are absent: a file row states all six columns (a call each costs an import).
        checked.append(
            None if sub_id is None else check_text(errors, sub_id, MAX_SUB_ID, (*field, str(i)))
        )
    return tuple(checked)


# A value never changed once built; not frozen: one is built per basket position, and a frozen
# dataclass takes 3–8× as long to construct (see rating.RatingInput).
@dataclass(slots=True, unsafe_hash=True)
class Position:
    """A basket position's amounts in the order's currency."""

    value: Decimal
    discount: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class OrderAmounts:
    """The amounts of an order in its own currency, checked: the order value (the sum of the
    positions when a basket is given), the order discount and the positions, each with its
    own discount plus its share of the order discount (`spread_discount`)."""

    order_value: Decimal
    discount: Decimal
    positions: tuple[Position, ...]


def check_order_amounts(
    errors: ErrorCollector,
    order_value: Decimal | None,
    discount: Decimal,
    positions: Sequence[Position],
    currency: str,
) -> OrderAmounts | None:
    """The rules of an order's amounts (SPEC §4, "per basket position"):

    - every amount is a finite number, not negative; a position's discount is at most its value;
    - with a basket, the order value is the sum of the positions' values: left out, it is
      derived from them; given, it must equal it (BASKET_VALUE_MISMATCH on `orderValue`);
      without a basket it is REQUIRED;
    - the order discount, with the positions' own discounts, is at most the order value
      (DISCOUNT_EXCEEDS_VALUE);
    - with a basket, the order discount is spread over the positions (`spread_discount`).

    None when an error was added."""
    before = len(errors.errors)
    for i, position in enumerate(positions):
        field = ("basket", str(i))
        valid = check_amount(errors, position.value, (*field, "orderValue"))
        discounted = check_amount(errors, position.discount, (*field, "discount"))
        if valid and discounted and position.discount > position.value:
            errors.add(
                "DISCOUNT_EXCEEDS_VALUE",
                "the discount exceeds the position's value",
                (*field, "discount"),
            )
    if order_value is None and not positions:
        errors.add("REQUIRED", "orderValue is required without basket positions", ("orderValue",))
    elif order_value is not None:
        check_amount(errors, order_value, ("orderValue",))
    discount_valid = check_amount(errors, discount, ("discount",))
    if len(errors.errors) > before:
        return None
    total = sum((p.value for p in positions), Decimal(0))
    if order_value is None:
        order_value = total
    elif positions and order_value != total:
        errors.add(
            "BASKET_VALUE_MISMATCH",
            f"the basket positions add up to {total}, not to the order value {order_value}; "
            "leave orderValue out to use their sum",
            ("orderValue",),
        )
        return None
    discounts = discount + sum((p.discount for p in positions), Decimal(0))
    if discount_valid and discounts > order_value:
        errors.add("DISCOUNT_EXCEEDS_VALUE", "the discounts exceed the order value", ("discount",))
        return None
    return OrderAmounts(order_value, discount, spread_discount(discount, positions, currency))


def spread_discount(
    discount: Decimal, positions: Sequence[Position], currency: str
) -> tuple[Position, ...]:
    """The order discount shared out over the positions in proportion to what is left of each
    after its own discount, in the currency's minor unit (or finer, as the discount is given):
    the shares add up to the discount exactly (largest remainder), nothing is rounded away."""
    if not positions or discount == 0:
        return tuple(positions)
    shares = spread(
        discount, [p.value - p.discount for p in positions], unit_of(discount, currency)
    )
    return tuple(Position(p.value, p.discount + s) for p, s in zip(positions, shares, strict=True))
