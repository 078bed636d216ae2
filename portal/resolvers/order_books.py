"""uploadOrderBook, importOrderBook, orderBook, trackingDifference (issue 12): an advertiser's
order book and the tracking difference."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload

from portal.adapters.order_book_store import BookHead, ReportRow
from portal.adapters.request_files import FILE_READ_CODES
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.errors import DomainError, ValidationFailed
from portal.domain.order_books import (
    DEFAULT_ROW_LIMIT,
    MAX_FILE_LINES,
    MAX_LINES_PER_CALL,
    MAX_PERIOD_DAYS,
    MAX_ROW_LIMIT,
    BookLine,
    Period,
)
from portal.global_ids import encode_id
from portal.resolvers.imports import save_upload
from portal.resolvers.support import (
    MUTATION_INPUT,
    Info,
    require_pk,
    run_in_uow,
    to_user_errors,
    user_error_type,
)
from portal.resolvers.validation import ValidationLineResult, ValidationOutcomeCount
from portal.resolvers.validation import _result as validation_result
from portal.schema.errors import bad_input
from portal.schema.statistics_queries import DatePeriodInput
from portal.schema.types.base import Money, to_money
from portal.services import order_book_files, order_books
from portal.services.order_books import MAX_REJECTIONS, TrackingDifferenceReport
from portal.services.sales_validation import ValidationOutcome

ORDER_BOOK_FILES_PATH = "/files/order-books/"
PERIOD_DESCRIPTION = (
    f"The period the book covers: whole UTC days, `from` to `to` inclusive, at most "
    f"{MAX_PERIOD_DAYS} days. A book is stored per program and period; the periods of one "
    "program's books never share a day (PERIOD_OVERLAP)."
)
TRACKING_DIFFERENCE_FILES_PATH = "/files/tracking-difference/"
MAX_BOOK_FILE_BYTES = 20 * 1024 * 1024  # under the request body limit (32 MiB + form)

_LINE_CODES = [
    "REQUIRED",
    "BLANK",
    "TOO_LONG",
    "INVALID_DATETIME",
    "OUTSIDE_PERIOD",
    "INVALID_AMOUNT",
    "NEGATIVE_VALUE",
    "UNKNOWN_CURRENCY",
    "MISSING_EXCHANGE_RATE",
    "DUPLICATE_ORDER_ID",
    "TOO_MANY_LINES",
    "INVALID_PERIOD",
    "PERIOD_TOO_LONG",
    "PERIOD_OVERLAP",
]

UploadOrderBookErrorCode, UploadOrderBookUserError = user_error_type("UploadOrderBook", _LINE_CODES)
ImportOrderBookErrorCode, ImportOrderBookUserError = user_error_type(
    "ImportOrderBook",
    [
        *_LINE_CODES,
        *FILE_READ_CODES,
    ],
)


@strawberry.input(description="One order of the advertiser's order book.")
class OrderBookLineInput:
    order_id: str = strawberry.field(
        description="The shop's order id (at most 200 characters), unique within the book; "
        "matched with the conversions' order ids of the program."
    )
    order_time: datetime = strawberry.field(
        description="When the order was placed; inside the period."
    )
    order_value: Decimal = strawberry.field(
        description="The order's value as the book has it (net, as tracked), in `currency`."
    )
    currency: str | None = strawberry.field(
        default=None,
        description="ISO 4217 code of orderValue (default: the program currency). Another "
        "currency is converted at the ECB reference rate of the order's UTC day (7-day "
        "fallback), rounded once half-up.",
    )
    status: str | None = strawberry.field(
        default=None,
        description="The shop's status of the order, e.g. PAID (at most 32 characters).",
    )

    def to_domain(self) -> BookLine:
        return BookLine(
            self.order_id, self.order_time, self.order_value, self.currency, self.status
        )


@strawberry.input(description="A program's order book of a period, as lines.")
class UploadOrderBookInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    period: DatePeriodInput = strawberry.field(description=PERIOD_DESCRIPTION)
    lines: list[OrderBookLineInput] = strawberry.field(
        description=f"Every order of the period (at most {MAX_LINES_PER_CALL}; larger books as "
        f"a file, importOrderBook, up to {MAX_FILE_LINES} rows). They replace the lines of an "
        "earlier upload of the same program and period."
    )


@strawberry.type(description="A stored order book: one program's orders of one period.")
class OrderBook:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    first_day: date = strawberry.field(description="The period's first day (UTC).")
    last_day: date = strawberry.field(description="The period's last day (UTC), included.")
    line_count: int = strawberry.field(description="Number of orders in the book.")
    total_value: Money = strawberry.field(
        description="The sum of the orders' values, in the program currency."
    )
    uploaded_at: datetime = strawberry.field(description="When the lines were stored.")
    replaced: bool = strawberry.field(
        description="Whether this upload replaced the lines of an earlier upload of the period "
        "(false when read back)."
    )

    @classmethod
    def of(cls, head: BookHead) -> OrderBook:
        return cls(
            program_id=strawberry.ID(encode_id("Program", head.program_id)),
            first_day=head.period.first_day,
            last_day=head.period.last_day,
            line_count=head.line_count,
            total_value=to_money(head.total_value, head.currency),
            uploaded_at=head.uploaded_at,
            replaced=head.replaced,
        )


@strawberry.type(description="The stored book, or why it was refused.")
class UploadOrderBookPayload:
    order_book: OrderBook | None = strawberry.field(
        description="The stored book; null on errors (then nothing is written)."
    )
    user_errors: list[UploadOrderBookUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems, each naming its field (`lines.<i>.<field>`); nothing is written."
    )


@strawberry.input(description="A program's order book of a period, as a CSV or XLSX file.")
class ImportOrderBookInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    period: DatePeriodInput = strawberry.field(description=PERIOD_DESCRIPTION)
    file: Upload = strawberry.field(
        description=f"One order per row (at most {MAX_FILE_LINES}); columns in any order "
        "(headers case-insensitive): order_id, order_time (ISO 8601, or dd.mm.yyyy hh:mm; "
        "without an offset: UTC), order_value (1234.56, or 1.234,56 in a `;` file) — required — "
        "and currency, status. UTF-8 CSV with `,` or `;`, or XLSX (first sheet). The template: "
        "`orderBookFiles`. GraphQL multipart request."
    )


@strawberry.type(description="A bad cell (or row, when `column` is empty) of an order-book file.")
class OrderBookFileError:
    row: int = strawberry.field(description="1-based row (the header is row 1; 0: the file).")
    column: str = strawberry.field(description="The column, e.g. `order_value`.")
    value: str | None = strawberry.field(description="The cell as read, where it helps.")
    code: str = strawberry.field(
        description="Stable code, as in uploadOrderBook's errors (DUPLICATE_ORDER_ID names both "
        "rows in the message)."
    )
    message: str = strawberry.field(description="What is wrong, for people.")


@strawberry.type(description="The stored book, or the file's bad cells.")
class ImportOrderBookPayload:
    order_book: OrderBook | None = strawberry.field(
        description="The stored book; null when anything is wrong (then nothing is written)."
    )
    cell_errors: list[OrderBookFileError] = strawberry.field(
        description="Every bad cell; nothing is written when there is one."
    )
    user_errors: list[ImportOrderBookUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems of the input as a whole (program, period, the file)."
    )


@strawberry.type(description="Where to download the order-book template.")
class OrderBookFiles:
    template_csv_url: str = strawberry.field(description="The template (header row) as CSV.")
    template_xlsx_url: str = strawberry.field(description="The template as XLSX.")


@strawberry.type(description="A count of orders and their value.")
class OrderTotal:
    count: int = strawberry.field(description="Number of orders (or conversions).")
    value: Money = strawberry.field(description="Their value, exact, in the program currency.")


@strawberry.type(description="The tracking difference of one month (UTC) of the book.")
class TrackingDifferenceMonth:
    month: str = strawberry.field(description="The month, `YYYY-MM`, of the book orders' times.")
    book_orders: int = strawberry.field(description="Book orders of the month.")
    untracked_orders: int = strawberry.field(description="Those tracking missed.")
    untracked_value: Money = strawberry.field(description="Their value.")
    percent: Decimal | None = strawberry.field(
        description="untrackedOrders ÷ bookOrders × 100, rounded once half-up to 2 places."
    )


@strawberry.type(description="An order of the report: its book side, its tracked side, or both.")
class TrackingDifferenceRow:
    order_id: str = strawberry.field(description="The order id.")
    order_time: datetime | None = strawberry.field(
        description="The book's order time (null: not in the book)."
    )
    book_value: Money | None = strawberry.field(description="The book's value (program currency).")
    book_status: str | None = strawberry.field(description="The book's status of the order.")
    conversion_id: strawberry.ID | None = strawberry.field(
        description="The conversion (for a book order: its SALE conversion; null: none)."
    )
    conversion_target: str | None = strawberry.field(description="The conversion's target.")
    tracking_time: datetime | None = strawberry.field(description="The conversion's time.")
    tracked_value: Money | None = strawberry.field(
        description="The conversion's order value (program currency)."
    )
    conversion_status: str | None = strawberry.field(description="OPEN, CONFIRMED or REJECTED.")
    difference: Money | None = strawberry.field(
        description="bookValue − trackedValue, exact (null unless both are known)."
    )

    @classmethod
    def of(cls, row: ReportRow, currency: str) -> TrackingDifferenceRow:
        def amount(value: Decimal | None) -> Money | None:
            return to_money(value, currency) if value is not None else None

        return cls(
            order_id=row.order_id,
            order_time=row.order_time,
            book_value=amount(row.book_value),
            book_status=row.book_status,
            conversion_id=strawberry.ID(encode_id("Conversion", row.conversion_id))
            if row.conversion_id
            else None,
            conversion_target=row.conversion_target,
            tracking_time=row.tracking_time,
            tracked_value=amount(row.tracked_value),
            conversion_status=row.conversion_status,
            difference=amount(row.difference),
        )


@strawberry.type(
    description="The advertiser's order book of a period against the program's conversions, "
    "matched by order id within the program. Counts and values cover every order (exact); each "
    "row list holds at most `rowLimit` rows, earliest first (the whole lists: the download)."
)
class TrackingDifference:
    order_book: OrderBook = strawberry.field(description="The book compared.")
    book_orders: OrderTotal = strawberry.field(description="All orders of the book.")
    matched: OrderTotal = strawberry.field(
        description="Book orders tracking saw: a conversion of the program has the order id."
    )
    untracked: OrderTotal = strawberry.field(
        description="Book orders tracking missed: no conversion has the order id."
    )
    not_in_book: OrderTotal = strawberry.field(
        description="Conversions tracked in the period (UTC days) whose order id is not in the "
        "book: cancelled, test or fraudulent orders (counted per conversion)."
    )
    value_differences: OrderTotal = strawberry.field(
        description="Matched orders whose book value differs from their SALE conversion's "
        "order value; `value` is the sum of book − tracked."
    )
    percent: Decimal | None = strawberry.field(
        description="The tracking difference of the whole period: untracked ÷ book orders × "
        "100, rounded once half-up to 2 places (null: an empty book)."
    )
    months: list[TrackingDifferenceMonth] = strawberry.field(
        description="The tracking difference per month of the book orders' times, in order."
    )
    row_limit: int = strawberry.field(description="The most rows of each list.")
    matched_rows: list[TrackingDifferenceRow] = strawberry.field(
        description="Matched book orders, with their SALE conversion where there is one."
    )
    untracked_rows: list[TrackingDifferenceRow] = strawberry.field(
        description="Untracked book orders."
    )
    not_in_book_rows: list[TrackingDifferenceRow] = strawberry.field(
        description="Conversions not in the book."
    )
    value_difference_rows: list[TrackingDifferenceRow] = strawberry.field(
        description="Matched orders whose values differ."
    )
    csv_url: str = strawberry.field(
        description="The whole report (every row) as CSV, written while the request waits "
        "(deprecated download: a large book blocks it; use exportTrackingDifference)."
    )
    xlsx_url: str = strawberry.field(
        description="The whole report as XLSX, written while the request waits (deprecated "
        "download: use exportTrackingDifference)."
    )

    @classmethod
    def of(cls, report: TrackingDifferenceReport) -> TrackingDifference:
        currency = report.book.currency

        def total(count: int, value: Decimal) -> OrderTotal:
            return OrderTotal(count=count, value=to_money(value, currency))

        def rows(found: tuple[ReportRow, ...]) -> list[TrackingDifferenceRow]:
            return [TrackingDifferenceRow.of(r, currency) for r in found]

        book = report.book
        url = report_url(book.program_id, book.period)
        return cls(
            order_book=OrderBook.of(book),
            book_orders=total(report.book_orders.count, report.book_orders.value),
            matched=total(report.matched.count, report.matched.value),
            untracked=total(report.untracked.count, report.untracked.value),
            not_in_book=total(report.not_in_book.count, report.not_in_book.value),
            value_differences=total(report.value_differences.count, report.value_differences.value),
            percent=report.percent,
            months=[
                TrackingDifferenceMonth(
                    month=m.counts.month,
                    book_orders=m.counts.book_orders,
                    untracked_orders=m.counts.untracked,
                    untracked_value=to_money(m.counts.untracked_value, currency),
                    percent=m.percent,
                )
                for m in report.months
            ],
            row_limit=report.row_limit,
            matched_rows=rows(report.matched_rows),
            untracked_rows=rows(report.untracked_rows),
            not_in_book_rows=rows(report.not_in_book_rows),
            value_difference_rows=rows(report.value_difference_rows),
            csv_url=url + ".csv",
            xlsx_url=url + ".xlsx",
        )


def period_of(period: DatePeriodInput) -> Period:
    return Period(period.from_, period.to)


def report_url(program_id: int, period: Period) -> str:
    """`/files/tracking-difference/<program id>/<first day>_<last day>` (add .csv or .xlsx)."""
    return (
        f"{TRACKING_DIFFERENCE_FILES_PATH}{encode_id('Program', program_id)}/"
        f"{period.first_day.isoformat()}_{period.last_day.isoformat()}"
    )


RejectNotInBookErrorCode, RejectNotInBookUserError = user_error_type(
    "RejectConversionsNotInBook", ["OUT_OF_RANGE", "REQUIRED", "INVALID_PERIOD", "PERIOD_TOO_LONG"]
)


@strawberry.input(
    description="Reject the conversions the order book of a period does not have (the "
    "report's `notInBook`) that were tracked more than `olderThanDays` days ago."
)
class RejectConversionsNotInBookInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    period: DatePeriodInput = strawberry.field(
        description="The period of a stored book (UTC days, as uploaded)."
    )
    older_than_days: int = strawberry.field(
        description="Only conversions tracked more than this many days ago (0–3650): younger "
        "orders may still be missing from the book."
    )
    conversion_note: str = strawberry.field(
        description="The conversion note code every rejection gets (a note of the program, "
        "e.g. CANCELLED)."
    )
    dry_run: bool = strawberry.field(
        default=False, description="Answer every outcome; write nothing."
    )


@strawberry.type(description="The outcome of `rejectConversionsNotInBook`.")
class RejectConversionsNotInBookPayload:
    results: list[ValidationLineResult] = strawberry.field(
        description="One result per conversion, earliest tracking time first, as "
        "validateConversions answers a line (`index`: the position in this list; a line's "
        "userErrors name `lines.<index>`). Conversions already REJECTED are not listed."
    )
    counts: list[ValidationOutcomeCount] = strawberry.field(
        description="Results per outcome (only outcomes that occurred)."
    )
    remaining_count: int = strawberry.field(
        description=f"Conversions left for another call: one call takes at most {MAX_REJECTIONS}."
    )
    dry_run: bool = strawberry.field(description="Whether nothing was written.")
    user_errors: list[RejectNotInBookUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems of the whole call (a partner, a program that is not yours, no "
        "book of the period, olderThanDays out of range); then nothing was rejected."
    )


ProgramArg = Annotated[strawberry.ID, strawberry.argument(description="The program.")]
PeriodArg = Annotated[
    DatePeriodInput,
    strawberry.argument(description="The book's period, as uploaded (UTC days, both included)."),
]


@strawberry.type
class OrderBookMutations:
    @strawberry.mutation(
        description="Store a program's order book of a period from lines (admins, or the "
        "program's advertiser; never partners). The same program and period again replaces "
        "the lines; every bad line is named (a repeated order id: DUPLICATE_ORDER_ID) and "
        "nothing is written."
    )
    async def upload_order_book(
        self, info: Info, input: Annotated[UploadOrderBookInput, MUTATION_INPUT]
    ) -> UploadOrderBookPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> OrderBook:
            if len(input.lines) > MAX_LINES_PER_CALL:
                raise DomainError(
                    "TOO_MANY_LINES",
                    f"at most {MAX_LINES_PER_CALL} lines per call; send larger books as a file "
                    "(importOrderBook)",
                    ("lines",),
                )
            head = await order_books.upload_order_book(
                uow,
                viewer,
                require_pk(input.program_id, "Program", "programId"),
                period_of(input.period),
                [line.to_domain() for line in input.lines],
            )
            return OrderBook.of(head)

        book, errors = await run_in_uow(
            info, UploadOrderBookUserError, UploadOrderBookErrorCode, use_case
        )
        return UploadOrderBookPayload(order_book=book, user_errors=errors)

    @strawberry.mutation(
        description="The opt-in step of the tracking difference (admins, or the program's "
        "advertiser): reject the conversions not in the book of the period that are older than "
        "`olderThanDays`, with `conversionNote`, through the sales validation "
        "(validateConversions' code path: billing locks, the note check, a revision of source "
        "VALIDATION each). Use dryRun to see what would happen."
    )
    async def reject_conversions_not_in_book(
        self, info: Info, input: Annotated[RejectConversionsNotInBookInput, MUTATION_INPUT]
    ) -> RejectConversionsNotInBookPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> order_books.Rejection:
            return await order_books.reject_not_in_book(
                uow,
                viewer,
                require_pk(input.program_id, "Program", "programId"),
                period_of(input.period),
                input.older_than_days,
                input.conversion_note,
                dry_run=input.dry_run,
            )

        done, errors = await run_in_uow(
            info, RejectNotInBookUserError, RejectNotInBookErrorCode, use_case
        )
        results = done.results if done else []
        counts: dict[ValidationOutcome, int] = {}
        for r in results:
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        return RejectConversionsNotInBookPayload(
            results=[validation_result(r) for r in results],
            counts=[
                ValidationOutcomeCount(outcome=o, count=counts[o])
                for o in ValidationOutcome
                if o in counts
            ],
            remaining_count=done.remaining if done else 0,
            dry_run=input.dry_run,
            user_errors=errors,
        )

    @strawberry.mutation(
        description="Store a program's order book of a period from a CSV or XLSX file (admins, "
        "or the program's advertiser): the same checks as uploadOrderBook, each bad cell named "
        "by row and column; nothing is written when anything is wrong."
    )
    async def import_order_book(
        self, info: Info, input: Annotated[ImportOrderBookInput, MUTATION_INPUT]
    ) -> ImportOrderBookPayload:
        cells: list[OrderBookFileError] = []
        saved: list[Path] = []
        viewer = info.context.require_viewer()
        try:
            # The file is read before the write transaction, in a worker thread: a workbook of
            # 100,000 rows takes seconds, which would hold SQLite's write lock and the loop.
            try:
                program = require_pk(input.program_id, "Program", "programId")
                async with UnitOfWork(info.context.engine, writes=False) as uow:
                    await order_books.book_program(uow, viewer, program)
                path = await save_upload(input.file, MAX_BOOK_FILE_BYTES)
                saved.append(path)
                read = await asyncio.to_thread(
                    order_book_files.read_lines, path, getattr(input.file, "filename", None)
                )
            except (DomainError, ValidationFailed) as error:
                refused = to_user_errors(error, ImportOrderBookUserError, ImportOrderBookErrorCode)
                return ImportOrderBookPayload(order_book=None, cell_errors=[], user_errors=refused)

            async def use_case(uow: UnitOfWork, viewer: Viewer) -> OrderBook | None:
                result = await order_book_files.store_lines(
                    uow, viewer, program, period_of(input.period), read
                )
                cells.extend(
                    OrderBookFileError(
                        row=e.row, column=e.column, value=e.value, code=e.code, message=e.message
                    )
                    for e in result.errors
                )
                return OrderBook.of(result.book) if result.book else None

            book, errors = await run_in_uow(
                info, ImportOrderBookUserError, ImportOrderBookErrorCode, use_case
            )
        finally:
            for path in saved:
                path.unlink(missing_ok=True)
        return ImportOrderBookPayload(order_book=book, cell_errors=cells, user_errors=errors)


async def _read(info: Info, call):  # type: ignore[no-untyped-def]
    viewer = info.context.require_viewer()
    async with UnitOfWork(info.context.engine, writes=False) as uow:
        try:
            return await call(uow, viewer)
        except ValidationFailed as failed:
            raise bad_input(failed.errors[0]) from None
        except DomainError as error:
            raise bad_input(error) from None


@strawberry.type
class OrderBookQueries:
    @strawberry.field(description="Where to download the order-book template (CSV or XLSX).")
    def order_book_files(self, info: Info) -> OrderBookFiles:
        info.context.require_viewer()
        return OrderBookFiles(
            template_csv_url=f"{ORDER_BOOK_FILES_PATH}template.csv",
            template_xlsx_url=f"{ORDER_BOOK_FILES_PATH}template.xlsx",
        )

    @strawberry.field(
        description="The program's stored order book of the period (null: none). Admins and "
        "the program's advertiser; partners and other advertisers get NOT_FOUND."
    )
    async def order_book(
        self, info: Info, program_id: ProgramArg, period: PeriodArg
    ) -> OrderBook | None:
        async def call(uow: UnitOfWork, viewer: Viewer) -> OrderBook | None:
            program = require_pk(program_id, "Program", "programId")
            head = await order_books.order_book(uow, viewer, program, period_of(period))
            return OrderBook.of(head) if head else None

        return await _read(info, call)  # type: ignore[no-any-return]

    @strawberry.field(
        description="The tracking difference of the program's order book of the period: "
        "matched, untracked and not-in-book orders, value differences, and the difference in "
        "percent per month. Admins and the program's advertiser; partners and other "
        "advertisers get NOT_FOUND; a period without a stored book: NOT_FOUND on `period`."
    )
    async def tracking_difference(
        self,
        info: Info,
        program_id: ProgramArg,
        period: PeriodArg,
        row_limit: Annotated[
            int,
            strawberry.argument(
                description=f"The most rows of each list (0–{MAX_ROW_LIMIT}; the counts and "
                "values always cover every order)."
            ),
        ] = DEFAULT_ROW_LIMIT,
    ) -> TrackingDifference:
        async def call(uow: UnitOfWork, viewer: Viewer) -> TrackingDifference:
            program = require_pk(program_id, "Program", "programId")
            report = await order_books.tracking_difference(
                uow, viewer, program, period_of(period), row_limit
            )
            return TrackingDifference.of(report)

        return await _read(info, call)  # type: ignore[no-any-return]
