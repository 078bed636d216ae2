"""One pass of an import job over its file: rows parsed, checked and applied in batches, through
`check_drafts`, `refuse_taken_keys` and `insert_requests` — the checks and the insert of
`createConversionRequest`.

Two connections work side by side: the checker (reads, and a temporary table of the keys the
file has used so far) checks batch n + 1 while the writer stores batch n — the requests, the
batch's cell errors and the job's progress, in one transaction, so progress never counts a row
that is not applied. While Python checks, PostgreSQL writes on the other core. At most two
batches are in memory, whatever the size of the file.

allOrNothing's applying pass (`atomic`) runs everything in one transaction on one connection,
committed only when no row failed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import file_keys
from portal.adapters.job_store import Lease, keep_lease
from portal.adapters.request_files import CellError, TableSource
from portal.adapters.tables import import_errors
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.observability.jobs import observe_import_batch
from portal.services.import_rows import ParsedRow, RowParser, column_of, resolve_lookups
from portal.services.request_batch import (
    CheckedRequests,
    Outcome,
    check_drafts,
    duplicate_in_file_error,
    insert_requests,
    refuse_taken_keys,
)
from portal.services.request_drafts import DraftScope

log = logging.getLogger("portal.imports")
# Rows per transaction: fewer per-batch lookups, commits and progress updates than 500 (~15 %
# faster on PostgreSQL); memory stays bounded by the batch, not the file.
BATCH_ROWS = 2000
# Parsing yields to the event loop this often, so the writer's COPY of the previous batch
# streams on while the next one is parsed and checked.
YIELD_ROWS = 64


@dataclass(slots=True)
class Tally:
    processed: int = 0
    created: int = 0
    existing: int = 0
    errors: int = 0
    creatable: int = 0  # rows that passed every check: what a dry run would create
    analyzed_at: int = 0  # `created` when this job last analysed conversion_requests


@dataclass(slots=True)
class _Batch:
    rows: list[ParsedRow]
    drafted: list[ParsedRow]  # the rows with a draft, in the order of `checked.outcomes`
    checked: CheckedRequests


@dataclass(frozen=True, slots=True)
class ImportFile:
    """What a pass works on: the job, its file and its author. `first_upload`: no other import
    of the author had this file (the same bytes), so none of its rows' idempotency keys can
    be in use yet."""

    engine: AsyncEngine
    lease: Lease
    source: TableSource
    parser: RowParser
    viewer: Viewer
    first_upload: bool


async def run_pass(
    file: ImportFile, *, apply: bool, atomic: bool = False, resume: Tally | None = None
) -> Tally:
    """`resume`: what an earlier run of this (row by row) pass committed; its rows are
    skipped, its cell errors kept."""
    engine, job_id = file.engine, file.lease.job_id
    tally = Tally(resume.processed, resume.created, 0, resume.errors) if resume else Tally()
    if resume is None:
        async with UnitOfWork(engine) as uow:
            await uow.execute(import_errors.delete().where(import_errors.c.job_id == job_id))
            await uow.commit()
    skip = tally.processed
    late_errors: list[CellError] = []
    async with UnitOfWork(engine, writes=atomic) as checker:
        writer = _Writer(engine, file.lease, tally, apply, shared=checker if atomic else None)
        scope = DraftScope(checker, file.viewer)
        await file_keys.create(checker.conn)

        own = not atomic
        # The checks of a batch against other requests (on the checker's connection) run while
        # the next batch is parsed — in an atomic pass, its insert too, on that connection;
        # the checker's connection is never used by two at once.
        pending: asyncio.Task[_Batch] | None = None

        async def check_keys(partial: _Batch) -> _Batch:
            checked = await _check_keys(scope, partial, own=own, file_key=file.parser.file_key)
            if atomic:
                await writer.submit(checked)
            return checked

        async def finish_pending() -> None:
            nonlocal pending
            if pending is not None:
                checked, pending = await pending, None
                if not atomic:
                    await writer.submit(checked)

        async def check(rows: list[ParsedRow]) -> None:
            nonlocal pending
            await finish_pending()
            partial = await _check_rows(scope, rows, new_keys=file.first_upload)
            pending = asyncio.create_task(check_keys(partial))

        try:
            batch: list[ParsedRow] = []
            for number, cells in file.source.rows():
                if skip:
                    skip -= 1
                    continue
                batch.append(file.parser.parse(number, cells))
                if len(batch) % YIELD_ROWS == 0:
                    await asyncio.sleep(0)
                if len(batch) >= BATCH_ROWS:
                    await check(batch)
                    batch = []
            if batch:
                await check(batch)
            await finish_pending()
            late_errors = await writer.finish()
            if atomic:
                if tally.errors:
                    await checker.rollback()
                    tally.created = 0
                else:
                    await file_keys.drop(checker.conn)
                    await checker.commit()
            else:
                await file_keys.drop(checker.conn)
                await checker.commit()
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
            await writer.cancel()
            await _drop_file_keys(checker)
    if atomic:
        # Written once the transaction is over (SQLite has one writer at a time).
        async with UnitOfWork(engine) as uow:
            await _record(uow, file.lease, late_errors, tally)
            await uow.commit()
    return tally


async def _drop_file_keys(checker: UnitOfWork) -> None:
    """After a failed pass, the temporary table goes with its connection back to the pool
    (created in a transaction that committed): drop it now, not at the next pass's start."""
    try:
        if checker.conn.in_transaction():
            await checker.rollback()
        await file_keys.drop(checker.conn)
        await checker.commit()
    except Exception:  # the connection itself may be what failed
        log.debug("dropping the file's keys failed", exc_info=True)


async def _check_rows(scope: DraftScope, rows: list[ParsedRow], *, new_keys: bool) -> _Batch:
    """The checks of each row of a batch on its own, on the checker's connection. The
    programs, partners, vocabularies and models the scope and its cache looked up stay for
    the pass: a file is checked against the setup as it was when the pass began."""
    uow, viewer = scope.uow, scope.viewer
    if uow.conn.dialect.name == "postgresql":
        # A generic plan made while conversion_requests was small (a seq scan) would stay
        # cached until the next ANALYZE, which a big import outruns; custom plans see the
        # table's current size.
        await uow.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    scope.forget_conversions()
    await resolve_lookups(scope, rows)
    drafted = [r for r in rows if r.draft is not None and not r.errors]
    drafts = [r.draft for r in drafted if r.draft is not None]
    checked = await check_drafts(uow, viewer, drafts, scope, unused_idempotency_keys=new_keys)
    return _Batch(rows, drafted, checked)


async def _check_keys(
    scope: DraftScope, batch: _Batch, *, own: bool, file_key: str | None
) -> _Batch:
    """The checks of a batch against other requests and conversions, and against the rows of
    the file before it: a key an earlier row took (recorded in this pass, or an open request
    this file raised — an earlier run of the job, an earlier upload of the same bytes) is a
    duplicate in the file. Commits the checker's transaction unless `own` is False."""
    uow, checked = scope.uow, batch.checked
    holders = await refuse_taken_keys(uow, checked)
    candidates = {
        index: outcome.open_key
        for index, outcome in enumerate(checked.outcomes)
        if outcome.open_key is not None
        and not outcome.existing
        and all(e.code == "OPEN_REQUEST_EXISTS" for e in outcome.errors)
    }
    earlier = await file_keys.seen(uow.conn, list(candidates.values()))
    ours = f"import:{file_key}:" if file_key else None
    for index, key in candidates.items():
        held_by = holders.get(key)
        if key in earlier or (ours and held_by and held_by.startswith(ours)):
            draft = batch.drafted[index].draft
            assert draft is not None
            checked.refuse(index, duplicate_in_file_error(draft.kind))
    await file_keys.record(
        uow.conn,
        [o.open_key for o in checked.outcomes if o.open_key is not None and not o.errors],
    )
    if own:
        await uow.commit()
    return batch


class _Writer:
    """Applies checked batches one after the other, each as a task that runs while the next
    batch is checked (with `shared`, inline in that unit of work)."""

    def __init__(
        self,
        engine: AsyncEngine,
        lease: Lease,
        tally: Tally,
        apply: bool,
        shared: UnitOfWork | None,
    ) -> None:
        self.engine, self.lease, self.tally = engine, lease, tally
        self.apply, self.shared = apply, shared
        self._task: asyncio.Task[None] | None = None
        self._statistics: asyncio.Task[None] | None = None  # ANALYZE, off the writer's path
        self._late_errors: list[CellError] = []

    async def submit(self, batch: _Batch) -> None:
        await self._wait()
        if self.shared is not None:
            if self.apply:
                await insert_requests(self.shared, batch.checked, ids=False)
            self._late_errors += self._count(batch)
            return
        self._task = asyncio.create_task(self._write(batch))

    async def finish(self) -> list[CellError]:
        """Waits for the last batch; the errors an atomic pass has still to record."""
        await self._wait()
        if self._statistics is not None:
            await self._statistics
        return self._late_errors

    async def cancel(self) -> None:
        for task in (self._task, self._statistics):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _wait(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            await task

    async def _write(self, batch: _Batch) -> None:
        async with UnitOfWork(self.engine) as uow:
            if self.apply:
                await insert_requests(uow, batch.checked, ids=False)
            errors = self._count(batch)
            await _record(uow, self.lease, errors, self.tally)
            await uow.commit()
        if self.apply and (self._statistics is None or self._statistics.done()):
            self._statistics = asyncio.create_task(_analyze_when_grown(self.engine, self.tally))

    def _count(self, batch: _Batch) -> list[CellError]:
        for parsed, outcome in zip(batch.drafted, batch.checked.outcomes, strict=True):
            parsed.errors.extend(_cell_errors(parsed, outcome))
            if outcome.existing:
                self.tally.existing += 1
            elif outcome.created:
                self.tally.created += 1
            if not outcome.existing and not outcome.errors:
                self.tally.creatable += 1
        errors = [e for r in batch.rows for e in r.errors]
        self.tally.processed += len(batch.rows)
        observe_import_batch(len(batch.rows), self.tally.processed, applied=self.apply)
        self.tally.errors += len(errors)
        return errors


def _cell_errors(parsed: ParsedRow, outcome: Outcome) -> Iterable[CellError]:
    for error in outcome.errors:
        column = column_of(error)
        if column == "conversion_id" and "conversion_id" not in parsed.cells:
            column = "order_id"  # the row names its conversion by order id
        shown = parsed.text.get(column) if column else None  # as the parser reports cells
        yield CellError(parsed.row, column or "", shown and shown[:500], error.code, error.message)


async def _record(uow: UnitOfWork, lease: Lease, errors: list[CellError], tally: Tally) -> None:
    """A batch's cell errors and the job's progress (its heartbeat too); LeaseLost — and the
    batch is not committed — when another run has taken the job over."""
    await keep_lease(
        uow,
        lease,
        processed=tally.processed,
        error_count=tally.errors,
        created_count=tally.created,
    )
    if errors:
        await uow.execute(
            insert(import_errors),
            [
                {
                    "job_id": lease.job_id,
                    "row": e.row,
                    "column": e.column or None,
                    "value": e.value,
                    "code": e.code,
                    "message": e.message[:1000],
                }
                for e in errors
            ],
        )


async def _analyze_when_grown(engine: AsyncEngine, tally: Tally) -> None:
    """PostgreSQL: ANALYZE conversion_requests once this job has at least doubled it since its
    statistics were taken. With statistics of a (nearly) empty table the planner looks up the
    batch's idempotency keys through `created_by` alone and filters every request of the user
    (~60 ms per lookup at 100,000 rows, growing with each batch); autovacuum runs at most once a
    minute and may be off. A table of millions is never analysed here; a fresh one ~log2(rows)
    times (a sample of ≤ 30,000 rows each). It runs beside the writer, which never waits for
    it (an ANALYZE takes up to ~0.2 s)."""
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
