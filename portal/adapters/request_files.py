"""The conversion request file format (SPEC §7): columns, reading CSV and XLSX as streams of
rows, and turning cells into typed values with cell-level errors.

CSV: UTF-8 with or without BOM; comma or semicolon (sniffed from the header line); decimal
point, or — in semicolon files — the German decimal comma (`1.234,56`). Dates: ISO 8601, or
`dd.mm.yyyy hh:mm` (and `dd.mm.yyyy`) in the import's time zone. XLSX: the first sheet, read
in read-only mode; formulas are refused (a file states values, it does not compute them)."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from portal.adapters.spreadsheets import FORMULA_PREFIXES
from portal.domain.errors import DomainError
from portal.domain.money import parse_decimal

MAX_CELL_CHARS = 10_000
# What text may start with after the apostrophe that keeps it from being a formula.
NEUTRALIZED = frozenset(FORMULA_PREFIXES)
csv.field_size_limit(MAX_CELL_CHARS + 1)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    required: bool
    description: str
    allowed: tuple[str, ...] = ()
    for_partners: bool = True


COLUMNS: tuple[Column, ...] = (
    Column(
        "request_type",
        True,
        "CREATE_NEW (a sale tracking missed) or CHANGE_EXISTING",
        ("CREATE_NEW", "CHANGE_EXISTING"),
    ),
    Column("program", True, "Program id or exact program name"),
    Column(
        "partner",
        False,
        "Partner id or exact name (admins and advertisers: required)",
        for_partners=False,
    ),
    Column(
        "conversion_id",
        False,
        "CHANGE_EXISTING: the conversion's id (as exported); else found by order id",
    ),
    Column("order_id", True, "The shop's order id"),
    Column("conversion_target", False, "Target key, e.g. SALE_NEW_CUSTOMER (CREATE_NEW: required)"),
    Column("tracking_category", False, "Category key (default `default`)"),
    Column("tracking_time", False, "ISO 8601 or dd.mm.yyyy hh:mm (CREATE_NEW: required)"),
    Column(
        "order_value", False, "Net order value, e.g. 1234.56 or 1.234,56 (CREATE_NEW: required)"
    ),
    Column("currency", False, "ISO 4217 code of order_value (default: the program's)"),
    Column("status", False, "Requested conversion status", ("OPEN", "CONFIRMED", "REJECTED")),
    Column("commission", False, "Requested explicit commission"),
    *(Column(f"sub_id_{i}", False, f"Sub ID {i}") for i in range(1, 7)),
    Column("device", False, "Device class", ("DESKTOP", "MOBILE", "TABLET", "OTHER")),
    Column("conversion_note", False, "Conversion note code, e.g. RETURNED (needed for REJECTED)"),
    Column("comment", False, "Why the request is raised"),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
# The columns an error report adds (the row's number in the file, its errors): a fixed report
# is uploaded again as it is, and these are ignored.
REPORT_COLUMNS = ("row", "errors")


def columns_for(partner_file: bool) -> tuple[Column, ...]:
    return tuple(c for c in COLUMNS if c.for_partners or not partner_file)


class FileProblem(DomainError):
    """The file as a whole cannot be read (field: file)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, ("file",))


@dataclass(frozen=True, slots=True)
class CellError:
    row: int
    column: str
    value: str | None
    code: str
    message: str


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TableSource:
    """Rows of a file as text cells keyed by normalised header, with their 1-based row number
    (the header is row 1)."""

    path: Path
    kind: str  # "csv" | "xlsx"
    header: tuple[str, ...]
    delimiter: str = ","

    @property
    def german_decimals(self) -> bool:
        return self.delimiter == ";"

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        if self.kind == "csv":
            yield from _csv_rows(self)
        else:
            yield from _xlsx_rows(self)


def sniff_kind(path: Path) -> str:
    with path.open("rb") as handle:
        start = handle.read(4)
    if start.startswith(b"PK\x03\x04"):
        return "xlsx"
    return "csv"


def open_table(path: Path, filename: str | None = None) -> TableSource:
    """Reads just the header; raises FileProblem when the file is empty or unreadable."""
    if path.stat().st_size == 0:
        raise FileProblem("EMPTY_FILE", "the file is empty")
    kind = sniff_kind(path)
    if kind == "csv" and (filename or "").lower().endswith((".xlsx", ".xlsm", ".xls")):
        raise FileProblem(
            "UNREADABLE_FILE", f"{filename} is named like a workbook but is not an XLSX file"
        )
    if kind == "xlsx":
        header = _xlsx_header(path)
        return TableSource(path, "xlsx", header)
    first_line = _first_csv_line(path)
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        header = tuple(next(csv.reader([first_line], delimiter=delimiter)))
    except csv.Error as error:
        raise _csv_problem(error, 1) from None
    return TableSource(path, "csv", tuple(_normalise(h) for h in header), delimiter)


def _normalise(header: Any) -> str:
    return str(header if header is not None else "").strip().lower()


def _first_csv_line(path: Path) -> str:
    limit = MAX_CELL_CHARS * 4
    with path.open("rb") as handle:
        raw = handle.readline(limit)
    if len(raw) >= limit and not raw.endswith(b"\n"):
        raise FileProblem("CELL_TOO_LARGE", f"the header line exceeds {limit} bytes")
    if b"\x00" in raw:
        raise FileProblem("UNREADABLE_FILE", "the file is neither CSV text nor an XLSX workbook")
    try:
        line = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileProblem(
            "INVALID_ENCODING",
            f"the file is not UTF-8 (byte 0x{raw[error.start]:02x} in line 1); save it as UTF-8",
        ) from None
    if not line.strip():
        raise FileProblem("EMPTY_FILE", "the file has no header line")
    return line.rstrip("\r\n")


def _csv_rows(source: TableSource) -> Iterator[tuple[int, dict[str, Any]]]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    with source.path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, delimiter=source.delimiter)
        line = 1
        try:
            next(reader)
            for cells in reader:
                line += 1
                if not "".join(cells).strip():
                    continue  # a blank line
                if len(cells) > len(source.header):
                    extra = [c for c in cells[len(source.header) :] if c.strip()]
                    if extra:
                        raise FileProblem(
                            "EXTRA_CELLS", f"line {reader.line_num} has more cells than the header"
                        )
                yield line, dict(zip(source.header, cells, strict=False))
        except UnicodeDecodeError as error:
            raise FileProblem(
                "INVALID_ENCODING",
                f"the file is not UTF-8 (near line {line + 1}: {error.reason}); save it as UTF-8",
            ) from None
        except csv.Error as error:
            raise _csv_problem(error, reader.line_num) from None
    del decoder


def _csv_problem(error: csv.Error, line: int) -> FileProblem:
    if "field larger" in str(error):
        return FileProblem(
            "CELL_TOO_LARGE", f"a cell near line {line} exceeds {MAX_CELL_CHARS} characters"
        )
    return FileProblem("UNREADABLE_FILE", f"line {line}: {error}")


class _Workbook:
    """An openpyxl read-only workbook over an open file handle: openpyxl judges a path by its
    extension, and an upload is stored under a name of our own."""

    def __init__(self, path: Path) -> None:
        from openpyxl import load_workbook

        self._handle = path.open("rb")
        try:
            self.book = load_workbook(self._handle, read_only=True, data_only=False)
        except Exception as error:  # openpyxl raises assorted errors on broken workbooks
            self._handle.close()
            raise FileProblem(
                "UNREADABLE_FILE",
                f"the file is not a readable XLSX workbook ({type(error).__name__})",
            ) from None

    @property
    def worksheets(self) -> Any:
        return self.book.worksheets

    def close(self) -> None:
        self.book.close()
        self._handle.close()


def _load_workbook(path: Path) -> _Workbook:
    return _Workbook(path)


def _xlsx_header(path: Path) -> tuple[str, ...]:
    workbook = _load_workbook(path)
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(min_row=1, max_row=1, values_only=True):
            return tuple(_normalise(h) for h in row)
        raise FileProblem("EMPTY_FILE", "the first sheet is empty")
    finally:
        workbook.close()


def _xlsx_rows(source: TableSource) -> Iterator[tuple[int, dict[str, Any]]]:
    workbook = _load_workbook(source.path)
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(min_row=2, values_only=True), start=2):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            yield number, dict(zip(source.header, values, strict=False))
    finally:
        workbook.close()


# -- cells -----------------------------------------------------------------------------------

_GERMAN = re.compile(r"^-?\d{1,3}(\.\d{3})*(,\d+)?$|^-?\d+(,\d+)?$")
_PLAIN = re.compile(r"-?\d{1,15}(?:\.\d{1,6})?")
_DOTTED = re.compile(r"^-?\d{1,3}(,\d{3})*(\.\d+)?$|^-?\d+(\.\d+)?$")
_DE_DATETIME = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def cell_text(value: Any) -> str | None:
    """A cell as text, or None when blank. Formulas are refused. The apostrophe our exports and
    error reports put before text a spreadsheet would take for a formula (`'-5`) is removed:
    such a file comes back with the values it went out with."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.startswith("=") and len(value) > 1:
            raise ValueError("FORMULA_NOT_ALLOWED:cells must hold values, not formulas")
        if len(value) > MAX_CELL_CHARS:
            raise ValueError(f"CELL_TOO_LARGE:a cell holds at most {MAX_CELL_CHARS} characters")
        stripped = value.strip()
        if stripped.startswith("'") and stripped[1:2] in NEUTRALIZED:
            stripped = stripped[1:]
        return stripped or None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def parse_amount(value: Any, german: bool) -> Decimal:
    if type(value) is str and _PLAIN.fullmatch(value) and (not german or "." not in value):
        return Decimal(value)  # the common case, within parse_decimal's bounds by its pattern
    if isinstance(value, bool):
        raise ValueError("INVALID_NUMBER:not a number")
    if isinstance(value, int):
        try:
            return parse_decimal(value)
        except ValueError as error:
            raise ValueError(f"INVALID_NUMBER:{error}") from None
    if isinstance(value, float):
        # XLSX stores numbers as binary floats; Excel shows (and keeps) 15 significant digits:
        # a pasted 59.970000000000006 is the 59.97 the user sees.
        try:
            return parse_decimal(format(value, ".15g"))
        except (ValueError, InvalidOperation) as error:
            raise ValueError(f"INVALID_NUMBER:{error}") from None
    text = str(value).strip().replace(" ", "").replace("\u00a0", "")
    if german and _GERMAN.match(text):
        text = text.replace(".", "").replace(",", ".")
    elif _DOTTED.match(text):
        text = text.replace(",", "")
    else:
        raise ValueError(f"INVALID_NUMBER:{value!r} is not a number like 1234.56 or 1.234,56")
    try:
        return parse_decimal(text)
    except (ValueError, InvalidOperation) as error:
        raise ValueError(f"INVALID_NUMBER:{error}") from None


def parse_time(value: Any, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    text = str(value).strip()
    match = _DE_DATETIME.match(text) if "." in text[:3] else None
    if match:
        day, month, year, hour, minute, second = match.groups()
        try:
            return datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                tzinfo=zone,
            )
        except ValueError:
            raise ValueError(f"INVALID_TIME:{text!r} is not a real date") from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"INVALID_TIME:{text!r} is not ISO 8601 or dd.mm.yyyy hh:mm") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
