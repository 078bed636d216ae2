"""Error reports of an import: the file's rows again, with the faulty cells marked — in XLSX
filled red with the error as a cell comment, in CSV with an `errors` column per row."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.request_files import open_table
from portal.adapters.spreadsheets import TableFormat, TableWriter
from portal.adapters.tables import import_errors, jobs
from portal.config import Settings

FAULTY = PatternFill(start_color="FFFFC7CE", end_color="FFFFC7CE", fill_type="solid")


def report_path(settings: Settings, job_id: int, fmt: TableFormat) -> Path:
    return settings.data_dir / "imports" / f"{job_id}-errors.{fmt.extension}"


async def write_error_reports(engine: AsyncEngine, settings: Settings, job_id: int) -> None:
    async with engine.connect() as conn:
        file_path = await conn.scalar(select(jobs.c.file_path).where(jobs.c.id == job_id))
        by_row: dict[int, list[Any]] = defaultdict(list)
        for e in await conn.execute(
            select(import_errors)
            .where(import_errors.c.job_id == job_id)
            .order_by(import_errors.c.row, import_errors.c.id)
        ):
            by_row[e.row].append(e)
    source = open_table(Path(file_path))
    header = list(source.header)
    csv_writer = TableWriter(
        report_path(settings, job_id, TableFormat.CSV), ["row", *header, "errors"], TableFormat.CSV
    )
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("errors")
    bold = Font(bold=True)
    sheet.append([_styled(sheet, name, font=bold) for name in ["row", *header]])
    for number, cells in source.rows():
        errors = by_row.get(number, [])
        texts = [None if cells.get(h) is None else str(cells.get(h)) for h in header]
        csv_writer.write(
            [
                number,
                *texts,
                "; ".join(f"{e.column or 'row'}: {e.code} {e.message}" for e in errors),
            ]
        )
        faulty = defaultdict(list)
        for e in errors:
            faulty[e.column].append(f"{e.code}: {e.message}")
        row = [_styled(sheet, number)]
        for name, text in zip(header, texts, strict=True):
            if name in faulty:
                row.append(_styled(sheet, text, fill=FAULTY, comment="\n".join(faulty[name])))
            else:
                row.append(_styled(sheet, text))
        if None in faulty or "" in faulty:
            row[0] = _styled(
                sheet,
                number,
                fill=FAULTY,
                comment="\n".join(faulty.get(None, []) + faulty.get("", [])),
            )
        sheet.append(row)
    csv_writer.close()
    workbook.save(report_path(settings, job_id, TableFormat.XLSX))


def _styled(
    sheet: Any,
    value: Any,
    *,
    font: Font | None = None,
    fill: PatternFill | None = None,
    comment: str | None = None,
) -> WriteOnlyCell:
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@")):
        value = "'" + value
    cell = WriteOnlyCell(sheet, value=value)
    if font is not None:
        cell.font = font
    if fill is not None:
        cell.fill = fill
    if comment:
        cell.comment = Comment(comment[:2000], "portal")
    return cell
