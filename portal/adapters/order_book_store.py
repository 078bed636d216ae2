"""Order books (issue 12): storing a program's book of a period (replacing the lines of an
earlier upload of the same period), and the set-based SQL of the tracking-difference report.

Every count and sum is computed in the database over all lines (exact on both databases:
`exact_sum`); only the row lists are capped (`limit`), ordered by time then id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, func, insert, select, update

from portal.adapters.bulk_insert import insert_rows
from portal.adapters.exact_sum import decimal_of, exact_sum, exact_value
from portal.adapters.tables import conversions, order_book_lines, order_books
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.order_books import Period
from portal.domain.programs import TargetKind

INSERT_BATCH = 5_000
LINE_COLUMNS = (
    "book_id",
    "order_id",
    "order_time",
    "order_value",
    "original_value",
    "original_currency",
    "exchange_rate",
    "status",
)


@dataclass(frozen=True, slots=True)
class StoredLine:
    """A line as stored: the value in the book's currency; `original_*` when it was given in
    another currency (and converted at `exchange_rate`)."""

    order_id: str
    order_time: datetime
    order_value: Decimal
    original_value: Decimal | None
    original_currency: str | None
    exchange_rate: Decimal | None
    status: str | None


@dataclass(frozen=True, slots=True)
class BookHead:
    id: int
    program_id: int
    period: Period
    currency: str
    line_count: int
    total_value: Decimal
    uploaded_at: datetime
    replaced: bool = False


def _head(row: Any, replaced: bool = False) -> BookHead:
    return BookHead(
        row.id,
        row.program_id,
        Period(row.first_day, row.last_day),
        row.currency,
        row.line_count,
        row.total_value,
        row.uploaded_at,
        replaced,
    )


async def find_book(uow: UnitOfWork, program_id: int, period: Period) -> BookHead | None:
    b = order_books.c
    row = await uow.first(
        select(order_books).where(
            b.program_id == program_id,
            b.first_day == period.first_day,
            b.last_day == period.last_day,
        )
    )
    return _head(row) if row is not None else None


async def overlapping_book(uow: UnitOfWork, program_id: int, period: Period) -> Period | None:
    """Another period of the program's books that shares a day with `period` (the same period
    is no overlap: it is replaced)."""
    b = order_books.c
    row = await uow.first(
        select(b.first_day, b.last_day)
        .where(
            b.program_id == program_id,
            b.first_day <= period.last_day,
            b.last_day >= period.first_day,
            ~and_(b.first_day == period.first_day, b.last_day == period.last_day),
        )
        .order_by(b.first_day)
        .limit(1)
    )
    return Period(row.first_day, row.last_day) if row is not None else None


async def replace_book(
    uow: UnitOfWork,
    program_id: int,
    period: Period,
    currency: str,
    lines: Sequence[StoredLine],
    user_id: int | None,
) -> BookHead:
    """Stores the book of the program and period, replacing the lines of an earlier upload of
    the same period (in the caller's transaction: all or nothing)."""
    total = sum((line.order_value for line in lines), Decimal(0))
    values = {
        "currency": currency,
        "line_count": len(lines),
        "total_value": total,
        "uploaded_by": user_id,
        "uploaded_at": uow.now,
    }
    existing = await find_book(uow, program_id, period)
    if existing is not None:
        book_id = existing.id
        await uow.execute(delete(order_book_lines).where(order_book_lines.c.book_id == book_id))
        await uow.execute(update(order_books).where(order_books.c.id == book_id).values(**values))
    else:
        book_id = await uow.insert(
            insert(order_books).values(
                program_id=program_id,
                first_day=period.first_day,
                last_day=period.last_day,
                **values,
            )
        )
    rows = [
        [
            book_id,
            line.order_id,
            line.order_time,
            line.order_value,
            line.original_value,
            line.original_currency,
            line.exchange_rate,
            line.status,
        ]
        for line in lines
    ]
    for start in range(0, len(rows), INSERT_BATCH):
        await insert_rows(
            uow.conn, order_book_lines, LINE_COLUMNS, rows[start : start + INSERT_BATCH], ids=False
        )
    return BookHead(
        book_id, program_id, period, currency, len(lines), total, uow.now, existing is not None
    )


# -- the report ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonthCounts:
    month: str  # YYYY-MM (UTC)
    book_orders: int
    book_value: Decimal
    matched: int
    matched_value: Decimal
    untracked: int
    untracked_value: Decimal


@dataclass(frozen=True, slots=True)
class ReportRow:
    """A row of one of the report's lists. Book side: order time, value, status; tracked side
    (the SALE conversion of the order id, or the conversion not in the book): id, tracking time,
    value, status."""

    order_id: str
    order_time: datetime | None = None
    book_value: Decimal | None = None
    book_status: str | None = None
    conversion_id: int | None = None
    tracking_time: datetime | None = None
    tracked_value: Decimal | None = None
    conversion_status: str | None = None
    conversion_target: str | None = None

    @property
    def difference(self) -> Decimal | None:
        """Book value − tracked value (None unless both are known)."""
        if self.book_value is None or self.tracked_value is None:
            return None
        return self.book_value - self.tracked_value


def _month(column: ColumnElement[Any], dialect: str) -> ColumnElement[str]:
    if dialect == "sqlite":
        return func.strftime("%Y-%m", column)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM")


class TrackingDifferenceSql:
    """The report's queries for one book (`book_id`) of a program over its period."""

    def __init__(self, uow: UnitOfWork, book: BookHead) -> None:
        self.uow = uow
        self.book = book
        self.dialect = uow.conn.dialect.name

    # Which book lines tracking saw: any conversion of the program with the order id.
    # (Aliases: the outer query may join both tables; only the outer line or conversion is
    # correlated.)
    def _matched(self) -> ColumnElement[bool]:
        any_conversion = conversions.alias("any_conversion")
        c, line = any_conversion.c, order_book_lines.c
        return (
            select(c.id)
            .where(c.program_id == self.book.program_id, c.order_id == line.order_id)
            .correlate(order_book_lines)
            .exists()
        )

    def _in_book(self) -> ColumnElement[bool]:
        book_line = order_book_lines.alias("book_line")
        c, line = conversions.c, book_line.c
        return (
            select(line.id)
            .where(line.book_id == self.book.id, line.order_id == c.order_id)
            .correlate(conversions)
            .exists()
        )

    def _period_conversions(self) -> list[ColumnElement[bool]]:
        c = conversions.c
        return [
            c.program_id == self.book.program_id,
            c.tracking_time >= self.book.period.start,
            c.tracking_time < self.book.period.end,
        ]

    async def months(self) -> list[MonthCounts]:
        """Per month of the lines' order times: the lines, and those tracking saw, with their
        values. Grouped by (month, matched) so the EXISTS of a line is evaluated once."""
        line = order_book_lines.c
        flagged = (
            select(
                _month(line.order_time, self.dialect).label("month"),
                line.order_value,
                case((self._matched(), 1), else_=0).label("matched"),
            )
            .where(line.book_id == self.book.id)
            .subquery()
        )
        f = flagged.c
        result = await self.uow.execute(
            select(
                f.month,
                f.matched,
                func.count().label("orders"),
                exact_sum(f.order_value, self.dialect).label("value"),
            ).group_by(f.month, f.matched)
        )
        found: dict[str, dict[int, tuple[int, Decimal]]] = {}
        for r in result:
            found.setdefault(r.month, {})[int(r.matched)] = (
                int(r.orders),
                decimal_of(r.value, self.dialect),
            )
        months = []
        for month in sorted(found):
            matched, matched_value = found[month].get(1, (0, Decimal(0)))
            untracked, untracked_value = found[month].get(0, (0, Decimal(0)))
            months.append(
                MonthCounts(
                    month,
                    matched + untracked,
                    matched_value + untracked_value,
                    matched,
                    matched_value,
                    untracked,
                    untracked_value,
                )
            )
        return months

    def _sale_join(self, *, outer: bool = False) -> Any:
        """Book lines with the SALE conversion of their order id (an order id has at most one:
        the value compared), `outer`: also the lines without one."""
        c, line = conversions.c, order_book_lines.c
        return order_book_lines.join(
            conversions,
            and_(
                c.program_id == self.book.program_id,
                c.order_id == line.order_id,
                c.target_kind == TargetKind.SALE.value,
            ),
            isouter=outer,
        )

    def _differs(self) -> ColumnElement[bool]:
        c, line = conversions.c, order_book_lines.c
        return exact_value(line.order_value, self.dialect) != exact_value(
            c.order_value, self.dialect
        )

    async def value_differences(self) -> tuple[int, Decimal, Decimal, Decimal]:
        """Matched orders whose book value differs from their SALE conversion's: the count, the
        sum of book − tracked, and the book and tracked values of those orders."""
        c, line = conversions.c, order_book_lines.c
        book = exact_value(line.order_value, self.dialect)
        tracked = exact_value(c.order_value, self.dialect)
        row = await self.uow.first(
            select(
                func.count().label("n"),
                func.sum(book - tracked).label("difference"),
                func.sum(book).label("book"),
                func.sum(tracked).label("tracked"),
            )
            .select_from(self._sale_join())
            .where(line.book_id == self.book.id, self._differs())
        )
        assert row is not None
        return (
            int(row.n),
            decimal_of(row.difference, self.dialect),
            decimal_of(row.book, self.dialect),
            decimal_of(row.tracked, self.dialect),
        )

    async def not_in_book(self) -> tuple[int, Decimal]:
        c = conversions.c
        row = await self.uow.first(
            select(
                func.count().label("n"), exact_sum(c.order_value, self.dialect).label("v")
            ).where(*self._period_conversions(), ~self._in_book())
        )
        assert row is not None
        return int(row.n), decimal_of(row.v, self.dialect)

    # -- the row lists (capped at `limit`, or all of them for a file: limit None) --

    def _book_rows(self, matched: bool | None, differing: bool, limit: int | None) -> Any:
        c, line = conversions.c, order_book_lines.c
        query = (
            select(
                line.order_id,
                line.order_time,
                line.order_value.label("book_value"),
                line.status.label("book_status"),
                c.id.label("conversion_id"),
                c.tracking_time,
                c.order_value.label("tracked_value"),
                c.status.label("conversion_status"),
                c.target.label("conversion_target"),
            )
            .select_from(self._sale_join(outer=not differing))
            .where(line.book_id == self.book.id)
            .order_by(line.order_time, line.id)
        )
        if differing:
            query = query.where(self._differs())
        elif matched is True:
            query = query.where(self._matched())
        elif matched is False:
            query = query.where(~self._matched())
        return query if limit is None else query.limit(limit)

    async def _rows(self, query: Any) -> list[ReportRow]:
        result = await self.uow.execute(query)
        return [_report_row(r) for r in result]

    async def matched_rows(self, limit: int | None) -> list[ReportRow]:
        return await self._rows(self._book_rows(True, False, limit))

    async def untracked_rows(self, limit: int | None) -> list[ReportRow]:
        return await self._rows(self._book_rows(False, False, limit))

    async def value_difference_rows(self, limit: int | None) -> list[ReportRow]:
        return await self._rows(self._book_rows(None, True, limit))

    def not_in_book_query(self, limit: int | None, before: datetime | None = None) -> Any:
        c = conversions.c
        query = (
            select(
                c.order_id,
                c.id.label("conversion_id"),
                c.tracking_time,
                c.order_value.label("tracked_value"),
                c.status.label("conversion_status"),
                c.target.label("conversion_target"),
            )
            .where(*self._period_conversions(), ~self._in_book())
            .order_by(c.tracking_time, c.id)
        )
        if before is not None:
            query = query.where(c.tracking_time < before)
        return query if limit is None else query.limit(limit)

    async def not_in_book_rows(self, limit: int | None) -> list[ReportRow]:
        return await self._rows(self.not_in_book_query(limit))


def _report_row(r: Any) -> ReportRow:
    m = r._mapping
    return ReportRow(
        order_id=m["order_id"],
        order_time=m.get("order_time"),
        book_value=m.get("book_value"),
        book_status=m.get("book_status"),
        conversion_id=m.get("conversion_id"),
        tracking_time=m.get("tracking_time"),
        tracked_value=m.get("tracked_value"),
        conversion_status=m.get("conversion_status"),
        conversion_target=m.get("conversion_target"),
    )
