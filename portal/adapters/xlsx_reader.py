"""The first worksheet of an XLSX workbook, streamed row by row as values, the way openpyxl's
read-only mode (`data_only=False`) reads them: shared strings, inline and rich text as
strings, numbers as int or float, date-formatted numbers as datetime (1900 or 1904 calendar),
booleans, error values as their text (`#N/A`), formulas as `=` + the formula.

The package's parts are found through its relationships (portal.adapters.xlsx_package, the
standard library and openpyxl's public number-format rules); the rows go through the standard
library's C XML parser, which keeps only the current row: memory holds the shared-string table
(as any XLSX reader must) and one row, whatever the number of rows. python-calamine reads
~6× faster but holds the whole sheet as a dense grid — a 5 kB workbook with two far-apart
cells makes it allocate 100 GB and abort the process — and cannot show formulas
(bench/README.md, "Reading workbooks")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any
from xml.etree.ElementTree import Element, iterparse
from zipfile import ZipFile

from openpyxl.utils.datetime import from_excel, from_ISO8601  # type: ignore[import-untyped]

from portal.adapters.xlsx_package import MAIN_NS, DamagedWorkbook, open_part, read_package

_NS = f"{{{MAIN_NS}}}"
_ROW, _CELL, _VALUE, _FORMULA, _INLINE = (f"{_NS}{tag}" for tag in ("row", "c", "v", "f", "is"))
_SHARED_ITEM, _TEXT, _RUN, _PHONETIC = (f"{_NS}{tag}" for tag in ("si", "t", "r", "rPh"))
_SHEET_DATA = f"{_NS}sheetData"
# A row element, in any namespace prefix: its number when that is its first attribute (as
# every spreadsheet program writes it), and whether it is empty (`<row r="7"/>`).
_ROW_TAG = re.compile(rb'<(?:\w+:)?row(?=[\s/>])(?: r="(\d+)")?[^>]*?(/?)>')
# Cell references of three letters or more (the only ones that can lie beyond XFD), where
# `r` is the cell's first attribute; the others are checked when the row is read.
_WIDE_COLUMN = re.compile(rb'<(?:\w+:)?c r="([A-Za-z]{3,})\d')


# Excel's last column is XFD (16,384): a reference beyond it is a damaged (or hostile) file.
MAX_COLUMNS = 16_384
__all__ = ["MAX_COLUMNS", "DamagedWorkbook", "XlsxSheet"]


class XlsxSheet:
    """The first worksheet of the workbook open at `handle` (a binary file, kept open by the
    caller). Raises BadZipFile, KeyError, ValueError or the XML parser's error on a package
    that is not a workbook."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._archive = ZipFile(handle)
        try:
            package = read_package(self._archive)
        except BaseException:
            self._archive.close()
            raise
        self._epoch = package.epoch
        self._dates = package.date_styles
        self._durations = package.duration_styles
        self._sheet_path = package.sheet_path
        self._strings_path = package.strings_path
        self._strings: list[str] | None = None

    @property
    def shared_strings_size(self) -> int:
        """Bytes the shared-string table unpacks to."""
        if self._strings_path is None:
            return 0
        return self._archive.getinfo(self._strings_path).file_size

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(row number, values) of every row that has cells; a value is None where a row
        leaves a cell out."""
        if self._sheet_path is None:
            return
        strings = self._shared_strings()
        with self._open(self._sheet_path) as source:
            container: Element | None = None
            number = 0
            for event, element in iterparse(source, events=("start", "end")):
                if event == "start":
                    if element.tag == _SHEET_DATA:
                        container = element
                    continue
                if element.tag != _ROW:
                    continue
                given = int(element.get("r") or number + 1)
                if given <= number:  # a row number is an idempotency key's part: never twice
                    raise DamagedWorkbook(f"row {given} comes after row {number}")
                number = given
                yield number, self._values(element, strings)
                if container is not None:
                    container.clear()  # this row and the ones before: nothing keeps them

    def count_rows(self, limit: int) -> int:
        """How many rows the sheet has (counted up to `limit`), the header included: its row
        elements that hold cells, counted in the XML without parsing it — ~20× faster than
        reading the rows. A row of cells with formatting but no value counts too. On the way,
        what `rows` would refuse later is refused now (DamagedWorkbook): a document type
        declaration, rows out of order, cells beyond column XFD."""
        if self._sheet_path is None:
            return 0
        count, last, tail = 0, 0, b""
        with self._open(self._sheet_path) as source:
            while count < limit and (chunk := source.read(1 << 20)):
                text = tail + chunk
                # Up to the last complete tag: the rest may be the start of a row element.
                end = text.rfind(b">") + 1
                for number, empty in _ROW_TAG.findall(text, 0, end):
                    if not empty:
                        count += 1
                    if number:
                        if int(number) <= last:
                            raise DamagedWorkbook(f"row {int(number)} comes after row {last}")
                        last = int(number)
                for letters in _WIDE_COLUMN.findall(text, 0, end):
                    _column(letters.decode())
                tail = text[end:]
        return min(count, limit)

    def _values(self, row: Element, strings: list[str]) -> list[Any]:
        values: list[Any] = []
        for cell in row:
            if cell.tag != _CELL:
                continue
            reference = cell.get("r")
            column = _column(reference) if reference else len(values)
            if column > len(values):
                values.extend([None] * (column - len(values)))
            values.append(self._value(cell, strings))
        return values

    def _value(self, cell: Element, strings: list[str]) -> Any:
        raw = formula = inline = None
        for child in cell:  # one pass over the cell's (one or two) children
            tag = child.tag
            if tag == _VALUE:
                raw = child.text
            elif tag == _FORMULA:
                formula = child
            elif tag == _INLINE:
                inline = child
        if formula is not None:
            return "=" + (formula.text or "(shared formula)")
        kind = cell.get("t", "n")
        if kind == "inlineStr":
            return _text(inline) if inline is not None else None
        if not raw:
            return None
        if kind == "s":
            return strings[int(raw)]
        if kind == "n":
            number: int | float = float(raw) if "." in raw or "E" in raw or "e" in raw else int(raw)
            style = cell.get("s")
            if style is not None and int(style) in self._dates:
                try:
                    return from_excel(number, self._epoch, timedelta=int(style) in self._durations)
                except (OverflowError, ValueError):
                    return "#VALUE!"  # a date beyond the calendar: an error value, as openpyxl
            return number
        if kind == "b":
            return bool(int(raw))
        if kind == "d":
            return from_ISO8601(raw)
        return raw  # "str" (a formula's text result), "e" (an error value such as #N/A)

    def _shared_strings(self) -> list[str]:
        if self._strings is None:
            self._strings = []
            if self._strings_path is not None:
                with self._open(self._strings_path) as source:
                    for _, element in iterparse(source):
                        if element.tag == _SHARED_ITEM:
                            self._strings.append(_text(element).replace("x005F_", ""))
                            element.clear()
        return self._strings

    def _open(self, part: str) -> IO[bytes]:
        """A part to parse, once its prolog is known to hold no document type declaration:
        one could define entities that expand into rows the upload never counted."""
        return open_part(self._archive, part)

    def close(self) -> None:
        self._archive.close()


def _text(element: Element) -> str:
    """Plain text of a string item: its own text and its runs' texts, without the phonetic
    hints (as openpyxl's Text.content)."""
    plain, runs = "", []
    for child in element:
        if child.tag == _TEXT:
            plain = child.text or ""
        elif child.tag == _RUN:
            runs.append(child.findtext(_TEXT) or "")
    return plain + "".join(runs) if runs else plain


_COLUMNS: dict[str, int] = {}


def _column(reference: str) -> int:
    """The 0-based column of a cell reference (`C12` → 2)."""
    letters = reference.rstrip("0123456789")
    index = _COLUMNS.get(letters)
    if index is None:
        if not letters.isascii() or not letters.isalpha():
            raise DamagedWorkbook(f"{reference[:20]!r} is not a cell reference")
        if len(letters) > 3:
            raise DamagedWorkbook(f"cell reference {reference[:20]!r} beyond column XFD")
        index = 0
        for letter in letters:
            index = index * 26 + ord(letter.upper()) - 64
        index -= 1
        if not 0 <= index < MAX_COLUMNS:
            raise DamagedWorkbook(f"cell reference {reference[:20]!r} beyond column XFD")
        _COLUMNS[letters] = index  # at most 16,384 entries
    return index
