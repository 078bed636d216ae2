"""An advertiser's order book and the tracking difference (SPEC §9, issue 12): the rules that
need no database.

A **book** is every order of one program in one **period**: a range of whole UTC days, first to
last day inclusive, at most `MAX_PERIOD_DAYS` long. Each line is an order id (unique within the
book), the order's time (inside the period), its value (in the program currency, or in a given
currency converted at the ECB rate of the order's UTC day) and an optional shop status.

The **tracking difference** of a month is the share of that month's book orders that tracking
missed: untracked ÷ book orders × 100, rounded once, half-up, to `PERCENT_PLACES` places."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from portal.domain.errors import DomainError, ErrorCollector
from portal.domain.money import MAX_AMOUNT, MAX_FRACTION_DIGITS
from portal.domain.order_values import (
    check_amount,
    check_currency,
    check_order_id,
    check_text,
)

MAX_PERIOD_DAYS = 366
"""A book covers at most a (leap) year of days."""
MAX_LINES_PER_CALL = 10_000
"""Lines of one `uploadOrderBook` call."""
MAX_FILE_LINES = 100_000
"""Rows of one order-book file."""
MAX_STATUS = 32
MAX_ROW_LIMIT = 1_000
"""Rows per list of the report (the totals always count every row)."""
DEFAULT_ROW_LIMIT = 100
PERCENT_PLACES = 2

Field = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Period:
    """Whole UTC days, `first_day` to `last_day` inclusive."""

    first_day: date
    last_day: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(0), UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.last_day + timedelta(days=1), time(0), UTC)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def overlaps(self, other: Period) -> bool:
        return self.first_day <= other.last_day and other.first_day <= self.last_day

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def check_period(period: Period, field: Field = ("period",)) -> Period:
    """INVALID_PERIOD when the last day is before the first, PERIOD_TOO_LONG past the maximum."""
    if period.last_day < period.first_day:
        raise DomainError(
            "INVALID_PERIOD", "the last day must not be before the first day", (*field, "to")
        )
    if period.days > MAX_PERIOD_DAYS:
        raise DomainError(
            "PERIOD_TOO_LONG",
            f"a period has at most {MAX_PERIOD_DAYS} days (this one has {period.days})",
            (*field, "to"),
        )
    return period


@dataclass(frozen=True, slots=True)
class BookLine:
    """One order as the shop's book has it (`currency` None: the program currency)."""

    order_id: str
    order_time: datetime
    order_value: Decimal
    currency: str | None = None
    status: str | None = None


def check_lines(
    lines: Sequence[BookLine],
    period: Period,
    *,
    limit: int,
    rows: Sequence[int] | None = None,
) -> list[BookLine]:
    """The lines cleaned (ids and statuses stripped, currencies upper-cased), or
    ValidationFailed naming every bad field as `lines.<i>.<field>`. A repeated order id is
    DUPLICATE_ORDER_ID on every repetition, naming the row (or line) it first appeared in;
    `rows`: the file rows the lines came from, for those messages."""
    errors = ErrorCollector()
    if len(lines) > limit:
        raise DomainError(
            "TOO_MANY_LINES", f"at most {limit} lines per upload (got {len(lines)})", ("lines",)
        )
    cleaned: list[BookLine] = []
    first_seen: dict[str, int] = {}

    def where(index: int) -> str:
        return f"row {rows[index]}" if rows is not None else f"line {index + 1}"

    for index, line in enumerate(lines):
        field = ("lines", str(index))
        order_id = check_order_id(errors, line.order_id, (*field, "orderId"))
        if order_id is not None:
            if order_id in first_seen:
                errors.add(
                    "DUPLICATE_ORDER_ID",
                    f"order id {order_id!r} is in the book twice: {where(first_seen[order_id])} "
                    f"and {where(index)}",
                    (*field, "orderId"),
                )
            else:
                first_seen[order_id] = index
        moment = line.order_time
        if moment.tzinfo is None or moment.utcoffset() is None:
            errors.add("INVALID_DATETIME", "the time needs a UTC offset", (*field, "orderTime"))
        elif not period.contains(moment):
            errors.add(
                "OUTSIDE_PERIOD",
                f"the order time {moment.isoformat()} lies outside the period "
                f"{period.first_day.isoformat()}–{period.last_day.isoformat()} (UTC days)",
                (*field, "orderTime"),
            )
        value_field = (*field, "orderValue")
        if check_amount(errors, line.order_value, value_field):
            exponent = line.order_value.as_tuple().exponent
            if line.order_value >= MAX_AMOUNT or (
                isinstance(exponent, int) and exponent < -MAX_FRACTION_DIGITS
            ):
                errors.add(
                    "INVALID_AMOUNT",
                    f"at most 15 integer and {MAX_FRACTION_DIGITS} decimal digits",
                    value_field,
                )
        currency = (line.currency or "").strip().upper() or None
        if currency is not None:
            check_currency(errors, currency, (*field, "currency"))
        status = check_text(errors, line.status, MAX_STATUS, (*field, "status"))
        cleaned.append(BookLine(order_id or "", moment, line.order_value, currency, status))
    errors.raise_if_any()
    return cleaned


def check_row_limit(limit: int, field: Field = ("rowLimit",)) -> int:
    if not 0 <= limit <= MAX_ROW_LIMIT:
        raise DomainError("OUT_OF_RANGE", f"rowLimit is 0–{MAX_ROW_LIMIT}", field)
    return limit


def tracking_difference_percent(untracked: int, book_orders: int) -> Decimal | None:
    """untracked ÷ book orders × 100, rounded once half-up to two places (exact: integer
    arithmetic before the one rounding); None for a month without book orders."""
    if book_orders <= 0:
        return None
    if untracked < 0:
        raise ValueError("a count is never negative")
    # Integer arithmetic on the exact fraction, then one half-up rounding (never binary floats).
    whole, rest = divmod(untracked * 100 * 10**PERCENT_PLACES, book_orders)
    if rest * 2 >= book_orders:
        whole += 1
    return Decimal(whole).scaleb(-PERCENT_PLACES)


def month_of(moment: datetime) -> str:
    """The UTC month of a moment, as `YYYY-MM`."""
    return moment.astimezone(UTC).strftime("%Y-%m")
