"""The pure parts of statistics: time zone offsets and day boundaries, buckets, the limits and
the exact aggregation rounded once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from portal.domain.conversions import ConversionStatus
from portal.domain.errors import DomainError
from portal.domain.exchange_rates import ExchangeRate
from portal.domain.statistics import (
    MAX_ROWS,
    Dimension,
    Partial,
    StatisticsQuery,
    TimeGrain,
    aggregate,
    bucket_end,
    bucket_start,
    check_query,
    local_midnight,
    offset_segments,
    parse_group_by,
    period_bounds,
)


def test_berlin_offsets_over_a_year_change_at_the_dst_instants() -> None:
    zone = ZoneInfo("Europe/Berlin")
    start, end = period_bounds(zone, date(2026, 1, 1), date(2026, 12, 31))
    segments = offset_segments(zone, start, end)
    assert [(s.since, s.seconds) for s in segments] == [
        (datetime(2025, 12, 31, 23, 0, tzinfo=UTC), 3600),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), 7200),
        (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), 3600),
    ]


def test_a_zone_without_dst_has_one_segment_and_half_hour_offsets_work() -> None:
    zone = ZoneInfo("Asia/Kolkata")
    start, end = period_bounds(zone, date(2026, 1, 1), date(2026, 12, 31))
    assert start == datetime(2025, 12, 31, 18, 30, tzinfo=UTC)
    assert [s.seconds for s in offset_segments(zone, start, end)] == [19800]


def test_a_day_that_starts_in_a_dst_gap_starts_at_the_first_existing_instant() -> None:
    # Santiago de Chile moved its clocks from 00:00 to 01:00 on 2026-09-06.
    zone = ZoneInfo("America/Santiago")
    midnight = local_midnight(zone, date(2026, 9, 6))
    assert midnight == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)
    assert midnight.astimezone(zone).hour == 1


@pytest.mark.parametrize(
    ("grain", "day", "start", "end"),
    [
        (TimeGrain.DAY, date(2026, 3, 4), date(2026, 3, 4), date(2026, 3, 4)),
        (TimeGrain.WEEK, date(2026, 3, 1), date(2026, 2, 23), date(2026, 3, 1)),
        (TimeGrain.MONTH, date(2026, 2, 14), date(2026, 2, 1), date(2026, 2, 28)),
        (TimeGrain.MONTH, date(2028, 2, 29), date(2028, 2, 1), date(2028, 2, 29)),
        (TimeGrain.MONTH, date(2026, 12, 31), date(2026, 12, 1), date(2026, 12, 31)),
    ],
)
def test_buckets(grain: TimeGrain, day: date, start: date, end: date) -> None:
    assert bucket_start(grain, day) == start
    assert bucket_end(grain, start) == end


def test_group_by_takes_one_time_grain_and_dimensions_once() -> None:
    assert parse_group_by(["PARTNER", "DAY", "PARTNER"]) == (TimeGrain.DAY, (Dimension.PARTNER,))
    with pytest.raises(DomainError) as raised:
        parse_group_by(["DAY", "WEEK"])
    assert raised.value.code == "INVALID_GROUP_BY"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (
            StatisticsQuery(date(2026, 1, 1), date(2026, 1, 1), time_zone="Nowhere/City"),
            "UNKNOWN_TIME_ZONE",
        ),
        (
            StatisticsQuery(date(2026, 1, 1), date(2027, 2, 5), grain=TimeGrain.DAY),
            "PERIOD_TOO_LONG",
        ),
        (StatisticsQuery(date(2026, 1, 1), date(2025, 1, 1)), "INVALID_PERIOD"),
        (StatisticsQuery(date(2026, 1, 1), date(2026, 1, 1), currency="EURO"), "UNKNOWN_CURRENCY"),
        (
            StatisticsQuery(
                date(2025, 1, 1),
                date(2026, 1, 31),
                grain=TimeGrain.DAY,
                dimensions=(Dimension.STATUS, Dimension.DEVICE),
                devices=("a", "b", "c", "d", "e"),
            ),
            "TOO_MANY_ROWS",
        ),
    ],
)
def test_check_query_refuses(query: StatisticsQuery, code: str) -> None:
    with pytest.raises(DomainError) as raised:
        check_query(query)
    assert raised.value.code == code


def test_400_days_by_day_are_allowed_401_are_not() -> None:
    check_query(StatisticsQuery(date(2025, 1, 1), date(2026, 2, 4), grain=TimeGrain.DAY))
    with pytest.raises(DomainError):
        check_query(StatisticsQuery(date(2025, 1, 1), date(2026, 2, 5), grain=TimeGrain.DAY))
    assert MAX_ROWS == 5000


def _partial(day: date, currency: str, value: str, status: ConversionStatus) -> Partial:
    return Partial(day, day, currency, status, (), 1, Decimal(value), Decimal(value) / 10)


def test_converted_cells_are_summed_exactly_and_rounded_once() -> None:
    # USD 0.01 three times at 1 EUR = 1.5 USD: 3 × 0.00666… = EUR 0.02 (each alone rounds to
    # 0.01, and 0.01 × 3 = 0.03 would be wrong).
    rate = ExchangeRate("USD", "EUR", Decimal(1), Decimal("1.5"), date(2026, 3, 1))
    day = date(2026, 3, 1)
    partials = [_partial(day, "USD", "0.01", ConversionStatus.OPEN) for _ in range(3)]
    query = StatisticsQuery(day, day, currency="EUR")
    rows, totals = aggregate(query, partials, lambda currency, d: rate)
    [row] = rows
    assert row.total.order_value == Decimal("0.02")
    assert row.total.count == 3
    assert row.average_order_value == Decimal("0.01")
    assert [t.currency for t in totals] == ["EUR"]


def test_without_a_currency_amounts_of_different_currencies_are_never_added() -> None:
    day = date(2026, 3, 1)
    partials = [
        _partial(day, "EUR", "10.005", ConversionStatus.CONFIRMED),
        _partial(day, "JPY", "100", ConversionStatus.REJECTED),
    ]
    rows, totals = aggregate(StatisticsQuery(day, day), partials, None)
    assert [(r.currency, r.total.order_value) for r in rows] == [
        ("EUR", Decimal("10.01")),
        ("JPY", Decimal("100")),
    ]
    assert [t.currency for t in totals] == ["EUR", "JPY"]
    assert rows[0].by_status[ConversionStatus.CONFIRMED].count == 1
    assert rows[0].by_status[ConversionStatus.REJECTED].count == 0


def test_the_daily_rollup_answers_utc_queries_by_program_partner_and_status_only() -> None:
    from datetime import datetime as dt

    from portal.adapters.statistics_reader import _rollup_answers
    from portal.domain.statistics import Dimension, OffsetSegment, StatisticsQuery, TimeGrain

    utc = [OffsetSegment(dt(2026, 3, 1, tzinfo=UTC), 0)]
    berlin = [OffsetSegment(dt(2026, 3, 1, tzinfo=UTC), 3600)]

    def query(**given: object) -> StatisticsQuery:
        base: dict[str, object] = {
            "first_day": date(2026, 3, 1),
            "last_day": date(2026, 3, 31),
            "time_zone": "UTC",
            "grain": TimeGrain.DAY,
            "dimensions": (Dimension.PARTNER, Dimension.STATUS),
        }
        return StatisticsQuery(**{**base, **given})  # type: ignore[arg-type]

    assert _rollup_answers(query(), utc)
    assert _rollup_answers(query(dimensions=(Dimension.PROGRAM,), currency="EUR"), utc)
    assert not _rollup_answers(query(), berlin)  # its days are not UTC days
    assert not _rollup_answers(query(dimensions=(Dimension.DEVICE,)), utc)
    assert not _rollup_answers(query(categories=("shoes",)), utc)
    assert not _rollup_answers(query(targets=("SALE",)), utc)
