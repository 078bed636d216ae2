"""Order books and the tracking-difference report (SPEC §9, issue 12). One code path for a book,
whatever its source: `uploadOrderBook` (lines) and `importOrderBook` (a CSV/XLSX file) both call
`upload_order_book`.

Visibility: the program's advertiser and admins; partners never see a book or its report (they
get NOT_FOUND, whether or not they work with the program), nor does another advertiser."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from portal.adapters import rows
from portal.adapters.order_book_store import (
    BookHead,
    MonthCounts,
    ReportRow,
    StoredLine,
    TrackingDifferenceSql,
    find_book,
    overlapping_book,
    replace_book,
)
from portal.adapters.rate_store import rate_tables
from portal.adapters.tables import conversions, programs
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.conversions import ConversionStatus
from portal.domain.errors import DomainError, NotFound, ValidationFailed
from portal.domain.exchange_rates import convert_amount
from portal.domain.order_books import (
    DEFAULT_ROW_LIMIT,
    MAX_LINES_PER_CALL,
    BookLine,
    Period,
    check_lines,
    check_period,
    check_row_limit,
    tracking_difference_percent,
)
from portal.domain.programs import Program
from portal.services.order_batch import tracking_day
from portal.services.order_checks import order_exchange
from portal.services.sales_validation import MAX_LINES as MAX_VALIDATION_LINES
from portal.services.sales_validation import (
    LineResult,
    ValidationLine,
    ValidationSource,
    validate_lines,
)
from portal.services.scope import managed_program


async def book_program(
    uow: UnitOfWork, viewer: Viewer, program_id: int, field: tuple[str, ...] = ("programId",)
) -> Program:
    """The program whose order book the viewer may upload and read: its advertiser's users and
    admins. Partners get NOT_FOUND (a book is never theirs to see)."""
    if viewer.role is Role.PARTNER:
        raise NotFound("program", field)
    return rows.program(await managed_program(uow, viewer, program_id, field))


async def _stored_lines(
    uow: UnitOfWork, program: Program, lines: Sequence[BookLine]
) -> list[StoredLine]:
    """The lines with their values in the program currency: a line in another currency is
    converted at the ECB reference rate of its order's UTC day (7-day fallback), rounded once
    half-up to the program currency's minor unit, and keeps its original value and currency."""
    foreign_days = [
        tracking_day(line.order_time)
        for line in lines
        if line.currency is not None and line.currency != program.currency
    ]
    tables = await rate_tables(uow.conn, foreign_days) if foreign_days else {}
    stored: list[StoredLine] = []
    errors: list[DomainError] = []
    for index, line in enumerate(lines):
        currency = line.currency or program.currency
        if currency == program.currency:
            stored.append(
                StoredLine(
                    line.order_id, line.order_time, line.order_value, None, None, None, line.status
                )
            )
            continue
        try:
            exchange = order_exchange(
                currency, program.currency, tracking_day(line.order_time), tables
            )
        except DomainError as error:
            errors.append(DomainError(error.code, error.message, ("lines", str(index), "currency")))
            continue
        assert exchange is not None
        stored.append(
            StoredLine(
                line.order_id,
                line.order_time,
                convert_amount(line.order_value, exchange, rounded=True),
                line.order_value,
                currency,
                exchange.rate,
                line.status,
            )
        )
    if errors:
        raise ValidationFailed(errors)
    return stored


async def upload_order_book(
    uow: UnitOfWork,
    viewer: Viewer,
    program_id: int,
    period: Period,
    lines: Sequence[BookLine],
    *,
    limit: int = MAX_LINES_PER_CALL,
    rows_of_lines: Sequence[int] | None = None,
) -> BookHead:
    """Stores the program's order book of the period: every order, its order id unique in the
    book, its time inside the period. The same program and period uploaded again replaces the
    lines; a period that overlaps another stored period of the program is refused
    (PERIOD_OVERLAP). Every bad line is reported at once (`lines.<i>.<field>`) and nothing is
    written. `rows_of_lines`: the file rows the lines came from (for duplicate messages)."""
    program = await book_program(uow, viewer, program_id)
    check_period(period)
    cleaned = check_lines(lines, period, limit=limit, rows=rows_of_lines)
    # Uploads of one program's books take turns (PostgreSQL; SQLite writes one at a time
    # anyway): two uploads of the same new period would otherwise both insert it, and the
    # overlap check would miss a period stored meanwhile.
    await uow.execute(select(programs.c.id).where(programs.c.id == program_id).with_for_update())
    other = await overlapping_book(uow, program_id, period)
    if other is not None:
        raise DomainError(
            "PERIOD_OVERLAP",
            f"the program has a book of {other.first_day.isoformat()}–"
            f"{other.last_day.isoformat()}, which shares days with this period: upload that "
            "period again (it replaces), or a period without those days",
            ("period",),
        )
    stored = await _stored_lines(uow, program, cleaned)
    return await replace_book(
        uow, program_id, period, program.currency, stored, viewer.user_id or None
    )


async def order_book(
    uow: UnitOfWork, viewer: Viewer, program_id: int, period: Period
) -> BookHead | None:
    await book_program(uow, viewer, program_id)
    check_period(period)
    return await find_book(uow, program_id, period)


@dataclass(frozen=True, slots=True)
class Total:
    count: int
    value: Decimal


@dataclass(frozen=True, slots=True)
class MonthDifference:
    counts: MonthCounts

    @property
    def percent(self) -> Decimal | None:
        return tracking_difference_percent(self.counts.untracked, self.counts.book_orders)


@dataclass(frozen=True, slots=True)
class TrackingDifferenceReport:
    """Counts and sums over all lines (exact); the row lists hold at most `row_limit` rows each,
    the earliest first."""

    book: BookHead
    book_orders: Total
    matched: Total
    untracked: Total
    not_in_book: Total
    value_differences: Total  # value: the sum of book − tracked over the differing orders
    value_difference_book: Decimal
    value_difference_tracked: Decimal
    months: tuple[MonthDifference, ...]
    row_limit: int
    matched_rows: tuple[ReportRow, ...]
    untracked_rows: tuple[ReportRow, ...]
    not_in_book_rows: tuple[ReportRow, ...]
    value_difference_rows: tuple[ReportRow, ...]

    @property
    def percent(self) -> Decimal | None:
        """The tracking difference of the whole period."""
        return tracking_difference_percent(self.untracked.count, self.book_orders.count)


async def report_book(uow: UnitOfWork, viewer: Viewer, program_id: int, period: Period) -> BookHead:
    """The stored book of the program and period; NOT_FOUND (field `period`) when none is."""
    book = await order_book(uow, viewer, program_id, period)
    if book is None:
        raise DomainError(
            "NOT_FOUND",
            f"no order book of {period.first_day.isoformat()}–{period.last_day.isoformat()} "
            "for this program: upload it first (uploadOrderBook, importOrderBook)",
            ("period",),
        )
    return book


async def tracking_difference(
    uow: UnitOfWork,
    viewer: Viewer,
    program_id: int,
    period: Period,
    row_limit: int = DEFAULT_ROW_LIMIT,
) -> TrackingDifferenceReport:
    """The program's book of the period against its conversions, matched by order id within
    the program: matched book orders (any conversion of the order id), untracked book orders
    (none), conversions tracked in the period whose order id is not in the book, and value
    differences between a matched order's book value and its SALE conversion's order value
    (both in the program currency, exact). Per month (UTC, by order time): untracked ÷ book
    orders in percent."""
    check_row_limit(row_limit)
    book = await report_book(uow, viewer, program_id, period)
    sql = TrackingDifferenceSql(uow, book)
    months = await sql.months()
    differing, difference, differing_book, differing_tracked = await sql.value_differences()
    not_in_book = await sql.not_in_book()
    return TrackingDifferenceReport(
        book=book,
        book_orders=Total(
            sum(m.book_orders for m in months), sum((m.book_value for m in months), Decimal(0))
        ),
        matched=Total(
            sum(m.matched for m in months), sum((m.matched_value for m in months), Decimal(0))
        ),
        untracked=Total(
            sum(m.untracked for m in months),
            sum((m.untracked_value for m in months), Decimal(0)),
        ),
        not_in_book=Total(*not_in_book),
        value_differences=Total(differing, difference),
        value_difference_book=differing_book,
        value_difference_tracked=differing_tracked,
        months=tuple(MonthDifference(m) for m in months),
        row_limit=row_limit,
        matched_rows=tuple(await sql.matched_rows(row_limit)),
        untracked_rows=tuple(await sql.untracked_rows(row_limit)),
        not_in_book_rows=tuple(await sql.not_in_book_rows(row_limit)),
        value_difference_rows=tuple(await sql.value_difference_rows(row_limit)),
    )


MAX_REJECTIONS = 10_000
"""Conversions one `rejectConversionsNotInBook` call validates (earliest first); a second
call goes on with the rest (the rejected ones are no longer among them)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    results: list[LineResult]
    remaining: int  # not-in-book conversions past the cut-off left for another call


async def reject_not_in_book(
    uow: UnitOfWork,
    viewer: Viewer,
    program_id: int,
    period: Period,
    older_than_days: int,
    conversion_note: str,
    *,
    dry_run: bool = False,
) -> Rejection:
    """The opt-in step of the report: rejects the program's conversions that are not in the
    book of the period (as `tracking_difference` counts them), not rejected yet, and tracked
    more than `older_than_days` days ago, with `conversion_note` — through
    `sales_validation.validate_lines` (source TRACKING_DIFFERENCE), so billing locks, the note
    check and the revisions of source VALIDATION are the validation's. At most
    `MAX_REJECTIONS`, earliest first; one result per conversion, in that order."""
    if not 0 <= older_than_days <= 3650:
        raise DomainError("OUT_OF_RANGE", "olderThanDays is 0–3650", ("olderThanDays",))
    if not conversion_note.strip():
        raise DomainError("REQUIRED", "a rejection needs a conversion note", ("conversionNote",))
    book = await report_book(uow, viewer, program_id, period)
    sql = TrackingDifferenceSql(uow, book)
    cutoff = uow.now - timedelta(days=older_than_days)
    query = sql.not_in_book_query(MAX_REJECTIONS + 1, before=cutoff).where(
        conversions.c.status != ConversionStatus.REJECTED.value
    )
    found = list(await uow.execute(query))
    remaining = max(len(found) - MAX_REJECTIONS, 0)
    lines = [
        ValidationLine(
            order_id=r.order_id,
            status=ConversionStatus.REJECTED,
            conversion_note=conversion_note.strip(),
            conversion_id=r.conversion_id,
        )
        for r in found[:MAX_REJECTIONS]
    ]
    results: list[LineResult] = []
    seen: set[int] = set()
    for start in range(0, len(lines), MAX_VALIDATION_LINES):
        batch = await validate_lines(
            uow,
            viewer,
            program_id,
            lines[start : start + MAX_VALIDATION_LINES],
            dry_run=dry_run,
            source=ValidationSource.TRACKING_DIFFERENCE,
            seen_conversions=seen,
        )
        for result in batch:
            result.index += start
        results.extend(batch)
    return Rejection(results, remaining)
