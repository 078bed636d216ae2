"""The conversion request file format (SPEC §7): columns, reading CSV and XLSX as streams of
rows, and turning cells into typed values with cell-level errors.

CSV: UTF-8 with or without BOM; comma or semicolon (sniffed from the header line); decimal
point, or — in semicolon files — the German decimal comma (`1.234,56`). Dates: ISO 8601, or
`dd.mm.yyyy hh:mm` (and `dd.mm.yyyy`) in the import's time zone. XLSX: the first sheet, read
in read-only mode; formulas are refused (a file states values, it does not compute them)."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError
from zipfile import BadZipFile
from zoneinfo import ZoneInfo

from portal.adapters.spreadsheets import FORMULA_PREFIXES
from portal.adapters.xlsx_reader import XlsxSheet
from portal.domain.access import Role, Viewer
from portal.domain.errors import DomainError, ValidationFailed
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
    Column("partner", False, "Partner id or exact name", for_partners=False),
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


def names_partners(viewer: Viewer) -> bool:
    """The one rule of which files have partner columns (templates, imports, exports,
    downloads): admins' and advertisers' do — in their request files `partner` is required —
    a partner's never do: it raises requests for itself, and sees no other partner."""
    return viewer.role is not Role.PARTNER


def columns_for(viewer: Viewer) -> tuple[Column, ...]:
    """The columns of the viewer's request files (`names_partners`)."""
    if not names_partners(viewer):
        return tuple(c for c in COLUMNS if c.for_partners)
    return tuple(replace(c, required=True) if c.name == "partner" else c for c in COLUMNS)


class FileProblem(DomainError):
    """The file as a whole cannot be read (field: file)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, ("file",))


@dataclass(frozen=True, slots=True)
class CellError:
    """A bad cell (or row, when `column` is empty) — or, with `request_id`, a row's outcome
    that is no error (ALREADY_IMPORTED: the request an earlier upload raised)."""

    row: int
    column: str
    value: str | None
    code: str
    message: str
    request_id: int | None = None


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

    def count_rows(self, limit: int) -> int:
        """The number of rows (at most `limit` + 1: enough to tell the file is over it). For
        a workbook, its rows that hold cells, counted without reading them: an estimate that
        never falls short (a row of formatted empty cells counts)."""
        if self.kind == "xlsx":
            return _xlsx_count(self, limit)
        count = 0
        for _ in self.rows():
            count += 1
            if count > limit:
                break
        return count


# What reading any file can go wrong with (FileProblem codes): every file upload's error enum
# holds these.
FILE_READ_CODES = [
    "FILE_TOO_LARGE",
    "EMPTY_FILE",
    "UNREADABLE_FILE",
    "INVALID_ENCODING",
    "CELL_TOO_LARGE",
    "EXTRA_CELLS",
    "DUPLICATE_COLUMN",
    "UNKNOWN_COLUMN",
    "MISSING_COLUMN",
]


def check_header(header: Sequence[str], known: Iterable[str], required: Iterable[str]) -> None:
    """Missing, unknown and duplicate columns, all reported at once (field: file)."""
    names = [h for h in header if h]
    if not names:
        raise FileProblem("EMPTY_FILE", "the file has no header")
    problems: list[DomainError] = []
    duplicates = sorted(name for name, n in Counter(names).items() if n > 1)
    if duplicates:
        problems.append(
            FileProblem("DUPLICATE_COLUMN", f"columns given twice: {', '.join(duplicates)}")
        )
    known = list(known)
    unknown = sorted(set(names) - set(known))
    if unknown:
        problems.append(
            FileProblem(
                "UNKNOWN_COLUMN",
                f"unknown columns: {', '.join(unknown)} (known: {', '.join(known)})",
            )
        )
    missing = [name for name in required if name not in names]
    if missing:
        problems.append(
            FileProblem("MISSING_COLUMN", f"required columns missing: {', '.join(missing)}")
        )
    if problems:
        raise ValidationFailed(problems)


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


# The shared-string table of a workbook is held in memory while its rows are read: its XML
# may not unpack to more than this (a 50 MiB upload could otherwise unpack to gigabytes).
MAX_SHARED_STRINGS_BYTES = 256 * 1024 * 1024


@contextlib.contextmanager
def _workbook(path: Path) -> Iterator[XlsxSheet]:
    """The first worksheet of the workbook at `path`; FileProblem when it cannot be read."""
    with path.open("rb") as handle:
        try:
            sheet = XlsxSheet(handle)
        except Exception as error:  # openpyxl and zipfile raise assorted errors on broken files
            raise FileProblem(
                "UNREADABLE_FILE",
                f"the file is not a readable XLSX workbook ({type(error).__name__})",
            ) from None
        try:
            if sheet.shared_strings_size > MAX_SHARED_STRINGS_BYTES:
                raise FileProblem(
                    "FILE_TOO_LARGE",
                    f"the workbook's text unpacks to more than {MAX_SHARED_STRINGS_BYTES} bytes",
                )
            yield sheet
        except (
            ParseError,
            BadZipFile,
            zlib.error,
            EOFError,
            KeyError,
            IndexError,
            ValueError,
        ) as error:
            raise FileProblem(
                "UNREADABLE_FILE", f"the workbook is damaged ({type(error).__name__})"
            ) from None
        finally:
            sheet.close()


def _xlsx_header(path: Path) -> tuple[str, ...]:
    with _workbook(path) as sheet:
        for number, values in sheet.rows():
            if number == 1:
                return tuple(_normalise(h) for h in values)
            break
    raise FileProblem("EMPTY_FILE", "the first sheet is empty")


def _xlsx_rows(source: TableSource) -> Iterator[tuple[int, dict[str, Any]]]:
    with _workbook(source.path) as sheet:
        for number, values in sheet.rows():
            if number < 2:
                continue
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            yield number, dict(zip(source.header, values, strict=False))


def _xlsx_count(source: TableSource, limit: int) -> int:
    with _workbook(source.path) as sheet:
        return max(sheet.count_rows(limit + 2) - 1, 0)  # without the header


# -- cells -----------------------------------------------------------------------------------

# ASCII digits only (re.ASCII), as in the API (`PLAIN_DECIMAL`): Python would read "١٠٠".
_GERMAN = re.compile(r"^-?\d{1,3}(\.\d{3})*(,\d+)?$|^-?\d+(,\d+)?$", re.ASCII)
_PLAIN = re.compile(r"-?\d{1,15}(?:\.\d{1,6})?", re.ASCII)
_DOTTED = re.compile(r"^-?\d{1,3}(,\d{3})*(\.\d+)?$|^-?\d+(\.\d+)?$", re.ASCII)
_DE_DATETIME = re.compile(
    r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$", re.ASCII
)


def cell_text(value: Any) -> str | None:
    """A cell as text, stripped, or None when blank. The apostrophe our exports and error
    reports put before text a spreadsheet would take for a formula (`'-5`) is removed: such a
    file comes back with the values it went out with. Formulas are refused, quoted or not."""
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > MAX_CELL_CHARS:
            raise ValueError(f"CELL_TOO_LARGE:a cell holds at most {MAX_CELL_CHARS} characters")
        if "\x00" in value:  # no database stores it in text; a CSV may hold it
            raise ValueError("NUL_CHARACTER:a cell may not contain the NUL character (U+0000)")
        text = value.strip()
        if text.startswith("'") and text[1:2] in NEUTRALIZED:
            text = text[1:]
        if text.startswith("=") and len(text) > 1:  # quoted or not
            raise ValueError("FORMULA_NOT_ALLOWED:cells must hold values, not formulas")
        return text or None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def checked_table(
    path: Path, filename: str | None, columns: Iterable[str], required: Iterable[str]
) -> TableSource:
    """The file opened with its header checked: missing, unknown and duplicate columns are a
    FileProblem before any row is read."""
    source = open_table(path, filename)
    check_header(source.header, columns, sorted(required))
    return source


def row_texts(
    row: int, cells: dict[str, Any], columns: Iterable[str], errors: list[CellError]
) -> dict[str, str | None]:
    """Each column's cell of a row as text (`cell_text`); an unreadable cell is None and a
    CellError of its column."""
    texts: dict[str, str | None] = {}
    for column in columns:
        try:
            texts[column] = cell_text(cells.get(column))
        except ValueError as error:
            code, _, message = str(error).partition(":")
            errors.append(CellError(row, column, None, code, message))
            texts[column] = None
    return texts


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
    """A time cell: ISO 8601 or dd.mm.yyyy hh:mm, in `zone` without an offset; refused when
    its UTC instant lies outside the years 1–9999 (as the API's DateTime refuses it)."""
    moment = _parse_time(value, zone)
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"INVALID_DATETIME:{value!s} lies outside the years 1–9999 in UTC"
        ) from None
    return moment


def _parse_time(value: Any, zone: ZoneInfo) -> datetime:
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
            raise ValueError(f"INVALID_DATETIME:{text!r} is not a real date") from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"INVALID_DATETIME:{text!r} is not ISO 8601 or dd.mm.yyyy hh:mm") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
