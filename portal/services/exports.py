"""Exports as jobs: the filtered list the viewer sees (or a program's tracking-difference
report), written to CSV or XLSX, downloadable by its author. The job re-reads its author and
applies the same visibility as every read."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import rows
from portal.adapters.filter_json import filter_from_json, filter_to_json
from portal.adapters.job_store import (
    Lease,
    enqueue_after_commit,
    finish_succeeded,
    insert_job,
    load_job,
)
from portal.adapters.keyset import keyset_rows
from portal.adapters.request_files import names_partners
from portal.adapters.request_reader import RequestFilter, request_conditions
from portal.adapters.request_store import request_from_row
from portal.adapters.spreadsheets import Amount, Cell, TableFormat, TableWriter
from portal.adapters.tables import (
    advertisers,
    conversion_requests,
    conversions,
    partners,
    programs,
    users,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import visible
from portal.config import Settings
from portal.domain.access import Viewer
from portal.domain.conversions import SUB_ID_COUNT, ConversionStatus
from portal.domain.jobs import JobKind
from portal.domain.money import without_padding
from portal.domain.rating import applied_rate
from portal.global_ids import encode_id
from portal.services.job_runs import run_leased

log = logging.getLogger("portal.exports")
EXPORT_JOB = "run_export"
BATCH = 1000

_SUB_IDS = tuple(f"sub_id_{i}" for i in range(1, SUB_ID_COUNT + 1))
REQUEST_COLUMNS = (
    "request_id", "kind", "status", "advertiser", "program", "partner", "conversion_id",
    # what the request asks for (CHANGE_EXISTING: blank = unchanged)
    "order_id", "conversion_target", "tracking_category", "tracking_time_utc", "order_value",
    "currency", "requested_status", "requested_commission", *_SUB_IDS, "device",
    "requested_conversion_note",
    # the conversion as it is now (blank: none yet, or none the viewer may see)
    "current_order_id", "current_conversion_target", "current_tracking_category",
    "current_tracking_time_utc", "current_order_value", "current_currency", "current_status",
    "current_commission", *(f"current_{s}" for s in _SUB_IDS), "current_device",
    "current_conversion_note",
    # the rating assigned when it was raised, and what became of it
    "commission", "commission_currency", "commission_model", "commission_percentage",
    "commission_fixed_amount", "created_at_utc", "created_by", "decided_at_utc",
    "conversion_note", "reason", "failure", "comment",
)  # fmt: skip


def request_columns(viewer: Viewer) -> tuple[str, ...]:
    """The columns of the viewer's request export (`names_partners`)."""
    if names_partners(viewer):
        return REQUEST_COLUMNS
    return tuple(c for c in REQUEST_COLUMNS if c != "partner")


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
    enqueue_after_commit(uow, EXPORT_JOB, job_id, "export")
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
        count = await _write_requests(
            engine, viewer, filter_from_json(RequestFilter, job.parameters), path, fmt
        )
    elif job.kind is JobKind.EXPORT_TRACKING_DIFFERENCE:
        from portal.services.order_book_files import write_report_export

        count = await write_report_export(engine, viewer, job.parameters, path, fmt)
    else:
        from portal.services.conversion_export import write_conversions

        count = await write_conversions(engine, viewer, job.parameters, path, fmt)
    await finish_succeeded(engine, lease, processed=count, total=count, file_path=str(path))
    log.info("export %s: %s rows written (%s, %s)", job_id, count, job.kind.value, fmt.value)


async def _request_rows(
    engine: AsyncEngine, viewer: Viewer, f: RequestFilter
) -> AsyncIterator[dict[str, Cell]]:
    """The filtered, visible requests in id order, a batch at a time (keyset on id), each with
    the conversion it is about as it is now — where the viewer may see it."""
    c = conversion_requests.c
    where = and_(visible(conversion_requests, viewer), *request_conditions(f))
    creator = users.alias("creator")
    current = select(conversions).where(visible(conversions, viewer)).subquery("current")
    query = (
        select(
            conversion_requests,
            advertisers.c.name.label("advertiser_name"),
            programs.c.name.label("program_name"),
            partners.c.name.label("partner_name"),
            creator.c.name.label("creator_name"),
            *(col.label(f"current_{col.name}") for col in current.c),
        )
        .join(programs, programs.c.id == c.program_id)
        .join(advertisers, advertisers.c.id == programs.c.advertiser_id)
        .join(partners, partners.c.id == c.partner_id)
        .join(creator, creator.c.id == c.created_by)
        .outerjoin(current, current.c.id == c.conversion_id)
        .where(where)
    )
    async for row in keyset_rows(engine, query, c.id, BATCH):
        yield _request_row(row)


def _request_row(row: Any) -> dict[str, Cell]:
    r = request_from_row(row)
    v = r.requested
    m = row._mapping
    program_currency = r.commission_currency
    rate = applied_rate(r.commission_breakdown)
    values: dict[str, Cell] = {
        "request_id": encode_id("ConversionRequest", r.id),
        "kind": r.kind.value,
        "status": r.status.value,
        "advertiser": m["advertiser_name"],
        "program": m["program_name"],
        "partner": m["partner_name"],
        "conversion_id": encode_id("Conversion", m["current_id"]) if m["current_id"] else None,
        "order_id": v.order_id,
        "conversion_target": v.target,
        "tracking_category": v.category,
        "tracking_time_utc": v.tracking_time,
        "order_value": _amount(v.order_value, v.currency or program_currency),
        "currency": v.currency,
        "requested_status": v.status.value if isinstance(v.status, ConversionStatus) else None,
        "requested_commission": _amount(v.commission, program_currency),
        "device": v.device,
        "requested_conversion_note": v.conversion_note,
        "commission": _amount(r.commission, r.commission_currency),
        "commission_currency": r.commission_currency,
        "commission_model": r.commission_model_name,
        "commission_percentage": _plain(rate.percentage if rate else None),
        "commission_fixed_amount": _amount(rate.fixed_amount if rate else None, program_currency),
        "created_at_utc": r.created_at,
        "created_by": m["creator_name"],
        "decided_at_utc": r.decided_at,
        "conversion_note": r.decision_note,
        "reason": r.decision_reason,
        "failure": r.failure,
        "comment": r.comment,
    }
    for i, name in enumerate(_SUB_IDS):
        values[name] = v.sub_ids[i] if v.sub_ids is not None and i < len(v.sub_ids) else None
    if m["current_id"] is not None:
        currency = m["current_currency"]
        values.update(
            current_order_id=m["current_order_id"],
            current_conversion_target=m["current_target"],
            current_tracking_category=m["current_category"],
            current_tracking_time_utc=m["current_tracking_time"],
            current_order_value=_amount(m["current_order_value"], currency),
            current_currency=currency,
            current_status=m["current_status"],
            current_commission=_amount(m["current_commission"], currency),
            current_device=m["current_device"],
            current_conversion_note=m["current_conversion_note"],
        )
        for name in _SUB_IDS:
            values[f"current_{name}"] = m[f"current_{name}"]
    return values


def _plain(value: Decimal | None) -> Decimal | None:
    """A percentage as written, without the column's padding zeros ("5.0000" → 5)."""
    return None if value is None else without_padding(value)


def _amount(value: Decimal | None, currency: str | None) -> Cell:
    if value is None:
        return None
    return Amount(value, currency) if currency else value


async def _write_requests(
    engine: AsyncEngine, viewer: Viewer, f: RequestFilter, path: Path, fmt: TableFormat
) -> int:
    columns = request_columns(viewer)
    writer = TableWriter(path, columns, fmt)
    try:
        async for values in _request_rows(engine, viewer, f):
            writer.write([values.get(name) for name in columns])
    finally:
        count = writer.close()
    return count
