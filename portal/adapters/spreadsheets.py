"""Writing tables as CSV or XLSX, streamed row by row (memory does not grow with the rows),
with text safe from formula injection: in CSV, text a spreadsheet would take for a formula gets
an apostrophe in front; in XLSX, text is written as a string cell, which Excel never evaluates,
so it reads as typed. Money cells carry their currency's minor digits."""

from __future__ import annotations

import csv
import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from portal.domain.money import canonical, minor_units


@dataclass(frozen=True, slots=True)
class Amount:
    """A money cell: the amount in its currency's minor unit ("12.50", JPY "1250")."""

    value: Decimal
    currency: str

    @property
    def text(self) -> str:
        return str(canonical(self.value, self.currency))

    @property
    def number_format(self) -> str:
        places = minor_units(self.currency)
        return "0." + "0" * places if places else "0"


Cell = str | int | Decimal | datetime | Amount | None
# A spreadsheet treats text starting with these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class TableFormat(enum.Enum):
    CSV = "CSV"
    XLSX = "XLSX"

    @property
    def extension(self) -> str:
        return self.value.lower()

    @property
    def media_type(self) -> str:
        if self is TableFormat.CSV:
            return "text/csv; charset=utf-8"
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def neutralize(text: str) -> str:
    """Text that a spreadsheet would run as a formula is prefixed with an apostrophe."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | int):
        return str(value)
    if isinstance(value, Amount):
        return value.text
    return neutralize(value)


# What XML 1.0 cannot hold: the C0 controls other than tab, newline and carriage return
# (openpyxl's ILLEGAL_CHARACTERS_RE), the non-characters U+FFFE and U+FFFF, and lone
# surrogates (a JSON "\ud800" decodes to one; UTF-8 cannot even encode it).
_NOT_IN_XML = re.compile(f"{ILLEGAL_CHARACTERS_RE.pattern}|[\ufffe\uffff\ud800-\udfff]")


def xlsx_text(text: str) -> str:
    """Text for a workbook cell, shown as typed: the characters XML cannot hold (which the API
    and CSV files can) become U+FFFD instead of failing the whole file. No apostrophe: a
    formula-looking text is written as a string cell (`xlsx_cell`), which Excel never runs.
    Every workbook the portal writes (exports, import reports, templates) passes its text
    through here."""
    return _NOT_IN_XML.sub("\ufffd", text)


def xlsx_cell(sheet: Any, value: Cell) -> Any:
    """A value for a write-only sheet's row. Text is a string cell, shown as typed: openpyxl
    would store text starting with "=" as a formula, so such text gets a cell of its own, typed
    as a string. A money amount is a number with its currency's minor digits."""
    if isinstance(value, str):
        value = xlsx_text(value)
        if not value.startswith("="):
            return value
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        return cell
    if isinstance(value, Amount):
        cell = WriteOnlyCell(sheet, value=canonical(value.value, value.currency))
        cell.number_format = value.number_format
        return cell
    if isinstance(value, datetime):
        # Excel has no time zones: write UTC, the header says so.
        return value.replace(tzinfo=None)
    return value


class TableWriter:
    """Writes a header, then rows as they come; `close()` finishes the file. XLSX uses
    openpyxl's write-only mode, so neither format holds the rows in memory."""

    def __init__(self, path: Path, header: Sequence[str], fmt: TableFormat) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fmt = fmt
        self.count = 0
        if fmt is TableFormat.CSV:
            self._handle = path.open("w", newline="", encoding="utf-8-sig")
            self._csv = csv.writer(self._handle)
            self._csv.writerow(header)
            return
        self._workbook = Workbook(write_only=True)
        self._sheet = self._workbook.create_sheet("export")
        bold = Font(bold=True)
        cells = []
        for name in header:
            cell = WriteOnlyCell(self._sheet, value=name)
            cell.font = bold
            cells.append(cell)
        self._sheet.append(cells)

    def write(self, row: Sequence[Cell]) -> None:
        if self.fmt is TableFormat.CSV:
            self._csv.writerow([_csv_cell(v) for v in row])
        else:
            self._sheet.append([xlsx_cell(self._sheet, v) for v in row])
        self.count += 1

    def close(self) -> int:
        if self.fmt is TableFormat.CSV:
            self._handle.close()
        else:
            self._workbook.save(self.path)
        return self.count


def write_table(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[Cell]], fmt: TableFormat
) -> int:
    """Writes the header and rows; returns the number of rows written."""
    writer = TableWriter(path, header, fmt)
    for row in rows:
        writer.write(row)
    return writer.close()
