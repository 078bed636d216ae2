"""Statistics of conversions (SPEC §9): what may be asked, the time buckets of a time zone, and
the exact aggregation of partial sums into rows and totals.

The database answers *partials*: sums per (local day, UTC day, currency, status, dimensions).
Everything else happens here, in one place, whatever the database: the local day becomes a day,
week or month bucket, amounts are converted (at the rate of the UTC tracking day) and summed
exactly, and each cell is rounded once, half-up, at the end.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, Inexact
from fractions import Fraction
from zoneinfo import ZoneInfo, available_timezones

from portal.domain.conversions import ConversionStatus
from portal.domain.errors import DomainError
from portal.domain.exchange_rates import ExchangeRate, convert_exactly
from portal.domain.money import require_currency, round_quotient


class TimeGrain(enum.Enum):
    DAY = "DAY"
    WEEK = "WEEK"  # ISO weeks, starting on Monday
    MONTH = "MONTH"


class Dimension(enum.Enum):
    PARTNER = "PARTNER"
    PROGRAM = "PROGRAM"
    CATEGORY = "CATEGORY"
    TARGET = "TARGET"
    STATUS = "STATUS"
    DEVICE = "DEVICE"


MAX_PERIOD_DAYS = {TimeGrain.DAY: 400, None: 1830, TimeGrain.WEEK: 1830, TimeGrain.MONTH: 1830}
"""The longest period (in days, both ends included): 400 by day, 5 years otherwise."""

MAX_ROWS = 5000
"""The most rows one answer may hold; a larger grouping is refused with its row estimate."""

DEFAULT_TIME_ZONE = "UTC"
_EPOCH = date(1970, 1, 1)
_STATUSES = tuple(ConversionStatus)


@dataclass(frozen=True, slots=True)
class StatisticsQuery:
    """What a viewer asks: the period in local days of `time_zone` (both ends included), the
    grouping, the filters, and optionally one currency to convert every amount into."""

    first_day: date
    last_day: date
    time_zone: str = DEFAULT_TIME_ZONE
    grain: TimeGrain | None = None
    dimensions: tuple[Dimension, ...] = ()
    program_ids: tuple[int, ...] = ()
    partner_ids: tuple[int, ...] = ()
    statuses: tuple[ConversionStatus, ...] = ()
    targets: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    currency: str | None = None


def parse_group_by(
    items: Sequence[str], field_name: tuple[str, ...] = ("groupBy",)
) -> tuple[TimeGrain | None, tuple[Dimension, ...]]:
    """At most one time grain, any dimensions (each once, in the order given)."""
    grains = [TimeGrain(i) for i in items if i in TimeGrain.__members__]
    if len(set(grains)) > 1:
        raise DomainError(
            "INVALID_GROUP_BY", "group by at most one of DAY, WEEK and MONTH", field_name
        )
    dimensions = tuple(dict.fromkeys(Dimension(i) for i in items if i in Dimension.__members__))
    return (grains[0] if grains else None), dimensions


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone of that exact name; anything else (a path, a name of 10,000 characters, a
    wrong case) is UNKNOWN_TIME_ZONE, never looked up as a file."""
    if name not in _zone_names():
        raise DomainError(
            "UNKNOWN_TIME_ZONE",
            f"{name[:64]!r} is not an IANA time zone (e.g. Europe/Berlin)",
            ("timeZone",),
        )
    return ZoneInfo(name)


def check_query(query: StatisticsQuery) -> ZoneInfo:
    """Refuses what cannot be answered well: an unknown time zone, an empty or too long
    period, an unknown currency, more rows than `MAX_ROWS` known before reading anything."""
    zone = zone_of(query.time_zone)
    if query.currency is not None:
        require_currency(query.currency, ("currency",))
    if query.last_day < query.first_day:
        raise DomainError(
            "INVALID_PERIOD", "the period ends before it starts", ("filter", "period")
        )
    days = (query.last_day - query.first_day).days + 1
    longest = MAX_PERIOD_DAYS[query.grain]
    if days > longest:
        by = f"by {query.grain.value}" if query.grain else "without a time grouping"
        raise DomainError(
            "PERIOD_TOO_LONG",
            f"a period {by} spans at most {longest} days, not {days}",
            ("filter", "period"),
        )
    estimate = static_row_estimate(query)
    if estimate is not None and estimate > MAX_ROWS:
        raise too_many_rows(estimate)
    return zone


def too_many_rows(estimate: int) -> DomainError:
    return DomainError(
        "TOO_MANY_ROWS",
        f"this grouping would return about {estimate} rows, more than {MAX_ROWS}: group by "
        "fewer dimensions, a coarser time, or filter",
        ("groupBy",),
    )


def time_buckets(query: StatisticsQuery) -> int:
    if query.grain is None:
        return 1
    return len({bucket_start(query.grain, d) for d in _days(query.first_day, query.last_day)})


def static_row_estimate(query: StatisticsQuery) -> int | None:
    """The most rows the grouping can give, when every dimension is bounded by the query itself
    (a filter of its values, or STATUS's three); None when some dimension is open."""
    estimate = time_buckets(query)
    for dimension in query.dimensions:
        bound = _bound(query, dimension)
        if bound is None:
            return None
        estimate *= bound
    return estimate


def _bound(query: StatisticsQuery, dimension: Dimension) -> int | None:
    given = {
        Dimension.PARTNER: query.partner_ids,
        Dimension.PROGRAM: query.program_ids,
        Dimension.CATEGORY: query.categories,
        Dimension.TARGET: query.targets,
        Dimension.STATUS: query.statuses or _STATUSES,
        Dimension.DEVICE: query.devices,
    }[dimension]
    return len(set(given)) or None


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def bucket_start(grain: TimeGrain, day: date) -> date:
    if grain is TimeGrain.DAY:
        return day
    if grain is TimeGrain.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def bucket_end(grain: TimeGrain, start: date) -> date:
    """The last day of the bucket that starts on `start`."""
    if grain is TimeGrain.DAY:
        return start
    if grain is TimeGrain.WEEK:
        return start + timedelta(days=6)
    following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


# --- time zones -------------------------------------------------------------------------------


def local_midnight(zone: ZoneInfo, day: date) -> datetime:
    """The UTC instant at which `day` begins in `zone`. fold=0 is right both ways: a midnight
    that occurs twice begins at its first occurrence, and one that falls into a DST gap (the
    clocks jump from 00:00 to 01:00) reads with the offset before the jump, which is the first
    instant of the day that exists."""
    naive = datetime(day.year, day.month, day.day)
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


def period_bounds(zone: ZoneInfo, first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of the local days `first_day` … `last_day`."""
    return local_midnight(zone, first_day), local_midnight(zone, last_day + timedelta(days=1))


@dataclass(frozen=True, slots=True)
class OffsetSegment:
    """From `since` (UTC) on, local time is UTC + `seconds` (until the next segment)."""

    since: datetime
    seconds: int


def offset_segments(zone: ZoneInfo, start: datetime, end: datetime) -> list[OffsetSegment]:
    """The UTC offsets of `zone` between `start` and `end`, one segment per DST period: a
    conversion's local day is ⌊(UTC seconds since 1970 + offset) / 86400⌋, which SQL computes
    with a CASE over these few segments."""

    def offset(at: datetime) -> int:
        delta = at.astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    segments = [OffsetSegment(start, offset(start))]
    step = timedelta(hours=6)
    at = start
    while at < end:
        following = min(at + step, end)
        if offset(following) != segments[-1].seconds:
            low, high = at, following  # the change lies in (low, high]: halve to the second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if offset(middle) == segments[-1].seconds:
                    low = middle
                else:
                    high = middle
            high = high.replace(microsecond=0)
            segments.append(OffsetSegment(high, offset(high)))
        at = following
    return segments


def day_of_number(number: int) -> date:
    """The date of a day number (days since 1970-01-01) as the SQL of the partials gives it."""
    return _EPOCH + timedelta(days=int(number))


# --- aggregation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Partial:
    """Sums of some conversions with the same keys, as the database gives them. `keys` holds
    the values of the query's dimensions, in the query's order (STATUS included if asked)."""

    local_day: date
    utc_day: date
    currency: str
    status: ConversionStatus
    keys: tuple[object, ...]
    count: int
    order_value: Decimal
    commission: Decimal


@dataclass(frozen=True, slots=True)
class Measures:
    count: int
    order_value: Decimal
    commission: Decimal


@dataclass(frozen=True, slots=True)
class StatisticsRow:
    """One group: its time bucket (None: not grouped by time), its keys by dimension, its
    currency and measures, every amount rounded once."""

    period_start: date | None
    period_end: date | None
    keys: dict[Dimension, object]
    currency: str
    total: Measures
    average_order_value: Decimal | None
    by_status: dict[ConversionStatus, Measures]


Exact = Decimal | Fraction
"""A sum kept exact: Decimal (added under `_SUMS`, far wider than any sum) while no amount was
converted, else a Fraction (a converted amount may not end in decimal digits)."""
_SUMS = Context(prec=100, traps=[Inexact])


@dataclass
class _Sums:
    count: int = 0
    order_value: Exact = Decimal(0)
    commission: Exact = Decimal(0)

    def add(self, count: int, order_value: Exact, commission: Exact) -> None:
        self.count += count
        if isinstance(order_value, Decimal):
            self.order_value = _SUMS.add(self.order_value, order_value)
            self.commission = _SUMS.add(self.commission, commission)
        else:
            self.order_value = Fraction(self.order_value) + order_value
            self.commission = Fraction(self.commission) + commission


@dataclass
class _Cell:
    total: _Sums = field(default_factory=_Sums)
    by_status: dict[ConversionStatus, _Sums] = field(
        default_factory=lambda: {s: _Sums() for s in _STATUSES}
    )


RateLookup = Callable[[str, date], ExchangeRate]
"""(source currency, UTC day) → the rate into the target currency (RateTable.exchange_rate)."""


def _rounded(value: Exact, currency: str, count: int = 1) -> Decimal:
    """`value` ÷ `count` rounded once, half-up, to the currency's minor unit."""
    if isinstance(value, Decimal):
        return round_quotient(value, Decimal(count), currency)
    return round_quotient(Decimal(value.numerator), Decimal(value.denominator * count), currency)


def _measures(sums: _Sums, currency: str) -> Measures:
    return Measures(
        sums.count, _rounded(sums.order_value, currency), _rounded(sums.commission, currency)
    )


def aggregate(
    query: StatisticsQuery, partials: Iterable[Partial], rate: RateLookup | None
) -> tuple[list[StatisticsRow], list[StatisticsRow]]:
    """Rows (ordered by time bucket, then keys, then currency) and totals (one per currency;
    exactly one when converting). `rate` is required when `query.currency` is given."""
    cells: dict[tuple[object, ...], _Cell] = {}
    totals: dict[str, _Cell] = {}
    target = query.currency
    rates: dict[tuple[str, date], ExchangeRate | None] = {}
    for p in partials:
        currency = target or p.currency
        if target is None or p.currency == target:
            conversion = None
        else:
            key = (p.currency, p.utc_day)
            if key not in rates:
                assert rate is not None
                rates[key] = rate(p.currency, p.utc_day)
            conversion = rates[key]
        order_value: Exact
        commission: Exact
        if target is None:
            order_value, commission = p.order_value, p.commission
        elif conversion is None:
            order_value, commission = Fraction(p.order_value), Fraction(p.commission)
        else:
            order_value = convert_exactly(p.order_value, conversion)
            commission = convert_exactly(p.commission, conversion)
        bucket = bucket_start(query.grain, p.local_day) if query.grain else None
        for cell in (
            cells.setdefault((bucket, p.keys, currency), _Cell()),
            totals.setdefault(currency, _Cell()),
        ):
            cell.total.add(p.count, order_value, commission)
            cell.by_status[p.status].add(p.count, order_value, commission)
    rows = [
        _row(query, bucket, keys, currency, cell)
        for (bucket, keys, currency), cell in sorted(cells.items(), key=_order)
    ]
    if target is not None and not totals:
        totals[target] = _Cell()
    total_rows = [_row(query, None, (), c, totals[c]) for c in sorted(totals)]
    return rows, total_rows


def _order(item: tuple[tuple[object, ...], _Cell]) -> tuple[object, ...]:
    bucket, keys, currency = item[0]
    return (
        bucket or _EPOCH,
        tuple((k is None, "" if k is None else str(k).zfill(20)) for k in keys),  # type: ignore[union-attr]
        currency,
    )


def _row(
    query: StatisticsQuery,
    bucket: object,
    keys: tuple[object, ...],
    currency: str,
    cell: _Cell,
) -> StatisticsRow:
    assert bucket is None or isinstance(bucket, date)
    total = _measures(cell.total, currency)
    average = (
        _rounded(cell.total.order_value / cell.total.count, currency) if cell.total.count else None
    )
    return StatisticsRow(
        period_start=bucket,
        period_end=bucket_end(query.grain, bucket) if query.grain and bucket else None,
        keys=dict(zip(query.dimensions, keys, strict=False)) if keys else {},
        currency=currency,
        total=total,
        average_order_value=average,
        by_status={s: _measures(cell.by_status[s], currency) for s in _STATUSES},
    )
