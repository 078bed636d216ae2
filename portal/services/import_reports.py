"""Error reports of an import: the rows that have errors, as the file has them, with the row's
number in the file first (`row`) and its errors last (`errors`: "column: CODE message; …");
in XLSX the faulty cells are also filled red. Fixed, a report can be uploaded again as it is:
an import ignores these two columns.

The file and the recorded errors (ordered by row) are read side by side, so a report takes the
memory of one row, however many rows and errors the file has. (Cell comments would show an
error on the cell itself, but openpyxl keeps every comment in memory until the file is saved.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.request_files import REPORT_COLUMNS, open_table
from portal.adapters.spreadsheets import TableFormat, TableWriter, xlsx_text
from portal.adapters.tables import import_errors, jobs
from portal.config import Settings

FAULTY = PatternFill(start_color="FFFFC7CE", end_color="FFFFC7CE", fill_type="solid")
_ROW, _ERRORS = REPORT_COLUMNS


def report_path(settings: Settings, job_id: int, fmt: TableFormat) -> Path:
    return settings.data_dir / "imports" / f"{job_id}-errors.{fmt.extension}"


async def write_error_reports(engine: AsyncEngine, settings: Settings, job_id: int) -> None:
    async with engine.connect() as conn:
        file_path = await conn.scalar(select(jobs.c.file_path).where(jobs.c.id == job_id))
        source = open_table(Path(file_path))
        header = [h for h in source.header if h not in REPORT_COLUMNS]
        csv_writer = TableWriter(
            report_path(settings, job_id, TableFormat.CSV),
            [_ROW, *header, _ERRORS],
            TableFormat.CSV,
        )
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("errors")
        bold = Font(bold=True)
        sheet.append([_styled(sheet, name, font=bold) for name in [_ROW, *header, _ERRORS]])
        recorded = await conn.stream(
            select(import_errors)
            .where(import_errors.c.job_id == job_id)
            .order_by(import_errors.c.row, import_errors.c.id)
        )
        errors = aiter(recorded)
        pending = await anext(errors, None)
        for number, cells in source.rows():
            if pending is None:
                break
            if pending.row != number:
                continue
            faulty: set[str | None] = set()
            summary: list[str] = []
            while pending is not None and pending.row == number:
                faulty.add(pending.column or None)
                summary.append(f"{pending.column or 'row'}: {pending.code} {pending.message}")
                pending = await anext(errors, None)
            texts = [None if cells.get(h) is None else str(cells.get(h)) for h in header]
            described = "; ".join(summary)
            csv_writer.write([number, *texts, described])
            sheet.append(
                [
                    _styled(sheet, number, fill=FAULTY if None in faulty else None),
                    *(
                        _styled(sheet, text, fill=FAULTY if name in faulty else None)
                        for name, text in zip(header, texts, strict=True)
                    ),
                    _styled(sheet, described[:32_000]),  # a cell holds 32,767 characters
                ]
            )
        await recorded.close()
    csv_writer.close()
    workbook.save(report_path(settings, job_id, TableFormat.XLSX))


def _styled(
    sheet: Any, value: Any, *, font: Font | None = None, fill: PatternFill | None = None
) -> WriteOnlyCell:
    if isinstance(value, str):
        value = xlsx_text(value)
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # text as typed, never a formula (no apostrophe needed)
    if font is not None:
        cell.font = font
    if fill is not None:
        cell.fill = fill
    return cell
