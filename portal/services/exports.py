"""Exports as jobs: the filtered list the viewer sees, written to CSV or XLSX, downloadable by
its author. The job re-reads its author and applies the same visibility as every read."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import rows
from portal.adapters.job_store import Lease, finish_job, insert_job, load_job
from portal.adapters.request_reader import RequestFilter, request_conditions
from portal.adapters.request_store import request_from_row
from portal.adapters.spreadsheets import Cell, TableFormat, TableWriter
from portal.adapters.tables import conversion_requests, partners, programs, users
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import visible
from portal.config import Settings
from portal.domain.access import Viewer
from portal.domain.conversions import ConversionStatus
from portal.domain.jobs import JobKind, JobStatus
from portal.domain.requests import RequestKind, RequestStatus
from portal.services.job_runs import run_leased

log = logging.getLogger("portal.exports")
EXPORT_JOB = "run_export"
BATCH = 1000

REQUEST_COLUMNS = (
    "request_id",
    "kind",
    "status",
    "program",
    "partner",
    "order_id",
    "conversion_target",
    "tracking_category",
    "tracking_time_utc",
    "order_value",
    "currency",
    "requested_status",
    "requested_commission",
    "commission",
    "commission_currency",
    "commission_model",
    "created_at_utc",
    "created_by",
    "decided_at_utc",
    "conversion_note",
    "reason",
    "failure",
    "comment",
)


def filter_to_json(f: RequestFilter) -> dict[str, Any]:
    return {
        "statuses": [s.value for s in f.statuses],
        "kinds": [k.value for k in f.kinds],
        "program_ids": list(f.program_ids),
        "partner_ids": list(f.partner_ids),
        "created_by": list(f.created_by),
        "created_from": f.created_from.isoformat() if f.created_from else None,
        "created_to": f.created_to.isoformat() if f.created_to else None,
        "order_id": f.order_id,
    }


def filter_from_json(raw: dict[str, Any]) -> RequestFilter:
    return RequestFilter(
        statuses=tuple(RequestStatus(s) for s in raw.get("statuses", [])),
        kinds=tuple(RequestKind(k) for k in raw.get("kinds", [])),
        program_ids=tuple(raw.get("program_ids", [])),
        partner_ids=tuple(raw.get("partner_ids", [])),
        created_by=tuple(raw.get("created_by", [])),
        created_from=datetime.fromisoformat(raw["created_from"])
        if raw.get("created_from")
        else None,
        created_to=datetime.fromisoformat(raw["created_to"]) if raw.get("created_to") else None,
        order_id=raw.get("order_id"),
    )


async def start_request_export(
    uow: UnitOfWork, viewer: Viewer, f: RequestFilter, fmt: TableFormat
) -> int:
    return await start_job_export(
        uow, viewer, JobKind.EXPORT_CONVERSION_REQUESTS, filter_to_json(f), fmt
    )


async def start_job_export(
    uow: UnitOfWork, viewer: Viewer, kind: JobKind, parameters: dict[str, Any], fmt: TableFormat
) -> int:
    job_id = await insert_job(uow, kind, viewer.user_id, parameters, fmt.value)
    queue = uow.queue
    if queue is not None:

        async def enqueue() -> None:
            await queue.enqueue(EXPORT_JOB, job_id, job_id=f"export:{job_id}")

        uow.after_commit(enqueue)
    return job_id


def export_path(settings: Settings, job_id: int, fmt: TableFormat) -> Path:
    return settings.data_dir / "exports" / f"{job_id}.{fmt.extension}"


async def run_export(engine: AsyncEngine, settings: Settings, job_id: int) -> str:
    async def work(lease: Lease) -> None:
        await _export(engine, settings, lease)

    return await run_leased(engine, job_id, "export", work)


async def _export(engine: AsyncEngine, settings: Settings, lease: Lease) -> None:
    job_id = lease.job_id
    async with UnitOfWork(engine) as uow:
        job = await load_job(uow, job_id)
        assert job is not None and job.format is not None
        author = await uow.first(select(users).where(users.c.id == job.created_by))
        assert author is not None
        viewer = rows.user(author).as_viewer()
    fmt = TableFormat(job.format)
    path = export_path(settings, job_id, fmt)
    if job.kind is JobKind.EXPORT_CONVERSION_REQUESTS:
        count = await _write_requests(engine, viewer, filter_from_json(job.parameters), path, fmt)
    else:
        from portal.services.conversion_export import write_conversions

        count = await write_conversions(engine, viewer, job.parameters, path, fmt)
    async with UnitOfWork(engine) as uow:
        await finish_job(
            uow,
            job_id,
            JobStatus.SUCCEEDED,
            lease=lease,
            processed=count,
            total=count,
            file_path=str(path),
        )
        await uow.commit()
    log.info("export %s: %s rows written (%s, %s)", job_id, count, job.kind.value, fmt.value)


async def _request_rows(
    engine: AsyncEngine, viewer: Viewer, f: RequestFilter
) -> AsyncIterator[Sequence[Cell]]:
    """The filtered, visible requests in id order, a batch at a time (keyset on id)."""
    c = conversion_requests.c
    where = and_(visible(conversion_requests, viewer), *request_conditions(f))
    creator = users.alias("creator")
    last_id = 0
    while True:
        async with engine.connect() as conn:
            batch = (
                await conn.execute(
                    select(
                        conversion_requests,
                        programs.c.name.label("program_name"),
                        partners.c.name.label("partner_name"),
                        creator.c.name.label("creator_name"),
                    )
                    .join(programs, programs.c.id == c.program_id)
                    .join(partners, partners.c.id == c.partner_id)
                    .join(creator, creator.c.id == c.created_by)
                    .where(where, c.id > last_id)
                    .order_by(c.id)
                    .limit(BATCH)
                )
            ).all()
        if not batch:
            return
        for row in batch:
            r = request_from_row(row)
            v = r.requested
            yield (
                r.id,
                r.kind.value,
                r.status.value,
                row.program_name,
                row.partner_name,
                v.order_id,
                v.target,
                v.category,
                v.tracking_time,
                v.order_value,
                v.currency,
                v.status.value if isinstance(v.status, ConversionStatus) else None,
                v.commission,
                r.commission,
                r.commission_currency,
                r.commission_model_name,
                r.created_at,
                row.creator_name,
                r.decided_at,
                r.decision_note,
                r.decision_reason,
                r.failure,
                r.comment,
            )
        last_id = batch[-1].id


async def _write_requests(
    engine: AsyncEngine, viewer: Viewer, f: RequestFilter, path: Path, fmt: TableFormat
) -> int:
    writer = TableWriter(path, REQUEST_COLUMNS, fmt)
    try:
        async for row in _request_rows(engine, viewer, f):
            writer.write(row)
    finally:
        count = writer.close()
    return count
