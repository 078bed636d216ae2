"""The streaming XLSX reader reads what openpyxl's read-only mode reads (values, formulas as
text), cell for cell, in workbooks written by openpyxl (inline strings) and by XlsxWriter
(shared strings, rich text, the 1904 calendar — as Excel writes them); it counts rows without
reading them, and memory holds one row."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from openpyxl import Workbook, load_workbook

from portal.adapters.xlsx_reader import MAX_COLUMNS, DamagedWorkbook, XlsxSheet
from tests.import_files import with_sheet_xml


def _trimmed(values: Any) -> list[Any]:
    """Without trailing empty cells (openpyxl pads every row to the widest)."""
    values = list(values)
    while values and values[-1] is None:
        values.pop()
    return values


def _openpyxl_rows(content: bytes) -> list[tuple[int, list[Any]]]:
    sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=False).worksheets[0]
    rows = enumerate(sheet.iter_rows(values_only=True), start=1)
    return [(number, _trimmed(values)) for number, values in rows if _trimmed(values)]


def _our_rows(content: bytes) -> list[tuple[int, list[Any]]]:
    sheet = XlsxSheet(io.BytesIO(content))
    try:
        return [(number, _trimmed(values)) for number, values in sheet.rows() if _trimmed(values)]
    finally:
        sheet.close()


def _by_openpyxl() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["text", "int", "float", "bool", "when", "day", "formula", None, "gap"])
    sheet.append(["Müller & Söhne <b>", 42, 19.99, True, datetime(2026, 6, 1, 10, 30), None])
    sheet.append(["  padded  ", -7, 1e-7, False, None, date(2026, 1, 31), "=A2&B2", None, "x"])
    sheet["E3"] = time(13, 45)
    sheet["F4"] = timedelta(hours=30)
    sheet["F4"].number_format = "[h]:mm:ss"
    sheet["A6"] = "after an empty row"
    sheet["Z7"] = "far right"
    sheet["B8"] = 10**15
    sheet["C8"] = "=SUM(B2:B3)"
    sheet.merge_cells("A9:C9")
    sheet["A9"] = "merged"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _by_xlsxwriter(date_1904: bool = False) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "date_1904": date_1904})
    sheet = book.add_worksheet("requests")
    when = book.add_format({"num_format": "dd.mm.yyyy hh:mm"})
    bold = book.add_format({"bold": True})
    sheet.write_row(0, 0, ["request_type", "program", "order_id", "order_value", "tracking_time"])
    sheet.write_row(1, 0, ["CREATE_NEW", "Nordwind DE", "A-1", 10.5])
    sheet.write_datetime(1, 4, datetime(2026, 6, 1, 10, 0), when)
    sheet.write_row(2, 0, ["CREATE_NEW", "Nordwind DE", "A-2", 7])  # repeated shared strings
    sheet.write_rich_string(3, 0, "rich ", bold, "text", " end")
    sheet.write_boolean(3, 1, False)
    sheet.write_formula(3, 2, "=D2*2", None, 21)
    sheet.write_formula(3, 3, "=NA()", None, "#N/A")
    sheet.write_string(5, 6, "x005F_y")  # openpyxl's escape quirk, taken over
    sheet.write_blank(6, 0, None, bold)  # a formatted empty cell: a row without a value
    sheet.merge_range("A8:C8", "merged", bold)
    book.close()
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [_by_openpyxl(), _by_xlsxwriter(), _by_xlsxwriter(date_1904=True)],
    ids=["openpyxl", "xlsxwriter", "xlsxwriter-1904"],
)
def test_reads_what_openpyxl_reads(content: bytes) -> None:
    ours = _our_rows(content)
    assert ours == _openpyxl_rows(content)
    assert len(ours) >= 6


def test_the_values_themselves() -> None:
    rows = dict(_our_rows(_by_xlsxwriter()))
    assert rows[2] == ["CREATE_NEW", "Nordwind DE", "A-1", 10.5, datetime(2026, 6, 1, 10, 0)]
    assert rows[3] == ["CREATE_NEW", "Nordwind DE", "A-2", 7]
    assert rows[4] == ["rich text end", False, "=D2*2", "=NA()"]
    assert rows[8] == ["merged"]
    dates = dict(_our_rows(_by_xlsxwriter(date_1904=True)))
    assert dates[2][4] == datetime(2026, 6, 1, 10, 0)


def test_counts_the_rows_that_hold_cells(tmp_path: Path) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["header"])
    for n in range(2500):
        sheet.append([f"row {n}", n])
    path = tmp_path / "count.xlsx"
    book.save(path)
    with path.open("rb") as handle:
        workbook = XlsxSheet(handle)
        assert workbook.count_rows(10**6) == 2501
        assert workbook.count_rows(100) == 100  # stops at the limit
        workbook.close()


def test_memory_holds_one_row(tmp_path: Path) -> None:
    def peak(rows: int) -> int:
        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        for n in range(rows):
            sheet.append(["CREATE_NEW", "Nordwind DE", f"O-{n}", 12.5, f"click-{n}"])
        path = tmp_path / f"{rows}.xlsx"
        book.save(path)
        with path.open("rb") as handle:
            workbook = XlsxSheet(handle)
            tracemalloc.start()
            for _ in workbook.rows():
                pass
            top = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            workbook.close()
        return top

    small, large = peak(2_000), peak(40_000)
    assert large < small * 1.5 + 200_000, (small, large)


def _small_workbook() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["request_type", "order_id"])
    for n in range(3):
        sheet.append(["CREATE_NEW", f"O-{n}"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _entities(xml: bytes) -> bytes:
    """Rows that the XML's entities would multiply: a DTD ahead of the worksheet."""
    row = '<row r="9"><c r="A9" t="inlineStr"><is><t>CREATE_NEW</t></is></c></row>'
    declaration = f'<!DOCTYPE worksheet [<!ENTITY rows "{row}">]>'.encode()
    body = xml.split(b"?>", 1)[-1] if xml.startswith(b"<?xml") else xml
    return (
        b'<?xml version="1.0"?>'
        + declaration
        + body.replace(b"</sheetData>", b"&rows;</sheetData>")
    )


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_entities, "document type declaration"),
        (lambda xml: xml.replace(b'r="B3"', b'r="ZZZZZ3"'), "beyond column XFD"),
        (lambda xml: xml.replace(b'r="B3"', b'r="XFE3"'), "beyond column XFD"),
        (lambda xml: xml.replace(b'<row r="3"', b'<row r="2"'), "comes after row"),
        (lambda xml: b"\xff\xfe" + xml.decode().encode("utf-16-le"), "UTF-16"),
    ],
    ids=["entities", "column-zzzzz", "column-xfe", "rows-out-of-order", "utf-16"],
)
def test_what_excel_never_writes_is_refused_when_counted_and_when_read(
    edit: Any, reason: str
) -> None:
    content = with_sheet_xml(_small_workbook(), edit)
    for read in (lambda s: s.count_rows(100), lambda s: list(s.rows())):
        sheet = XlsxSheet(io.BytesIO(content))
        with pytest.raises(DamagedWorkbook, match=reason):
            read(sheet)
        sheet.close()


def test_the_last_column_is_xfd() -> None:
    content = with_sheet_xml(_small_workbook(), lambda xml: xml.replace(b'r="B3"', b'r="XFD3"'))
    rows = dict(_our_rows(content))
    assert len(rows[3]) == MAX_COLUMNS and rows[3][-1] == "O-1"


def _with_part(content: bytes, part: str, edit: Any) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(content))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            target.writestr(item, edit(data) if item.filename == part else data)
    return buffer.getvalue()


@pytest.mark.parametrize("part", ["xl/workbook.xml", "xl/styles.xml", "xl/_rels/workbook.xml.rels"])
def test_a_declaration_in_a_part_of_the_package_is_refused(part: str) -> None:
    """The package's own parts are read with the same checks as the worksheet."""
    content = _with_part(
        _small_workbook(),
        part,
        lambda xml: (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]>' + xml.split(b"?>", 1)[-1]
        ),
    )
    with pytest.raises(DamagedWorkbook, match="document type declaration"):
        XlsxSheet(io.BytesIO(content))


def test_far_apart_cells_cost_no_memory() -> None:
    """The workbook that made python-calamine allocate a dense grid (100 GB, then abort): one
    cell far down and far right. Read as it is: two rows."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["request_type", "program"])
    sheet.write(199_999, 15_999, "x")
    book.close()
    workbook = XlsxSheet(io.BytesIO(buffer.getvalue()))
    tracemalloc.start()
    rows = [(number, len(values)) for number, values in workbook.rows()]
    top = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    workbook.close()
    assert rows == [(1, 2), (200_000, 16_000)]
    assert top < 5_000_000  # the one wide row, not a grid of 3.2 billion cells
