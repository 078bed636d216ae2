"""Statistics straight from `conversions`: one GROUP BY over the conversions the viewer may see
(the same `visibility` rule as the conversion lists), answering partial sums per local day, UTC
day, currency, status and the asked dimensions; `portal.domain.statistics` does the rest.

PostgreSQL sums NUMERIC exactly, so it groups and sums. SQLite keeps amounts as text and would
sum them as binary floats, so there the same statement runs without the GROUP BY and every
conversion is its own partial (SQLite serves development and tests, not dashboards of a
million conversions)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Table,
    case,
    cast,
    extract,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from portal.adapters.ecb import BASE_CURRENCY
from portal.adapters.rate_reader import stored_rates
from portal.adapters.statistics_rollup import from_micros
from portal.adapters.tables import (
    conversions,
    partners,
    programs,
    statistics_daily,
    statistics_daily_programs,
)
from portal.adapters.visibility import visible
from portal.domain.access import Role, Viewer
from portal.domain.conversions import ConversionStatus
from portal.domain.errors import DomainError, NotFound
from portal.domain.exchange_rates import RateTable, ReferenceRate, required_window
from portal.domain.statistics import (
    MAX_ROWS,
    Dimension,
    OffsetSegment,
    Partial,
    StatisticsQuery,
    StatisticsRow,
    TimeGrain,
    aggregate,
    check_query,
    day_of_number,
    offset_segments,
    period_bounds,
    too_many_rows,
)

_SECONDS_PER_DAY = 86400
_COLUMNS = {
    Dimension.PARTNER: conversions.c.partner_id,
    Dimension.PROGRAM: conversions.c.program_id,
    Dimension.CATEGORY: conversions.c.category,
    Dimension.TARGET: conversions.c.target,
    Dimension.STATUS: conversions.c.status,
    Dimension.DEVICE: conversions.c.device,
}


_ROLLUP_COLUMNS = {
    Dimension.PARTNER: "partner_id",
    Dimension.PROGRAM: "program_id",
    Dimension.STATUS: "status",
}
_EPOCH = date(1970, 1, 1)


def _rollup_column(table: Table, dimension: Dimension) -> ColumnElement[object]:
    return table.c[_ROLLUP_COLUMNS[dimension]]


def _rollup_bucket(
    dialect: str, day: ColumnElement[date], query: StatisticsQuery
) -> ColumnElement[object] | None:
    """The day key of the rollup's partials: none when the answer needs no day, the first day
    of the week or month when that is all it needs (fewer partials), else the day itself (a
    converted amount needs the rate of its day)."""
    if query.currency is not None:
        return day.label("day")
    if query.grain is None:
        return None
    if query.grain is TimeGrain.DAY:
        return day.label("day")
    if dialect == "sqlite":
        if query.grain is TimeGrain.MONTH:
            return func.date(day, "start of month").label("day")
        return func.date(day, "-6 days", "weekday 1").label("day")  # that week's Monday
    unit = "month" if query.grain is TimeGrain.MONTH else "week"  # ISO weeks start on Monday
    return cast(func.date_trunc(unit, day), Date).label("day")


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _rollup_answers(query: StatisticsQuery, segments: Sequence[OffsetSegment]) -> bool:
    """Whether the daily rollup holds the answer: its days are UTC days, so the period's time
    zone must be UTC throughout, and it keeps only programs, partners and statuses, so neither
    groups nor filters may name a target, category or device. Everything else reads
    `conversions` (the same partials, just from more rows)."""
    return (
        all(segment.seconds == 0 for segment in segments)
        and set(query.dimensions) <= _ROLLUP_COLUMNS.keys()
        and not (query.targets or query.categories or query.devices)
    )


@dataclass(frozen=True, slots=True)
class StatisticsAnswer:
    rows: list[StatisticsRow]
    totals: list[StatisticsRow]


def _epoch_seconds(dialect: str) -> ColumnElement[int]:
    if dialect == "sqlite":
        return cast(func.strftime("%s", conversions.c.tracking_time), Integer)
    return extract("epoch", conversions.c.tracking_time)


def _offset(segments: Sequence[OffsetSegment]) -> ColumnElement[int]:
    if len(segments) == 1:
        return literal(segments[0].seconds)
    whens = [
        (conversions.c.tracking_time < following.since, current.seconds)
        for current, following in itertools.pairwise(segments)
    ]
    return case(*whens, else_=segments[-1].seconds)


def _day_number(dialect: str, offset: ColumnElement[int] | int) -> ColumnElement[int]:
    shifted = _epoch_seconds(dialect) + offset
    if dialect == "sqlite":
        return shifted / _SECONDS_PER_DAY  # integer division; tracking times are after 1970
    return cast(func.floor(shifted / _SECONDS_PER_DAY), Integer)


async def check_visible_ids(
    conn: AsyncConnection,
    viewer: Viewer,
    program_ids: Sequence[int],
    partner_ids: Sequence[int],
) -> None:
    """A program or partner of a filter that the viewer may not see is NOT_FOUND (naming its
    place in the filter), not silently answered with nothing."""
    for ids, table, name, what in (
        (program_ids, programs, "programIds", "program"),
        (partner_ids, partners, "partnerIds", "partner"),
    ):
        if not ids:
            continue
        found = set(
            (
                await conn.execute(
                    select(table.c.id).where(table.c.id.in_(set(ids)), visible(table, viewer))
                )
            ).scalars()
        )
        for index, pk in enumerate(ids):
            if pk not in found:
                raise NotFound(what, ("filter", name, str(index)))


class StatisticsReader:
    def __init__(self, engine: AsyncEngine, viewer: Viewer) -> None:
        self.engine = engine
        self.viewer = viewer

    async def statistics(self, query: StatisticsQuery) -> StatisticsAnswer:
        zone = check_query(query)
        start, end = period_bounds(zone, query.first_day, query.last_day)
        segments = offset_segments(zone, start, end)
        async with self.engine.connect() as conn:
            await check_visible_ids(conn, self.viewer, query.program_ids, query.partner_ids)
            if _rollup_answers(query, segments):
                partials = await self._rollup_partials(conn, query, start, end)
            else:
                partials = await self._partials(conn, query, segments, start, end)
            lookup = None
            if query.currency is not None:
                lookup = await self._rates(conn, query.currency, partials)
        rows, totals = aggregate(query, partials, lookup)
        if len(rows) > MAX_ROWS:
            raise too_many_rows(len(rows))
        return StatisticsAnswer(rows, totals)

    async def _partials(
        self,
        conn: AsyncConnection,
        query: StatisticsQuery,
        segments: Sequence[OffsetSegment],
        start: datetime,
        end: datetime,
    ) -> list[Partial]:
        dialect = conn.dialect.name
        c = conversions.c
        # Only the keys the answer needs: the local day to bucket by time, the UTC day to pick
        # the rate of a conversion (every other group is far smaller without them).
        local_day = (_day_number(dialect, _offset(segments)) if query.grain else literal(0)).label(
            "local_day"
        )
        utc_day = (_day_number(dialect, 0) if query.currency else literal(0)).label("utc_day")
        dims = [_COLUMNS[d].label(f"k{i}") for i, d in enumerate(query.dimensions)]
        conditions = [visible(conversions, self.viewer), c.tracking_time >= start]
        conditions.append(c.tracking_time < end)
        for column, values in (
            (c.program_id, query.program_ids),
            (c.partner_id, query.partner_ids),
            (c.status, tuple(s.value for s in query.statuses)),
            (c.target, query.targets),
            (c.category, query.categories),
            (c.device, query.devices),
        ):
            if values:
                conditions.append(column.in_(values))
        inner = select(
            local_day, utc_day, c.currency, c.status, *dims, c.order_value, c.commission
        ).where(*conditions)
        if dialect == "sqlite":
            statement = inner
        else:
            sub = inner.subquery()
            keys = [
                sub.c.local_day,
                sub.c.utc_day,
                sub.c.currency,
                sub.c.status,
                *(sub.c[f"k{i}"] for i in range(len(dims))),
            ]
            statement = select(
                *keys,
                func.count().label("n"),
                func.sum(sub.c.order_value).label("order_value"),
                func.sum(sub.c.commission).label("commission"),
            ).group_by(*keys)
        result = await conn.execute(statement)
        grouped = dialect != "sqlite"
        status_index = (
            query.dimensions.index(Dimension.STATUS)
            if Dimension.STATUS in query.dimensions
            else None
        )
        partials = []
        for row in result:
            mapping = row._mapping
            keys_of_row: list[object] = [mapping[f"k{i}"] for i in range(len(dims))]
            if status_index is not None:
                keys_of_row[status_index] = ConversionStatus(keys_of_row[status_index])
            partials.append(
                Partial(
                    local_day=day_of_number(row.local_day),
                    utc_day=day_of_number(row.utc_day),
                    currency=row.currency,
                    status=ConversionStatus(row.status),
                    keys=tuple(keys_of_row),
                    count=row.n if grouped else 1,
                    order_value=row.order_value,
                    commission=row.commission,
                )
            )
        return partials

    async def _rollup_partials(
        self, conn: AsyncConnection, query: StatisticsQuery, start: datetime, end: datetime
    ) -> list[Partial]:
        """The partials of `_partials`, read from a daily rollup (see `_rollup_answers`): the
        per-program one unless the answer needs partners, or the viewer is a partner."""
        by_partner = (
            self.viewer.role is Role.PARTNER
            or Dimension.PARTNER in query.dimensions
            or bool(query.partner_ids)
        )
        table = statistics_daily if by_partner else statistics_daily_programs
        r = table.c
        dims = [_rollup_column(table, d).label(f"k{i}") for i, d in enumerate(query.dimensions)]
        conditions = [visible(table, self.viewer), r.day >= start.date()]
        conditions += [r.day < end.date(), r.conversion_count != 0]
        for column, values in (
            (r.program_id, query.program_ids),
            (r.partner_id if by_partner else None, query.partner_ids),
            (r.status, tuple(s.value for s in query.statuses)),
        ):
            if values and column is not None:
                conditions.append(column.in_(values))
        day = _rollup_bucket(conn.dialect.name, r.day, query)
        keys = [*([day] if day is not None else []), r.currency, r.status, *dims]
        statement = (
            select(
                *keys,
                func.sum(r.conversion_count).label("n"),
                func.sum(r.order_value_micros).label("order_value"),
                func.sum(r.commission_micros).label("commission"),
            )
            .where(*conditions)
            .group_by(*keys)
        )
        status_index = (
            query.dimensions.index(Dimension.STATUS)
            if Dimension.STATUS in query.dimensions
            else None
        )
        partials = []
        for row in await conn.execute(statement):
            mapping = row._mapping
            keys_of_row: list[object] = [mapping[f"k{i}"] for i in range(len(dims))]
            if status_index is not None:
                keys_of_row[status_index] = ConversionStatus(keys_of_row[status_index])
            row_day = _EPOCH if day is None else _as_date(mapping["day"])
            partials.append(
                Partial(
                    local_day=row_day,
                    utc_day=row_day,
                    currency=row.currency,
                    status=ConversionStatus(row.status),
                    keys=tuple(keys_of_row),
                    count=int(row.n),
                    order_value=from_micros(int(row.order_value)),
                    commission=from_micros(int(row.commission)),
                )
            )
        return partials

    async def _rates(self, conn: AsyncConnection, target: str, partials: Sequence[Partial]):  # type: ignore[no-untyped-def]
        """(currency, UTC day) → the ECB rate into `target` with the 7-day fallback; a missing
        rate is MISSING_EXCHANGE_RATE naming `currency`."""
        days = [p.utc_day for p in partials if p.currency != target]
        if not days:
            return lambda currency, day: None
        first = required_window(min(days))[0]
        stored = await stored_rates(conn, BASE_CURRENCY, first, max(days))
        table = RateTable(
            BASE_CURRENCY,
            [ReferenceRate(BASE_CURRENCY, cur, day, rate) for (cur, day), rate in stored.items()],
        )

        def lookup(currency: str, day):  # type: ignore[no-untyped-def]
            try:
                return table.exchange_rate(currency, target, day)
            except DomainError as error:
                raise DomainError(error.code, error.message, ("currency",)) from None

        return lookup
