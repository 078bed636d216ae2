"""The request file format: numbers, times, cells, and reading CSV/XLSX files (SPEC §7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from portal.adapters.request_files import (
    MAX_CELL_CHARS,
    FileProblem,
    cell_text,
    open_table,
    parse_amount,
    parse_time,
)
from portal.adapters.spreadsheets import neutralize
from tests.import_files import csv_bytes, xlsx_bytes

BERLIN = ZoneInfo("Europe/Berlin")


def _code(error: ValueError) -> str:
    return str(error).partition(":")[0]


# -- amounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "german", "expected"),
    [
        ("1234.56", False, "1234.56"),
        ("1,234.56", False, "1234.56"),
        ("1,234,567.5", False, "1234567.5"),
        ("-5", False, "-5"),
        ("0.5", False, "0.5"),
        (" 80 ", False, "80"),
        ("1,500", False, "1500"),  # a thousands separator, never a decimal comma here
        ("1.234,56", True, "1234.56"),
        ("1234,56", True, "1234.56"),
        ("1.234.567,5", True, "1234567.5"),
        ("-5,5", True, "-5.5"),
        ("1 234,56", True, "1234.56"),
        ("1\u00a0234,56", True, "1234.56"),
        ("1.234", True, "1234"),  # German thousands: ambiguous, read as a German file means it
        ("12.5", True, "12.5"),  # no German reading: the decimal point
        ("1,234.56", True, "1234.56"),
        ("999999999999999.999999", False, "999999999999999.999999"),  # the largest accepted
        ("0001.5", False, "1.5"),
    ],
)
def test_parse_amount(text: str, german: bool, expected: str) -> None:
    assert parse_amount(text, german) == Decimal(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, "5"),
        (1234.56, "1234.56"),
        (0.1, "0.1"),
        (80.0, "80"),
        (1e6, "1000000"),
        (19.99 * 3, "59.97"),  # a pasted computed value: what Excel shows
        (0.1 + 0.2, "0.3"),
    ],
)
def test_parse_amount_of_spreadsheet_numbers(value: float, expected: str) -> None:
    assert parse_amount(value, False) == Decimal(expected) == parse_amount(value, True)


@pytest.mark.parametrize(
    ("text", "german"),
    [
        ("abc", False),
        ("", False),
        ("1,5", False),  # a decimal comma in a comma file is ambiguous: refused, not 15
        ("1.2.3", False),
        ("1,23,456", False),
        ("12e3", False),
        ("--5", False),
        ("5-", False),
        ("1.234,5.6", True),
        ("1,2,3", True),
        ("EUR 5", True),
        ("5 €", True),
        ("1000000000000000", False),  # 16 integer digits
        ("1.1234567", False),  # 7 decimal places
        ("\u0661\u0660\u0660", False),  # Arabic-Indic digits: ASCII ones only, as in the API
        ("\uff11\uff10,5", True),  # full-width digits
    ],
)
def test_parse_amount_refuses(text: str, german: bool) -> None:
    with pytest.raises(ValueError) as raised:
        parse_amount(text, german)
    assert _code(raised.value) == "INVALID_NUMBER"


@pytest.mark.parametrize(
    "value", [True, False, float("nan"), float("inf"), 1e16, 1e-7, 10**15, -(10**20)]
)
def test_parse_amount_refuses_non_numbers(value: object) -> None:
    with pytest.raises(ValueError) as raised:
        parse_amount(value, False)
    assert _code(raised.value) == "INVALID_NUMBER"


# -- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "zone", "utc"),
    [
        ("01.06.2026 10:00", BERLIN, datetime(2026, 6, 1, 8, 0)),
        ("1.6.2026 10:00", BERLIN, datetime(2026, 6, 1, 8, 0)),
        ("15.01.2026 10:00", BERLIN, datetime(2026, 1, 15, 9, 0)),
        ("15.01.2026 10:00:30", BERLIN, datetime(2026, 1, 15, 9, 0, 30)),
        ("15.01.2026", BERLIN, datetime(2026, 1, 14, 23, 0)),
        ("29.02.2028 12:00", ZoneInfo("UTC"), datetime(2028, 2, 29, 12, 0)),
        ("01.06.2026 10:00", ZoneInfo("Asia/Tokyo"), datetime(2026, 6, 1, 1, 0)),
        ("2026-06-01T10:00:00Z", BERLIN, datetime(2026, 6, 1, 10, 0)),
        ("2026-06-01T10:00:00+02:00", ZoneInfo("UTC"), datetime(2026, 6, 1, 8, 0)),
        ("2026-06-01T10:00:00.250-05:00", BERLIN, datetime(2026, 6, 1, 15, 0, 0, 250_000)),
        ("2026-06-01T10:00", BERLIN, datetime(2026, 6, 1, 8, 0)),
        ("2026-06-01 10:00:00", BERLIN, datetime(2026, 6, 1, 8, 0)),
        ("2026-06-01", BERLIN, datetime(2026, 5, 31, 22, 0)),
        (" 01.06.2026 10:00 ", BERLIN, datetime(2026, 6, 1, 8, 0)),
    ],
)
def test_parse_time(text: str, zone: ZoneInfo, utc: datetime) -> None:
    parsed = parse_time(text, zone)
    assert parsed.tzinfo is not None
    assert parsed.astimezone(UTC).replace(tzinfo=None) == utc


def test_parse_time_both_formats_give_the_same_instant() -> None:
    assert parse_time("01.06.2026 10:00", BERLIN) == parse_time("2026-06-01T10:00:00+02:00", BERLIN)
    assert parse_time("15.01.2026 10:00", BERLIN) == parse_time("2026-01-15T10:00:00+01:00", BERLIN)


def test_parse_time_of_spreadsheet_dates() -> None:
    assert parse_time(datetime(2026, 6, 1, 10), BERLIN) == datetime(2026, 6, 1, 8, tzinfo=UTC)
    aware = datetime(2026, 6, 1, 10, tzinfo=timezone(timedelta(hours=-3)))
    assert parse_time(aware, BERLIN) == aware


@pytest.mark.parametrize(
    "text",
    [
        "31.02.2026 10:00",
        "29.02.2026",
        "32.01.2026",
        "01.13.2026 10:00",
        "01.06.2026 25:00",
        "01.06.2026 10:60",
        "2026-02-31T10:00:00Z",
        "2026-13-01",
        "01/06/2026 10:00",
        "yesterday",
        "",
        "01.06.26 10:00",
        # no UTC instant in the years 1–9999 (converting it raised OverflowError)
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "01.01.0001 00:30",  # Berlin is ahead of UTC
    ],
)
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_time(text, BERLIN)
    assert _code(raised.value) == "INVALID_DATETIME"


# -- cells -----------------------------------------------------------------------------------


def test_cell_text() -> None:
    assert cell_text(None) is None
    assert cell_text("  F-1 ") == "F-1"
    assert cell_text("   ") is None
    assert cell_text("") is None
    assert cell_text(5) == "5"
    assert cell_text(datetime(2026, 6, 1, 10)) == "2026-06-01T10:00:00"
    assert cell_text("=") == "="
    assert cell_text("x" * MAX_CELL_CHARS) == "x" * MAX_CELL_CHARS


@pytest.mark.parametrize("text", ["-5", "+49 30 1234", "@home", "-", "=", "plain"])
def test_cell_text_takes_back_what_exports_neutralise(text: str) -> None:
    """An exported cell comes back as it went out (the apostrophe that keeps a spreadsheet
    from running it is not part of the value); other apostrophes stay."""
    assert cell_text(neutralize(text)) == text
    assert cell_text(" " + neutralize(text) + " ") == text
    assert cell_text("'quoted'") == "'quoted'"
    assert cell_text("'") == "'"


@pytest.mark.parametrize("formula", ["'=1+2", " =SUM(A1)", '\'=HYPERLINK("http://x","y")'])
def test_cell_text_refuses_quoted_and_indented_formulas(formula: str) -> None:
    with pytest.raises(ValueError) as raised:
        cell_text(formula)
    assert _code(raised.value) == "FORMULA_NOT_ALLOWED"


@pytest.mark.parametrize("formula", ["=1+2", "=SUM(A1:A3)", "=A1", '="text"'])
def test_cell_text_refuses_formulas(formula: str) -> None:
    with pytest.raises(ValueError) as raised:
        cell_text(formula)
    assert _code(raised.value) == "FORMULA_NOT_ALLOWED"


def test_cell_text_refuses_huge_cells() -> None:
    with pytest.raises(ValueError) as raised:
        cell_text("x" * (MAX_CELL_CHARS + 1))
    assert _code(raised.value) == "CELL_TOO_LARGE"


# -- files -----------------------------------------------------------------------------------


def _write(tmp_path: Path, content: bytes, name: str = "upload") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("content", "delimiter"),
    [
        (b"request_type,program,order_id\nCREATE_NEW,P,1\n", ","),
        (b"request_type;program;order_id\nCREATE_NEW;P;1\n", ";"),
        (b"\xef\xbb\xbfREQUEST_TYPE ; Program;ORDER_ID\r\nCREATE_NEW;P;1\r\n", ";"),
        (b'"request_type","program","order_id"\r\n"CREATE_NEW","P, Q","1"\r\n', ","),
        # A comma inside the German file's header does not outvote the semicolons.
        (b'request_type;"program, name";order_id\nCREATE_NEW;P;1\n', ";"),
    ],
)
def test_open_table_sniffs_the_delimiter(tmp_path: Path, content: bytes, delimiter: str) -> None:
    source = open_table(_write(tmp_path, content), "r.csv")
    assert (source.kind, source.delimiter) == ("csv", delimiter)
    assert source.german_decimals is (delimiter == ";")
    assert source.header[0] == "request_type" and source.header[2] == "order_id"
    rows = list(source.rows())
    assert [number for number, _ in rows] == [2]
    assert rows[0][1]["order_id"] == "1"


def test_csv_rows_keep_their_numbers(tmp_path: Path) -> None:
    content = csv_bytes(
        ["order_id", "comment"],
        [["1", "a"], ["", ""], ["3", "two\nlines"], ["4", "x"]],
        newline="\r\n",
    )
    rows = list(open_table(_write(tmp_path, content), "r.csv").rows())
    assert [(n, r["order_id"]) for n, r in rows] == [(2, "1"), (4, "3"), (5, "4")]
    assert rows[1][1]["comment"] == "two\nlines"


def test_xlsx_is_recognised_by_its_content(tmp_path: Path) -> None:
    content = xlsx_bytes([" Order_ID", "ORDER_VALUE"], [["1", 5.5], [None, None], ["3", 7]])
    source = open_table(_write(tmp_path, content, "upload.bin"), "whatever.csv")
    assert source.kind == "xlsx" and source.header == ("order_id", "order_value")
    assert [(n, r["order_id"], r["order_value"]) for n, r in source.rows()] == [
        (2, "1", 5.5),
        (4, "3", 7),
    ]


@pytest.mark.parametrize(
    ("content", "name", "code"),
    [
        (b"", "r.csv", "EMPTY_FILE"),
        (b"\n\n", "r.csv", "EMPTY_FILE"),
        (b"order_id\n1\n", "r.xlsx", "UNREADABLE_FILE"),
        (b"PK\x03\x04not a zip at all", "r.xlsx", "UNREADABLE_FILE"),
        (b"order_id\x00,x\n", "r.csv", "UNREADABLE_FILE"),
        ("stra\u00dfe;order_id\n".encode("latin-1"), "r.csv", "INVALID_ENCODING"),
        ("straße;order_id\n".encode("utf-16"), "r.csv", "UNREADABLE_FILE"),
        (b"order_id," + b"x" * 50_000 + b"\n1\n", "r.csv", "CELL_TOO_LARGE"),
        (b"order_id," + b"x" * (MAX_CELL_CHARS + 10) + b"\n1\n", "r.csv", "CELL_TOO_LARGE"),
    ],
)
def test_open_table_refuses(tmp_path: Path, content: bytes, name: str, code: str) -> None:
    with pytest.raises(FileProblem) as raised:
        open_table(_write(tmp_path, content), name)
    assert raised.value.code == code
    assert raised.value.field == ("file",)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("order_id;name\n1;M\u00fcller\n".encode("latin-1"), "INVALID_ENCODING"),
        (b"order_id;name\n1;ok\n2;" + "\u00e9".encode("cp1252") + b"\n", "INVALID_ENCODING"),
        (b"order_id,name\n1," + b"x" * (MAX_CELL_CHARS + 2) + b"\n", "CELL_TOO_LARGE"),
        (b"order_id,name\n1,a,b\n", "EXTRA_CELLS"),
    ],
)
def test_reading_rows_refuses(tmp_path: Path, content: bytes, code: str) -> None:
    source = open_table(_write(tmp_path, content), "r.csv")
    with pytest.raises(FileProblem) as raised:
        list(source.rows())
    assert raised.value.code == code


def test_utf8_with_umlauts_reads(tmp_path: Path) -> None:
    content = "order_id;comment\n1;Müller zahlt 1.234,56 €\n".encode()
    rows = list(open_table(_write(tmp_path, content), "r.csv").rows())
    assert rows == [(2, {"order_id": "1", "comment": "Müller zahlt 1.234,56 €"})]
