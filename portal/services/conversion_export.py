"""Exporting conversions in the request file format: CHANGE_EXISTING rows that can be edited
and uploaded again as requests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import rows
from portal.adapters.filter_json import filter_from_json
from portal.adapters.keyset import keyset_rows
from portal.adapters.reader import ConversionFilter, conversion_conditions
from portal.adapters.request_files import columns_for
from portal.adapters.spreadsheets import Amount, Cell, TableFormat, TableWriter
from portal.adapters.tables import conversions, partners, programs
from portal.adapters.visibility import visible
from portal.domain.access import Viewer
from portal.global_ids import encode_id

BATCH = 1000


def export_columns(viewer: Viewer) -> list[str]:
    return [c.name for c in columns_for(viewer)]


async def _conversion_rows(
    engine: AsyncEngine, viewer: Viewer, f: ConversionFilter
) -> AsyncIterator[dict[str, Cell]]:
    c = conversions.c
    where = and_(visible(conversions, viewer), *conversion_conditions(f))
    query = (
        select(
            conversions,
            programs.c.name.label("program_name"),
            partners.c.name.label("partner_name"),
        )
        .join(programs, programs.c.id == c.program_id)
        .join(partners, partners.c.id == c.partner_id)
        .where(where)
    )
    async for row in keyset_rows(engine, query, c.id, BATCH):
        conv = rows.conversion(row)
        values: dict[str, Cell] = {
            "request_type": "CHANGE_EXISTING",
            "program": row.program_name,
            "partner": row.partner_name,
            "conversion_id": encode_id("Conversion", conv.id),
            "order_id": conv.order_id,
            "conversion_target": conv.target,
            "tracking_category": conv.category,
            "tracking_time": conv.tracking_time.isoformat(),
            "order_value": Amount(conv.order_value, conv.currency),
            "currency": conv.currency,
            "status": conv.status.value,
            "commission": Amount(conv.commission, conv.currency),
            "device": conv.device,
            "conversion_note": conv.conversion_note,
            "comment": None,
        }
        for i, sub_id in enumerate(conv.sub_ids, start=1):
            values[f"sub_id_{i}"] = sub_id
        yield values


async def write_conversions(
    engine: AsyncEngine, viewer: Viewer, parameters: dict[str, Any], path: Path, fmt: TableFormat
) -> int:
    columns: Sequence[str] = export_columns(viewer)
    writer = TableWriter(path, columns, fmt)
    try:
        async for values in _conversion_rows(
            engine, viewer, filter_from_json(ConversionFilter, parameters)
        ):
            writer.write([values.get(name) for name in columns])
    finally:
        count = writer.close()
    return count
