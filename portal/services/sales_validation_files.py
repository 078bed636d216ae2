"""Sales validation files (`importSalesValidation`, SPEC §9): the validation lines of one
program as CSV (UTF-8, `,` or `;` with the German decimal comma) or XLSX, read with the request
files' reader (any column order, headers case-insensitive), in a job of the import pipeline
(`imports`, progress, cell errors, dryRun, allOrNothing).

Every row goes through `sales_validation.validate_lines`, in batches of `MAX_LINES`: a row
gives the outcome the same line gives in `validateConversions`. Only what a file alone can get
wrong — an unreadable cell, a status that is no status, a number that is no number — is
decided here (INVALID, with the cell). The result report holds every row with its outcome,
whether it was applied, its errors and its changes.

A job taken over from a worker that died starts again from the first row: a line applied by
the dead run is then UNCHANGED (validation is idempotent)."""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import rows as row_mappers
from portal.adapters.job_store import (
    Lease,
    enqueue_after_commit,
    finish_job,
    insert_job,
    keep_lease,
    load_job,
)
from portal.adapters.request_files import (
    Column,
    FileProblem,
    TableSource,
    cell_text,
    open_table,
    parse_amount,
)
from portal.adapters.spreadsheets import TableFormat, TableWriter
from portal.adapters.tables import import_errors, jobs, users
from portal.adapters.unit_of_work import UnitOfWork
from portal.config import Settings
from portal.domain.access import Viewer
from portal.domain.conversions import ConversionStatus
from portal.domain.errors import DomainError, ValidationFailed
from portal.domain.jobs import JobKind, JobStatus
from portal.domain.money import MINOR_UNITS, is_currency
from portal.global_ids import encode_id
from portal.services.imports import ImportLimits, import_dir
from portal.services.job_runs import run_leased
from portal.services.sales_validation import (
    MAX_LINES,
    LineResult,
    ValidationLine,
    ValidationOutcome,
    ValidationSource,
    check_batch,
    validate_lines,
)
from portal.services.scope import managed_program

log = logging.getLogger("portal.imports")
VALIDATION_IMPORT_JOB = "run_sales_validation_import"

COLUMNS: tuple[Column, ...] = (
    Column("order_id", True, "The shop's order id"),
    Column("status", True, "The conversion's new status", ("CONFIRMED", "REJECTED")),
    Column("conversion_target", False, "Target key: narrows the match (never changed)"),
    Column("tracking_category", False, "Category key: narrows the match (never changed)"),
    Column("order_value", False, "Net order value as the book has it, e.g. 1234.56 or 1.234,56"),
    Column("currency", False, "ISO 4217 code of order_value (default: the program's)"),
    Column("conversion_note", False, "Conversion note code, e.g. RETURNED (needed to reject)"),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
# What the result report adds; a report uploaded again ignores them.
REPORT_COLUMNS = ("row", "outcome", "applied", "conversion_id", "errors", "changes")
# Where a line's error field points in the file.
FIELD_COLUMNS = {
    "orderId": "order_id",
    "conversionId": "order_id",
    "status": "status",
    "conversionTarget": "conversion_target",
    "trackingCategory": "tracking_category",
    "orderValue": "order_value",
    "currency": "currency",
    "conversionNote": "conversion_note",
}
# Outcomes that leave a row not applied: an allOrNothing file with one applies nothing.
NOT_APPLICABLE = frozenset(
    {
        ValidationOutcome.INVALID,
        ValidationOutcome.NOT_FOUND,
        ValidationOutcome.AMBIGUOUS,
        ValidationOutcome.PAID,
        ValidationOutcome.RESERVED,
    }
)
CHANGED = frozenset(
    {ValidationOutcome.CONFIRMED, ValidationOutcome.REJECTED, ValidationOutcome.VALUE_CHANGED}
)
_STATUSES = {s.value: s for s in ConversionStatus}


def template_columns() -> tuple[Column, ...]:
    """The columns, with the values a cell may hold (the currencies too)."""
    return tuple(
        replace(c, allowed=tuple(sorted(MINOR_UNITS))) if c.name == "currency" else c
        for c in COLUMNS
    )


def report_path(settings: Settings, job_id: int, fmt: TableFormat) -> Path:
    return import_dir(settings) / f"{job_id}-results.{fmt.extension}"


def check_structure(source: TableSource) -> None:
    """Missing, unknown and duplicate columns, all reported at once (field: file)."""
    header = [h for h in source.header if h]
    if not header:
        raise FileProblem("EMPTY_FILE", "the file has no header")
    problems: list[DomainError] = []
    duplicates = sorted(name for name, n in Counter(header).items() if n > 1)
    if duplicates:
        problems.append(
            FileProblem("DUPLICATE_COLUMN", f"columns given twice: {', '.join(duplicates)}")
        )
    unknown = sorted(set(header) - set(COLUMN_NAMES) - set(REPORT_COLUMNS))
    if unknown:
        problems.append(
            FileProblem(
                "UNKNOWN_COLUMN",
                f"unknown columns: {', '.join(unknown)} (known: {', '.join(COLUMN_NAMES)})",
            )
        )
    missing = [c.name for c in COLUMNS if c.required and c.name not in header]
    if missing:
        problems.append(
            FileProblem("MISSING_COLUMN", f"required columns missing: {', '.join(missing)}")
        )
    if problems:
        raise ValidationFailed(problems)


async def start_validation_import(
    uow: UnitOfWork,
    viewer: Viewer,
    settings: Settings,
    program_id: int,
    upload: Path,
    filename: str | None,
    *,
    dry_run: bool,
    all_or_nothing: bool,
    limits: ImportLimits,
) -> int:
    """Checks who may validate the program, the file's structure and limits now, stores the
    file, and queues the job."""
    check_batch(viewer, 1)
    await managed_program(uow, viewer, program_id, ("programId",))
    size = upload.stat().st_size  # noqa: ASYNC240 - one stat of a local file
    if size > limits.max_bytes:
        raise FileProblem(
            "FILE_TOO_LARGE", f"the file has {size} bytes; the limit is {limits.max_bytes}"
        )
    source = open_table(upload, filename)
    check_structure(source)
    count = source.count_rows(limits.max_rows)
    if count == 0:
        raise FileProblem("NO_ROWS", "the file has a header but no rows")
    if count > limits.max_rows:
        raise FileProblem(
            "TOO_MANY_ROWS", f"the file has more than {limits.max_rows} rows; split it"
        )
    parameters = {
        "program_id": program_id,
        "dry_run": dry_run,
        "all_or_nothing": all_or_nothing,
        "filename": (filename or "")[:200],
        "kind": source.kind,
    }
    job_id = await insert_job(
        uow, JobKind.IMPORT_SALES_VALIDATION, viewer.user_id, parameters, source.kind.upper()
    )
    target = import_dir(settings) / f"{job_id}.{source.kind}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(upload, target)
    await uow.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(file_path=str(target), file_sha256=_sha256(target), total=count)
    )
    enqueue_after_commit(uow, VALIDATION_IMPORT_JOB, job_id, "validation")
    return job_id


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- rows ------------------------------------------------------------------------------------


@dataclass(slots=True)
class FileRow:
    """A row of the file: its cells as text, the line it gives (None: its cells are wrong,
    see `errors`), and its outcome once validated."""

    row: int
    text: dict[str, str | None]
    line: ValidationLine | None
    errors: list[DomainError] = field(default_factory=list)
    result: LineResult | None = None


def parse_row(row: int, cells: dict[str, Any], german: bool) -> FileRow:
    """The validation line of a row; a cell that cannot be read as its column's type is an
    error of the row (INVALID), with its column as the field."""
    text: dict[str, str | None] = {}
    errors: list[DomainError] = []
    for name in COLUMN_NAMES:
        try:
            text[name] = cell_text(cells.get(name))
        except ValueError as error:
            code, _, message = str(error).partition(":")
            errors.append(DomainError(code, message, (name,)))
            text[name] = None
    status = None
    status_text = (text["status"] or "").upper()
    if not status_text:
        if not any(e.field == ("status",) for e in errors):
            errors.append(DomainError("REQUIRED", "status is required", ("status",)))
    else:
        status = _STATUSES.get(status_text)
        if status is None:
            errors.append(
                DomainError("INVALID_VALUE", "status is CONFIRMED or REJECTED", ("status",))
            )
    order_value = None
    if text["order_value"] is not None:
        raw = cells.get("order_value")
        try:
            order_value = parse_amount(text["order_value"] if isinstance(raw, str) else raw, german)
        except ValueError as error:
            code, _, message = str(error).partition(":")
            errors.append(DomainError(code, message, ("order_value",)))
    currency = (text["currency"] or "").upper() or None
    if currency and not is_currency(currency):
        errors.append(
            DomainError(
                "UNKNOWN_CURRENCY", f"{currency!r} is not an ISO 4217 currency code", ("currency",)
            )
        )
    if errors or status is None:
        return FileRow(row, text, None, errors)
    line = ValidationLine(
        order_id=text["order_id"] or "",
        status=status,
        target=text["conversion_target"],
        category=text["tracking_category"],
        order_value=order_value,
        currency=currency,
        conversion_note=text["conversion_note"],
    )
    return FileRow(row, text, line)


def column_of(error: DomainError) -> str | None:
    """The file column of a line's error (its field), None for the whole row."""
    if not error.field:
        return None
    return FIELD_COLUMNS.get(error.field[0], error.field[0])


def outcome_of(row: FileRow) -> ValidationOutcome:
    return row.result.outcome if row.result is not None else ValidationOutcome.INVALID


def errors_of(row: FileRow) -> list[DomainError]:
    return row.result.errors if row.result is not None else row.errors


# -- the job ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    processed: int = 0
    changed: int = 0  # rows that changed (dry run: would change) their conversion
    errors: int = 0  # cell errors recorded
    failed: int = 0  # rows not applicable (NOT_APPLICABLE)


class _Report:
    """The result report, CSV and XLSX side by side, written as batches are validated (to
    temporary names, renamed once complete: a half-written report is never served)."""

    def __init__(self, settings: Settings, job_id: int, header: Sequence[str]) -> None:
        self.header = [h for h in header if h and h not in REPORT_COLUMNS]
        names = ["row", *self.header, *REPORT_COLUMNS[1:]]
        self.paths = {fmt: report_path(settings, job_id, fmt) for fmt in TableFormat}
        self.writers = {
            fmt: TableWriter(path.with_suffix(".partial"), names, fmt)
            for fmt, path in self.paths.items()
        }

    def write(self, row: FileRow, cells: dict[str, Any], applied: bool) -> None:
        result = row.result
        errors = "; ".join(f"{column_of(e) or 'row'}: {e.code} {e.message}" for e in errors_of(row))
        changes = (
            "; ".join(f"{c.field}: {c.old} → {c.new}" for c in result.changes) if result else ""
        )
        conversion = (
            encode_id("Conversion", result.conversion_id)
            if result is not None and result.conversion_id is not None
            else None
        )
        values: list[Any] = [
            row.row,
            *(None if cells.get(h) is None else str(cells.get(h)) for h in self.header),
            outcome_of(row).value,
            "yes" if applied else "no",
            conversion,
            errors[:32_000],
            changes[:32_000],
        ]
        for writer in self.writers.values():
            writer.write(values)

    def close(self) -> None:
        for fmt, writer in self.writers.items():
            writer.close()
            writer.path.replace(self.paths[fmt])


async def run_validation_import(engine: AsyncEngine, settings: Settings, job_id: int) -> str:
    async def work(lease: Lease) -> None:
        async with UnitOfWork(engine) as uow:
            job = await load_job(uow, job_id)
            assert job is not None and job.file_path is not None
            author = await uow.first(select(users).where(users.c.id == job.created_by))
            assert author is not None
            await uow.execute(import_errors.delete().where(import_errors.c.job_id == job_id))
            await keep_lease(uow, lease, processed=0, created_count=0, error_count=0)
            await uow.commit()
        viewer = row_mappers.user(author).as_viewer()
        params = job.parameters
        source = open_table(Path(job.file_path))
        run = _Run(engine, settings, lease, viewer, params, source)
        tally = await run.all()
        async with UnitOfWork(engine) as uow:
            await finish_job(
                uow,
                job_id,
                JobStatus.SUCCEEDED,
                lease=lease,
                processed=tally.processed,
                total=tally.processed,
                created_count=tally.changed,
                error_count=tally.errors,
            )
            await uow.commit()
        log.info(
            "sales validation import %s: %s rows, %s changed%s, %s not applicable",
            job_id,
            tally.processed,
            tally.changed,
            " (dry run)" if params["dry_run"] else "",
            tally.failed,
        )

    return await run_leased(engine, job_id, "sales validation import", work)


class _Run:
    """One pass over the file. Row by row (and dry run): a transaction per batch, which also
    records the batch's errors and the job's progress. allOrNothing: every batch in one
    transaction, committed only when no row is NOT_APPLICABLE; its errors and progress are
    written after it (SQLite has one writer at a time)."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        lease: Lease,
        viewer: Viewer,
        params: dict[str, Any],
        source: TableSource,
    ) -> None:
        self.engine, self.lease, self.viewer, self.source = engine, lease, viewer, source
        self.program_id = int(params["program_id"])
        self.dry_run = bool(params["dry_run"])
        self.atomic = bool(params["all_or_nothing"]) and not self.dry_run
        self.report = _Report(settings, lease.job_id, source.header)
        self.tally = _Tally()
        self.seen: set[int] = set()

    async def all(self) -> _Tally:
        if self.atomic:
            kept: list[tuple[FileRow, dict[str, Any]]] = []
            async with UnitOfWork(self.engine) as uow:
                for batch in self._batches():
                    await self._validate(uow, batch)
                    kept.extend(batch)
                applied = self.tally.failed == 0
                if applied:
                    await uow.commit()
                else:
                    await uow.rollback()
            if not applied:
                self.tally.changed = 0
            async with UnitOfWork(self.engine) as uow:
                await self._record(uow, kept, applied)
                await uow.commit()
        else:
            for batch in self._batches():
                async with UnitOfWork(self.engine) as uow:
                    await self._validate(uow, batch)
                    await self._record(uow, batch, not self.dry_run)
                    await uow.commit()
        self.report.close()
        return self.tally

    def _batches(self) -> Any:
        batch: list[tuple[FileRow, dict[str, Any]]] = []
        for number, cells in self.source.rows():
            batch.append((parse_row(number, cells, self.source.german_decimals), cells))
            if len(batch) >= MAX_LINES:
                yield batch
                batch = []
        if batch:
            yield batch

    async def _validate(self, uow: UnitOfWork, batch: list[tuple[FileRow, dict[str, Any]]]) -> None:
        valid = [row for row, _ in batch if row.line is not None]
        if valid:
            results = await validate_lines(
                uow,
                self.viewer,
                self.program_id,
                [row.line for row in valid if row.line is not None],
                dry_run=self.dry_run,
                source=ValidationSource.FILE,
                seen_conversions=self.seen,
            )
            for row, result in zip(valid, results, strict=True):
                row.result = replace(result, index=row.row - 2)
        for row, _ in batch:
            outcome = outcome_of(row)
            if outcome in CHANGED:
                self.tally.changed += 1
            elif outcome in NOT_APPLICABLE:
                self.tally.failed += 1

    async def _record(
        self, uow: UnitOfWork, batch: list[tuple[FileRow, dict[str, Any]]], applied: bool
    ) -> None:
        """The batch's errors, progress and report rows."""
        errors = []
        for row, cells in batch:
            for error in errors_of(row):
                column = column_of(error)
                value = row.text.get(column) if column else None
                errors.append(
                    {
                        "job_id": self.lease.job_id,
                        "row": row.row,
                        "column": column,
                        "value": value[:500] if value else None,
                        "code": error.code,
                        "message": error.message[:1000],
                        "request_id": None,
                    }
                )
            self.report.write(row, cells, applied and outcome_of(row) in CHANGED)
        self.tally.processed += len(batch)
        self.tally.errors += len(errors)
        if errors:
            await uow.execute(insert(import_errors), errors)
        await keep_lease(
            uow,
            self.lease,
            processed=self.tally.processed,
            error_count=self.tally.errors,
            created_count=self.tally.changed,
        )
