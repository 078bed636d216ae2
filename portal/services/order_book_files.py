"""An order book as a file, and the tracking-difference report as a file (issue 12).

Import: read with the request files' reader (any column order, headers case-insensitive, UTF-8
CSV with `,` or `;` — a `;` file may use the German decimal comma and `dd.mm.yyyy hh:mm` — and
XLSX), every bad cell reported with its row and column, stored through
`order_books.upload_order_book` (the same checks as the mutation). Times without an offset are
UTC. The template is the header alone."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.order_book_store import BookHead, ReportRow, TrackingDifferenceSql
from portal.adapters.request_files import (
    CellError,
    FileProblem,
    checked_table,
    parse_amount,
    parse_time,
    row_texts,
)
from portal.adapters.spreadsheets import Amount, Cell, TableFormat, write_table
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.errors import DomainError, ValidationFailed
from portal.domain.jobs import JobKind
from portal.domain.order_books import MAX_FILE_LINES, BookLine, Period
from portal.global_ids import encode_id
from portal.services.exports import start_job_export
from portal.services.order_books import (
    book_program,
    report_book,
    tracking_difference,
    upload_order_book,
)

COLUMNS = ("order_id", "order_time", "order_value", "currency", "status")
REQUIRED = frozenset({"order_id", "order_time", "order_value"})
_FIELD_COLUMNS = {
    "orderId": "order_id",
    "orderTime": "order_time",
    "orderValue": "order_value",
    "currency": "currency",
    "status": "status",
}
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class FileImport:
    """The book stored (None on errors) and the file's bad cells."""

    book: BookHead | None
    errors: tuple[CellError, ...]


def _parse_row(
    row: int, cells: dict[str, Any], german: bool, errors: list[CellError]
) -> BookLine | None:
    before = len(errors)
    texts = row_texts(row, cells, COLUMNS, errors)
    for column in sorted(REQUIRED):
        if texts[column] is None and len(errors) == before:
            errors.append(CellError(row, column, None, "REQUIRED", f"{column} is required"))
    if len(errors) > before:
        return None
    moment: datetime | None = None
    value: Decimal | None = None
    try:
        moment = parse_time(cells.get("order_time"), _UTC)
    except ValueError as error:
        code, _, message = str(error).partition(":")
        errors.append(CellError(row, "order_time", texts["order_time"], code, message))
    try:
        value = parse_amount(cells.get("order_value"), german)
    except ValueError as error:
        code, _, message = str(error).partition(":")
        errors.append(CellError(row, "order_value", texts["order_value"], code, message))
    if moment is None or value is None:
        return None
    return BookLine(texts["order_id"] or "", moment, value, texts["currency"], texts["status"])


def read_lines(
    path: Path, filename: str | None
) -> tuple[list[BookLine], list[int], list[CellError]]:
    """The file's lines with the row each came from, and its bad cells; FileProblem when the
    file as a whole cannot be read or holds more than `MAX_FILE_LINES` rows."""
    source = checked_table(path, filename, COLUMNS, REQUIRED)
    german = source.german_decimals
    lines: list[BookLine] = []
    rows: list[int] = []
    errors: list[CellError] = []
    for count, (row, cells) in enumerate(source.rows(), start=1):
        if count > MAX_FILE_LINES:
            raise FileProblem(
                "TOO_MANY_LINES", f"an order-book file has at most {MAX_FILE_LINES} rows"
            )
        line = _parse_row(row, cells, german, errors)
        if line is not None:
            rows.append(row)
            lines.append(line)
    return lines, rows, errors


async def store_lines(
    uow: UnitOfWork,
    viewer: Viewer,
    program_id: int,
    period: Period,
    read: tuple[list[BookLine], list[int], list[CellError]],
) -> FileImport:
    """Stores a file's lines (`read_lines`; the API reads the file in a worker thread before
    its write transaction: a workbook of 100,000 rows takes seconds) as the program's book of
    the period through `upload_order_book` (replacing an earlier upload of it); nothing when
    any cell is bad: then the errors name row and column."""
    lines, rows, errors = read
    if errors:
        await book_program(uow, viewer, program_id)
        return FileImport(None, tuple(errors))
    try:
        book = await upload_order_book(
            uow, viewer, program_id, period, lines, limit=MAX_FILE_LINES, rows_of_lines=rows
        )
    except ValidationFailed as failed:
        cells, whole = _cell_errors(failed.errors, rows)
        if whole:
            raise ValidationFailed(whole) from None
        return FileImport(None, tuple(cells))
    return FileImport(book, ())


def _cell_errors(
    errors: Sequence[DomainError], rows: Sequence[int]
) -> tuple[list[CellError], list[DomainError]]:
    """Line errors (`lines.<i>.<field>`) as cell errors; the others as they are."""
    cells: list[CellError] = []
    whole: list[DomainError] = []
    for error in errors:
        field = error.field
        if len(field) >= 2 and field[0] == "lines" and field[1].isdigit():
            column = _FIELD_COLUMNS.get(field[2], "") if len(field) > 2 else ""
            cells.append(CellError(rows[int(field[1])], column, None, error.code, error.message))
        else:
            whole.append(error)
    return cells, whole


def template_bytes(fmt: TableFormat) -> bytes:
    """The order-book template: the header alone."""
    with tempfile.TemporaryDirectory(prefix="portal-book-") as folder:
        path = Path(folder) / f"order-book.{fmt.extension}"
        write_table(path, COLUMNS, (), fmt)
        return path.read_bytes()


# -- the report as a file --------------------------------------------------------------------

REPORT_COLUMNS = (
    "kind",
    "order_id",
    "order_time",
    "book_value",
    "book_status",
    "conversion_id",
    "conversion_target",
    "tracking_time",
    "tracked_value",
    "conversion_status",
    "difference",
    "month",
    "book_orders",
    "untracked_orders",
    "untracked_value",
    "tracking_difference_percent",
)


def _row_cells(kind: str, row: ReportRow, currency: str) -> list[Cell]:
    def amount(value: Decimal | None) -> Cell:
        return Amount(value, currency) if value is not None else None

    return [
        kind,
        row.order_id,
        row.order_time,
        amount(row.book_value),
        row.book_status,
        encode_id("Conversion", row.conversion_id) if row.conversion_id else None,
        row.conversion_target,
        row.tracking_time,
        amount(row.tracked_value),
        row.conversion_status,
        amount(row.difference),
        None,
        None,
        None,
        None,
        None,
    ]


async def write_report(
    uow: UnitOfWork, viewer: Viewer, program_id: int, period: Period, path: Path, fmt: TableFormat
) -> int:
    """Writes the whole report as one table to `path` and answers its row count: a row per
    matched, untracked and not-in-book order (every one, not capped), a VALUE_DIFFERENCE row per
    matched order whose values differ, a MONTH row per month and a TOTAL row (kind names the
    row; columns that do not apply are empty). The download and the export job both write
    through here."""
    report = await tracking_difference(uow, viewer, program_id, period, row_limit=0)
    currency = report.book.currency
    sql = TrackingDifferenceSql(uow, report.book)
    sections = (
        ("MATCHED", await sql.matched_rows(None)),
        ("UNTRACKED", await sql.untracked_rows(None)),
        ("NOT_IN_BOOK", await sql.not_in_book_rows(None)),
        ("VALUE_DIFFERENCE", await sql.value_difference_rows(None)),
    )

    def summary(
        kind: str, month: str, book: int, untracked: int, value: Decimal, percent: Any
    ) -> list[Cell]:
        return [
            kind,
            *([None] * 10),
            month,
            book,
            untracked,
            Amount(value, currency),
            percent,
        ]

    def cells() -> Iterator[list[Cell]]:
        for kind, found in sections:
            for row in found:
                yield _row_cells(kind, row, currency)
        for m in report.months:
            c = m.counts
            yield summary(
                "MONTH", c.month, c.book_orders, c.untracked, c.untracked_value, m.percent
            )
        yield summary(
            "TOTAL",
            "",
            report.book_orders.count,
            report.untracked.count,
            report.untracked.value,
            report.percent,
        )

    # Writing a spreadsheet of 100,000 rows takes seconds: not on the event loop.
    return await asyncio.to_thread(write_table, path, REPORT_COLUMNS, cells(), fmt)


async def report_bytes(
    uow: UnitOfWork, viewer: Viewer, program_id: int, period: Period, fmt: TableFormat
) -> bytes:
    """The report as the synchronous download sends it (`write_report`). Deprecated for large
    books: the export job (`exportTrackingDifference`) writes the same file off the request."""
    with tempfile.TemporaryDirectory(prefix="portal-tracking-") as folder:
        path = Path(folder) / f"tracking-difference.{fmt.extension}"
        await write_report(uow, viewer, program_id, period, path, fmt)
        return await asyncio.to_thread(path.read_bytes)


# -- the report as an export job -------------------------------------------------------------


def report_parameters(program_id: int, period: Period) -> dict[str, Any]:
    """The export job's parameters (JSON): the program and the book's period."""
    return {
        "programId": program_id,
        "firstDay": period.first_day.isoformat(),
        "lastDay": period.last_day.isoformat(),
    }


async def start_report_export(
    uow: UnitOfWork, viewer: Viewer, program_id: int, period: Period, fmt: TableFormat
) -> int:
    """Queues the report of the program's book of the period as an export job of the viewer.
    Refused, with no job written, as the download is: NOT_FOUND for partners, other
    advertisers and unknown programs, INVALID_PERIOD / PERIOD_TOO_LONG, NOT_FOUND (`period`)
    when no book of the period is stored."""
    await report_book(uow, viewer, program_id, period)
    return await start_job_export(
        uow,
        viewer,
        JobKind.EXPORT_TRACKING_DIFFERENCE,
        report_parameters(program_id, period),
        fmt,
    )


async def write_report_export(
    engine: AsyncEngine, viewer: Viewer, parameters: dict[str, Any], path: Path, fmt: TableFormat
) -> int:
    """The export job's work: the report as its author may see it now (a book replaced since
    the job started is written as it is now; one the author may no longer see fails the job)."""
    period = Period(
        date.fromisoformat(parameters["firstDay"]), date.fromisoformat(parameters["lastDay"])
    )
    async with UnitOfWork(engine, writes=False) as uow:
        return await write_report(uow, viewer, int(parameters["programId"]), period, path, fmt)
