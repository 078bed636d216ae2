"""Importing conversion request files (SPEC §7).

On upload, the structure is checked at once (columns, emptiness, readability, limits); then a
job validates and applies the rows in batches, streaming the file, through the same
`create_requests` as `createConversionRequest`. Each bad cell is recorded with row, column,
value, code and message; an error report marks them in a copy of the file."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import rows as row_mappers
from portal.adapters.job_store import claim_job, finish_job, insert_job, load_job
from portal.adapters.request_files import (
    COLUMN_NAMES,
    CellError,
    FileProblem,
    TableSource,
    columns_for,
    open_table,
)
from portal.adapters.request_store import open_key
from portal.adapters.tables import import_errors, jobs, users
from portal.adapters.unit_of_work import UnitOfWork
from portal.config import Settings
from portal.domain.access import Role, Viewer
from portal.domain.errors import DomainError, ValidationFailed
from portal.domain.jobs import JobKind, JobStatus
from portal.domain.requests import RequestKind
from portal.services.import_rows import ParsedRow, RowParser, column_of, resolve_lookups
from portal.services.request_batch import Outcome, create_requests
from portal.services.request_drafts import Draft

log = logging.getLogger("portal.imports")
IMPORT_JOB = "run_import"
# Rows per transaction: fewer per-batch lookups, commits and progress updates than 500 (~15 %
# faster on PostgreSQL); memory stays bounded by the batch, not the file.
BATCH_ROWS = 2000


@dataclass(frozen=True, slots=True)
class ImportOptions:
    dry_run: bool = False
    all_or_nothing: bool = False
    time_zone: str = "UTC"


@dataclass(frozen=True, slots=True)
class ImportLimits:
    max_bytes: int
    max_rows: int

    @classmethod
    def from_env(cls) -> ImportLimits:
        return cls(
            max_bytes=int(os.environ.get("PORTAL_IMPORT_MAX_BYTES", 50 * 1024 * 1024)),
            max_rows=int(os.environ.get("PORTAL_IMPORT_MAX_ROWS", 200_000)),
        )


def import_dir(settings: Settings) -> Path:
    return settings.data_dir / "imports"


def check_structure(source: TableSource, viewer: Viewer) -> None:
    """Missing, unknown and duplicate columns, all reported at once (field: file)."""
    problems: list[DomainError] = []
    header = [h for h in source.header if h]
    if not header:
        raise FileProblem("EMPTY_FILE", "the file has no header")
    duplicates = sorted(name for name, n in Counter(header).items() if n > 1)
    if duplicates:
        problems.append(
            FileProblem("DUPLICATE_COLUMN", f"columns given twice: {', '.join(duplicates)}")
        )
    unknown = sorted(set(header) - set(COLUMN_NAMES))
    if unknown:
        problems.append(
            FileProblem(
                "UNKNOWN_COLUMN",
                f"unknown columns: {', '.join(unknown)} (known: {', '.join(COLUMN_NAMES)})",
            )
        )
    required = [c.name for c in columns_for(viewer.role is Role.PARTNER) if c.required]
    if viewer.role is not Role.PARTNER:
        required.append("partner")
    missing = [name for name in required if name not in header]
    if missing:
        problems.append(
            FileProblem("MISSING_COLUMN", f"required columns missing: {', '.join(missing)}")
        )
    if problems:
        raise ValidationFailed(problems)


def _count_rows(source: TableSource, max_rows: int) -> int:
    count = 0
    for _ in source.rows():
        count += 1
        if count > max_rows:
            break
    return count


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


async def start_import(
    uow: UnitOfWork,
    viewer: Viewer,
    settings: Settings,
    upload: Path,
    filename: str | None,
    options: ImportOptions,
    limits: ImportLimits,
) -> int:
    """Checks the file's structure and limits now, stores it, and queues the job."""
    try:
        ZoneInfo(options.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(
            "UNKNOWN_TIME_ZONE", f"{options.time_zone!r} is not an IANA time zone", ("timeZone",)
        ) from None
    size = upload.stat().st_size
    if size > limits.max_bytes:
        raise FileProblem(
            "FILE_TOO_LARGE", f"the file has {size} bytes; the limit is {limits.max_bytes}"
        )
    source = open_table(upload, filename)
    check_structure(source, viewer)
    count = _count_rows(source, limits.max_rows)
    if count == 0:
        raise FileProblem("NO_ROWS", "the file has a header but no rows")
    if count > limits.max_rows:
        raise FileProblem(
            "TOO_MANY_ROWS", f"the file has more than {limits.max_rows} rows; split it"
        )
    sha = _sha256(upload)
    parameters = {
        "dry_run": options.dry_run,
        "all_or_nothing": options.all_or_nothing,
        "time_zone": options.time_zone,
        "filename": (filename or "")[:200],
        "kind": source.kind,
    }
    job_id = await insert_job(
        uow, JobKind.IMPORT_CONVERSION_REQUESTS, viewer.user_id, parameters, source.kind.upper()
    )
    target = import_dir(settings) / f"{job_id}.{source.kind}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(upload, target)
    await uow.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(file_path=str(target), file_sha256=sha, total=count)
    )
    queue = uow.queue
    if queue is not None:

        async def enqueue() -> None:
            await queue.enqueue(IMPORT_JOB, job_id, job_id=f"import:{job_id}")

        uow.after_commit(enqueue)
    return job_id


@dataclass(slots=True)
class _Tally:
    processed: int = 0
    created: int = 0
    existing: int = 0
    errors: int = 0
    analyzed_at: int = 0  # `created` when this job last analysed conversion_requests
    # Open keys of the rows that passed so far (or were created): a later batch repeating one
    # is a duplicate in the file — a dry run would not see it in the database.
    seen_keys: set[str] = field(default_factory=set)


async def run_import(engine: AsyncEngine, settings: Settings, job_id: int) -> str:
    async with UnitOfWork(engine) as uow:
        if not await claim_job(uow, job_id):
            return "skipped"
        await uow.commit()
    try:
        async with UnitOfWork(engine) as uow:
            job = await load_job(uow, job_id)
            assert job is not None and job.file_path is not None
            author = await uow.first(select(users).where(users.c.id == job.created_by))
            sha = await uow.conn.scalar(select(jobs.c.file_sha256).where(jobs.c.id == job_id))
        assert author is not None
        viewer = row_mappers.user(author).as_viewer()
        params = job.parameters
        source = open_table(Path(job.file_path))
        parser = RowParser(
            viewer, ZoneInfo(params["time_zone"]), source.german_decimals, (sha or "")[:32]
        )
        async with UnitOfWork(engine) as uow:
            await parser.load_names(uow)
        if params["dry_run"]:
            tally = await _pass(engine, job_id, source, parser, viewer, apply=False)
        elif params["all_or_nothing"]:
            tally = await _pass(engine, job_id, source, parser, viewer, apply=False)
            if tally.errors == 0:
                tally = await _pass(engine, job_id, source, parser, viewer, apply=True, atomic=True)
        else:
            tally = await _pass(engine, job_id, source, parser, viewer, apply=True)
        async with UnitOfWork(engine) as uow:
            await finish_job(
                uow,
                job_id,
                JobStatus.SUCCEEDED,
                processed=tally.processed,
                created_count=tally.created,
                error_count=tally.errors,
            )
            await uow.commit()
        if tally.errors:
            from portal.services.import_reports import write_error_reports

            await write_error_reports(engine, settings, job_id)
        return "succeeded"
    except Exception as error:
        message = (
            f"{error.code}: {error.message}"
            if isinstance(error, DomainError)
            else f"{type(error).__name__}: {error}"
        )
        if not isinstance(error, DomainError):
            log.exception("import %s failed", job_id)
        async with UnitOfWork(engine) as uow:
            await finish_job(uow, job_id, JobStatus.FAILED, error=message[:4000])
            await uow.commit()
        return "failed"


async def _pass(
    engine: AsyncEngine,
    job_id: int,
    source: TableSource,
    parser: RowParser,
    viewer: Viewer,
    *,
    apply: bool,
    atomic: bool = False,
) -> _Tally:
    """One run over the file. `atomic`: every batch in one transaction, committed only when no
    row failed (allOrNothing's applying pass: a row that fails only now still undoes all)."""
    tally = _Tally()
    async with UnitOfWork(engine) as uow:
        await uow.execute(import_errors.delete().where(import_errors.c.job_id == job_id))
        await uow.commit()
    shared = UnitOfWork(engine) if atomic else None
    late_errors: list[CellError] = []
    if shared is not None:
        await shared.__aenter__()
    try:
        batch: list[ParsedRow] = []
        for number, cells in source.rows():
            batch.append(parser.parse(number, cells))
            if len(batch) >= BATCH_ROWS:
                late_errors += await _batch(engine, shared, job_id, viewer, batch, tally, apply)
                batch = []
        if batch:
            late_errors += await _batch(engine, shared, job_id, viewer, batch, tally, apply)
        if shared is not None:
            if tally.errors:
                await shared.rollback()
                tally.created = 0
            else:
                await shared.commit()
    finally:
        if shared is not None:
            await shared.__aexit__(None, None, None)
    if shared is not None:
        # Written once the transaction is over (SQLite has one writer at a time).
        await _record_errors_and_progress(engine, job_id, late_errors, tally)
    return tally


async def _batch(
    engine: AsyncEngine,
    shared: UnitOfWork | None,
    job_id: int,
    viewer: Viewer,
    batch: list[ParsedRow],
    tally: _Tally,
    apply: bool,
) -> list[CellError]:
    """Checks (and applies) one batch; returns the errors still to be written (atomic mode)."""
    if shared is not None:
        errors = await _check_and_apply(shared, viewer, batch, tally, apply)
        tally.processed += len(batch)
        tally.errors += len(errors)
        return errors
    async with UnitOfWork(engine) as uow:
        errors = await _check_and_apply(uow, viewer, batch, tally, apply)
        await uow.commit()
    tally.processed += len(batch)
    tally.errors += len(errors)
    await _record_errors_and_progress(engine, job_id, errors, tally)
    if apply:
        await _analyze_when_grown(engine, tally)
    return []


async def _analyze_when_grown(engine: AsyncEngine, tally: _Tally) -> None:
    """PostgreSQL: ANALYZE conversion_requests once this job has at least doubled it since its
    statistics were taken. With statistics of a (nearly) empty table the planner looks up the
    batch's idempotency keys through `created_by` alone and filters every request of the user
    (~60 ms per lookup at 100,000 rows, growing with each batch); autovacuum runs at most once a
    minute and may be off. A table of millions is never analysed here; a fresh one ~log2(rows)
    times (a sample of ≤ 30,000 rows each)."""
    if engine.dialect.name != "postgresql" or tally.created - tally.analyzed_at < BATCH_ROWS:
        return
    try:
        async with engine.connect() as conn:
            estimate = await conn.scalar(
                text("SELECT reltuples FROM pg_class WHERE oid = 'conversion_requests'::regclass")
            )
            if tally.created - tally.analyzed_at > max(float(estimate or 0), 0.0):
                await conn.execute(text("ANALYZE conversion_requests"))
                await conn.commit()
                tally.analyzed_at = tally.created
    except Exception:  # statistics are an optimisation: never fail an import over them
        log.debug("ANALYZE conversion_requests failed", exc_info=True)


async def _check_and_apply(
    uow: UnitOfWork, viewer: Viewer, batch: list[ParsedRow], tally: _Tally, apply: bool
) -> list[CellError]:
    if uow.conn.dialect.name == "postgresql":
        # The batch lookups (`… IN (<500 keys>)`) run as prepared statements; a generic plan made
        # while conversion_requests was small (a seq scan) stays cached until the next ANALYZE,
        # which a big import outruns: each lookup then scans the whole growing table (~100 ms at
        # 20,000 rows). Custom plans see the table's current size and use the unique indexes.
        await uow.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    await resolve_lookups(uow, viewer, batch)
    with_drafts = [r for r in batch if r.draft is not None and not r.errors]
    outcomes = await create_requests(
        uow, viewer, [r.draft for r in with_drafts if r.draft], dry_run=not apply
    )
    for parsed, outcome in zip(with_drafts, outcomes, strict=True):
        if parsed.draft is not None:
            _mark_earlier_batch_duplicate(parsed.draft, outcome, tally.seen_keys)
        for error in outcome.errors:
            column = column_of(error)
            value = parsed.cells.get(column) if column else None
            # As the parser reports cells: stripped, and a blank cell has no value.
            shown = None if value is None else str(value).strip()[:500] or None
            parsed.errors.append(
                CellError(parsed.row, column or "", shown, error.code, error.message)
            )
        tally.created += 1 if outcome.request_id is not None and not outcome.existing else 0
        tally.existing += 1 if outcome.existing else 0
    return [e for r in batch for e in r.errors]


def _mark_earlier_batch_duplicate(draft: Draft, outcome: Outcome, seen: set[str]) -> None:
    """A row repeating the order (or conversion) of a row of an earlier batch gets the
    DUPLICATE_IN_BATCH of a repeat within a batch — in a dry run too, where the database does
    not hold the earlier row (a real run would report OPEN_REQUEST_EXISTS)."""
    if outcome.revised is None or outcome.existing:
        return
    new = outcome.revised.conversion
    change = draft.kind is RequestKind.CHANGE_EXISTING
    key = open_key(
        draft.kind,
        new.program_id,
        draft.conversion_id if change else None,
        (new.order_id, new.target, new.category),
    )
    if key not in seen:
        if not outcome.errors:
            seen.add(key)
        return
    if not outcome.errors or [e.code for e in outcome.errors] == ["OPEN_REQUEST_EXISTS"]:
        outcome.errors[:] = [
            DomainError(
                "DUPLICATE_IN_BATCH",
                "an earlier row asks for the same conversion or order",
                ("conversionId",) if change else ("requested", "orderId"),
            )
        ]


async def _record_errors_and_progress(
    engine: AsyncEngine, job_id: int, errors: list[CellError], tally: _Tally
) -> None:
    """In its own transaction, so progress shows while an atomic pass is still open."""
    async with UnitOfWork(engine) as uow:
        if errors:
            await uow.execute(
                insert(import_errors),
                [
                    {
                        "job_id": job_id,
                        "row": e.row,
                        "column": e.column or None,
                        "value": e.value,
                        "code": e.code,
                        "message": e.message[:1000],
                    }
                    for e in errors
                ],
            )
        await uow.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(
                processed=tally.processed, error_count=tally.errors, created_count=tally.created
            )
        )
        await uow.commit()


def options_from(params: dict[str, Any]) -> ImportOptions:
    return ImportOptions(params["dry_run"], params["all_or_nothing"], params["time_zone"])
