"""The parts of an XLSX package a reader of its first worksheet needs, found through the
package's own relationships (ECMA-376 Open Packaging Conventions) with the standard library:
the worksheet, the shared strings, the calendar (1900 or 1904) and which cell styles format
numbers as dates or durations (openpyxl's public number-format rules decide that).

Every part is checked before it is parsed (`open_part`): Excel writes UTF-8 parts without a
document type declaration, so a part with one (which could define entities that expand) or
in UTF-16 is refused as damaged."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import datetime
from typing import IO
from xml.etree.ElementTree import fromstring
from zipfile import ZipFile

from openpyxl.styles.numbers import (  # type: ignore[import-untyped]
    builtin_format_code,
    is_date_format,
    is_timedelta_format,
)
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH  # type: ignore[import-untyped]

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_M = f"{{{MAIN_NS}}}"
_PACKAGE_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
# Bytes before the root element (XML declaration, comments) a part may have.
PROLOG_LIMIT = 1 << 16
# Metadata parts (workbook, relationships, styles) are read whole: they are small in every
# workbook a spreadsheet program writes.
METADATA_LIMIT = 32 * 1024 * 1024


class DamagedWorkbook(ValueError):
    """A part of the workbook breaks the rules Excel's own files keep."""


@dataclass(frozen=True, slots=True)
class Package:
    sheet_path: str | None  # the first worksheet (not a chart sheet); None: the book has none
    strings_path: str | None
    epoch: datetime
    date_styles: frozenset[int]
    duration_styles: frozenset[int]


def open_part(archive: ZipFile, part: str) -> IO[bytes]:
    """A part to parse, once its prolog is known to hold no document type declaration."""
    with archive.open(part) as head:
        check_prolog(head.read(PROLOG_LIMIT))
    return archive.open(part)


def check_prolog(head: bytes) -> None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DamagedWorkbook("a UTF-16 part (Excel writes UTF-8)")
    at = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    while True:
        while at < len(head) and head[at] in b" \t\r\n":
            at += 1
        for start, end in ((b"<?", b"?>"), (b"<!--", b"-->")):
            if head.startswith(start, at):
                closing = head.find(end, at)
                if closing < 0:
                    raise DamagedWorkbook("the part's prolog does not end")
                at = closing + len(end)
                break
        else:
            if head.startswith(b"<!", at):
                raise DamagedWorkbook("a document type declaration")
            return


def _xml(archive: ZipFile, part: str):  # type: ignore[no-untyped-def]
    if archive.getinfo(part).file_size > METADATA_LIMIT:
        raise DamagedWorkbook(f"{part} is larger than a spreadsheet program writes it")
    with open_part(archive, part) as source:
        return fromstring(source.read())


def _relationships(archive: ZipFile, owner: str) -> list[tuple[str, str, str]]:
    """(id, type, part) of the relationships of `owner` ("" for the package)."""
    folder, name = posixpath.split(owner)
    rels = posixpath.join(folder, "_rels", f"{name}.rels")
    if rels not in archive.NameToInfo:
        return []
    found = []
    for rel in _xml(archive, rels).iter(_PACKAGE_RELS):
        if rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target") or ""
        part = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
        found.append((rel.get("Id") or "", rel.get("Type") or "", posixpath.normpath(part)))
    return found


def _of_type(relationships: list[tuple[str, str, str]], kind: str) -> str | None:
    return next((part for _, type_, part in relationships if type_.endswith(kind)), None)


def read_package(archive: ZipFile) -> Package:
    """Raises KeyError, ValueError (DamagedWorkbook) or the XML parser's error on a package
    that is not a workbook."""
    workbook_path = _of_type(_relationships(archive, ""), "/officeDocument")
    if workbook_path is None:
        raise DamagedWorkbook("the package has no workbook")
    workbook = _xml(archive, workbook_path)
    rels = _relationships(archive, workbook_path)
    by_id = {rel_id: (type_, part) for rel_id, type_, part in rels}
    properties = workbook.find(f"{_M}workbookPr")
    date1904 = properties is not None and properties.get("date1904") in ("1", "true")
    sheet_path = None
    for sheet in workbook.iter(f"{_M}sheet"):
        type_, part = by_id.get(sheet.get(_R_ID) or "", ("", ""))
        if type_.endswith("/worksheet") and part in archive.NameToInfo:
            sheet_path = part
            break
    strings_path = _of_type(rels, "/sharedStrings")
    dates, durations = _number_styles(archive, _of_type(rels, "/styles"))
    return Package(
        sheet_path=sheet_path,
        strings_path=strings_path if strings_path in archive.NameToInfo else None,
        epoch=MAC_EPOCH if date1904 else WINDOWS_EPOCH,
        date_styles=dates,
        duration_styles=durations,
    )


def _number_styles(archive: ZipFile, styles_path: str | None) -> tuple[frozenset[int], ...]:
    """The cell styles (indexes of cellXfs) whose number format shows a date or a duration."""
    if styles_path is None or styles_path not in archive.NameToInfo:
        return frozenset(), frozenset()
    styles = _xml(archive, styles_path)
    custom = {
        int(f.get("numFmtId") or -1): f.get("formatCode") or ""
        for f in styles.iterfind(f"{_M}numFmts/{_M}numFmt")
    }
    dates, durations = set(), set()
    for index, xf in enumerate(styles.iterfind(f"{_M}cellXfs/{_M}xf")):
        number_format = int(xf.get("numFmtId") or 0)
        code = custom.get(number_format) or builtin_format_code(number_format)
        if code and is_date_format(code):
            dates.add(index)
        if code and is_timedelta_format(code):
            durations.add(index)
    return frozenset(dates), frozenset(durations)
