"""Importing conversion request files (SPEC §7).

On upload, the structure is checked at once (columns, emptiness, readability, limits); then a
job validates and applies the rows in batches, streaming the file (`import_pass`), through the
checks and the insert of `createConversionRequest`. Each bad cell is recorded with row, column,
value, code and message; an error report marks them in a copy of the file."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import rows as row_mappers
from portal.adapters.job_store import (
    Lease,
    enqueue_after_commit,
    finish_succeeded,
    insert_job,
    load_job,
)
from portal.adapters.request_files import (
    COLUMN_NAMES,
    REPORT_COLUMNS,
    FileProblem,
    TableSource,
    columns_for,
    open_table,
)
from portal.adapters.tables import conversion_requests, jobs, users
from portal.adapters.unit_of_work import UnitOfWork
from portal.config import Settings
from portal.domain.access import Viewer
from portal.domain.errors import DomainError, ValidationFailed
from portal.domain.jobs import Job, JobKind
from portal.services.import_pass import ImportFile, Tally, run_pass
from portal.services.import_rows import RowParser
from portal.services.job_runs import run_leased

log = logging.getLogger("portal.imports")
IMPORT_JOB = "run_import"


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
    unknown = sorted(set(header) - set(COLUMN_NAMES) - set(REPORT_COLUMNS))
    if unknown:
        problems.append(
            FileProblem(
                "UNKNOWN_COLUMN",
                f"unknown columns: {', '.join(unknown)} (known: {', '.join(COLUMN_NAMES)})",
            )
        )
    required = [c.name for c in columns_for(viewer) if c.required]
    missing = [name for name in required if name not in header]
    if missing:
        problems.append(
            FileProblem("MISSING_COLUMN", f"required columns missing: {', '.join(missing)}")
        )
    if problems:
        raise ValidationFailed(problems)


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
    size = upload.stat().st_size  # noqa: ASYNC240 - one stat of a local file
    if size > limits.max_bytes:
        raise FileProblem(
            "FILE_TOO_LARGE", f"the file has {size} bytes; the limit is {limits.max_bytes}"
        )
    source = open_table(upload, filename)
    check_structure(source, viewer)
    count = source.count_rows(limits.max_rows)
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
    enqueue_after_commit(uow, IMPORT_JOB, job_id, "import")
    return job_id


async def run_import(engine: AsyncEngine, settings: Settings, job_id: int) -> str:
    async def work(lease: Lease) -> None:
        tally, created, dry_run = await _import(engine, lease)
        if tally.errors or tally.existing:
            from portal.services.import_reports import write_error_reports

            # Before the job ends: a SUCCEEDED import's report can be downloaded at once.
            await write_error_reports(engine, settings, job_id)
        await finish_succeeded(
            engine,
            lease,
            processed=tally.processed,
            total=tally.processed,  # the upload's count of a workbook is an estimate
            created_count=created,
            error_count=tally.errors,
        )
        log.info(
            "import %s: %s rows, %s requests %s, %s raised by an earlier upload, %s errors",
            job_id,
            tally.processed,
            created,
            "would be created (dry run)" if dry_run else "created",
            tally.existing,
            tally.errors,
        )

    return await run_leased(engine, job_id, "import", work)


async def _import(engine: AsyncEngine, lease: Lease) -> tuple[Tally, int, bool]:
    """The passes of the job, how many requests it created (a dry run: would create) and
    whether it was a dry run. Taken over from a worker that died, an import that applies row
    by row goes on after its last committed batch (requests, cell errors and progress are
    committed together); a dry run and an allOrNothing import start again — and count the
    requests the file created since its upload, as the run that died may have committed them
    before it could count them."""
    job_id, taken_over = lease.job_id, lease.taken_over
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
        first_upload = not taken_over and not await _uploaded_before(
            uow, job_id, viewer.user_id, sha
        )
    file = ImportFile(engine, lease, source, parser, viewer, first_upload)
    if params["dry_run"]:
        # A dry run's createdCount: the requests it would create.
        tally = await run_pass(file, apply=False)
        return tally, tally.creatable, True
    if params["all_or_nothing"]:
        tally = await run_pass(file, apply=False)
        if tally.errors == 0:
            tally = await run_pass(file, apply=True, atomic=True)
    else:
        done = Tally(job.processed, job.created_count, 0, job.error_count) if taken_over else None
        tally = await run_pass(file, apply=True, resume=done)
    if not taken_over:
        return tally, tally.created, False
    async with UnitOfWork(engine) as uow:
        return tally, await _created_from(uow, job, parser.file_key), False


async def _created_from(uow: UnitOfWork, job: Job, file_key: str | None) -> int:
    """The requests the job's author raised from this file (its rows' idempotency keys) since
    the job's upload."""
    c = conversion_requests.c
    created = await uow.conn.scalar(
        select(func.count())
        .select_from(conversion_requests)
        .where(
            c.created_by == job.created_by,
            c.idempotency_key.like(f"import:{file_key}:%"),
            c.created_at >= job.created_at,
        )
    )
    return int(created or 0)


async def _uploaded_before(uow: UnitOfWork, job_id: int, user_id: int, sha: str | None) -> bool:
    """Whether another import job of the user has (or had) the same file."""
    found = await uow.conn.scalar(
        select(jobs.c.id)
        .where(
            jobs.c.created_by == user_id,
            jobs.c.kind == JobKind.IMPORT_CONVERSION_REQUESTS.value,
            jobs.c.file_sha256 == sha,
            jobs.c.id != job_id,
        )
        .limit(1)
    )
    return sha is None or found is not None


def options_from(params: dict[str, Any]) -> ImportOptions:
    return ImportOptions(params["dry_run"], params["all_or_nothing"], params["time_zone"])
