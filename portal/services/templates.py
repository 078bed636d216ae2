"""The downloadable request file template (CSV and XLSX), built for its viewer: every column
of the viewer's files, required ones marked (XLSX: bold and underlined), and the values a cell
may hold offered as drop-down lists — the fixed enumerations and the viewer's own programs,
conversion targets, tracking categories and conversion notes, and the currencies."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.reader import Reader
from portal.adapters.request_files import Column, columns_for
from portal.adapters.spreadsheets import xlsx_text
from portal.domain.access import Viewer
from portal.domain.money import MINOR_UNITS

TEMPLATE_ROWS = 5000
LISTS_SHEET = "lists"


async def template_columns(engine: AsyncEngine, viewer: Viewer) -> tuple[Column, ...]:
    """The viewer's columns (`columns_for`), each with the values its cells may hold."""
    choices = {
        **await Reader(engine, viewer).file_vocabulary(),
        "currency": sorted(MINOR_UNITS),
    }
    return tuple(
        replace(c, allowed=tuple(choices[c.name])) if c.name in choices else c
        for c in columns_for(viewer)
    )


def _for_workbook(column: Column) -> Column:
    """The column with the text a workbook can hold (`xlsx_text`): a program named with a
    control character must not break the template."""
    return replace(
        column,
        description=xlsx_text(column.description),
        allowed=tuple(xlsx_text(value) for value in column.allowed),
    )


def template_csv(columns: tuple[Column, ...]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([c.name for c in columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def template_xlsx(columns: tuple[Column, ...], title: str = "requests") -> bytes:
    columns = tuple(_for_workbook(c) for c in columns)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    # The choices live on a hidden sheet: a list given inline holds at most 255 characters.
    lists = workbook.create_sheet(LISTS_SHEET)
    lists.sheet_state = "hidden"
    listed = 0
    for index, column in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=index, value=column.name)
        if column.required:
            cell.font = Font(bold=True, underline="single")
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = max(14, len(column.name) + 4)
        if not column.allowed:
            continue
        listed += 1
        source = get_column_letter(listed)
        lists.cell(row=1, column=listed, value=column.name)
        for row, value in enumerate(column.allowed, start=2):
            lists.cell(row=row, column=listed, value=value).data_type = "s"
        last = len(column.allowed) + 1
        validation = DataValidation(
            type="list",
            formula1=f"{LISTS_SHEET}!${source}$2:${source}${last}",
            allow_blank=not column.required,
            showErrorMessage=True,
            errorTitle=column.name,
            error=f"choose one of the values of the {column.name} list",
        )
        validation.add(f"{letter}2:{letter}{TEMPLATE_ROWS}")
        sheet.add_data_validation(validation)
    notes = workbook.create_sheet("columns")
    notes.append(["column", "required", "description", "allowed values"])
    for column in columns:
        notes.append(
            [
                column.name,
                "yes" if column.required else "no",
                column.description,
                ", ".join(column.allowed)[:32_000],
            ]
        )
        for cell in notes[notes.max_row]:
            cell.data_type = "s"  # text as typed: a program named "=1+1" is no formula
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
