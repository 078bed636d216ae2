"""The downloadable request file template (CSV and XLSX): every column, required ones marked
(XLSX: bold and underlined), enumerations offered as drop-down lists."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.datavalidation import DataValidation

from portal.adapters.request_files import Column, columns_for

TEMPLATE_ROWS = 5000


def template_columns(partner: bool) -> tuple[Column, ...]:
    """Partners' files leave out `partner`; admins and advertisers must name it per row."""
    return tuple(
        replace(c, required=True) if c.name == "partner" else c for c in columns_for(partner)
    )


def template_csv(partner: bool) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([c.name for c in template_columns(partner)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def template_xlsx(partner: bool) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "requests"
    columns = template_columns(partner)
    for index, column in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=index, value=column.name)
        if column.required:
            cell.font = Font(bold=True, underline="single")
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = max(14, len(column.name) + 4)
        if column.allowed:
            validation = DataValidation(
                type="list",
                formula1='"' + ",".join(column.allowed) + '"',
                allow_blank=not column.required,
                showErrorMessage=True,
                errorTitle=column.name,
                error=f"choose one of: {', '.join(column.allowed)}",
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
                ", ".join(column.allowed),
            ]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
