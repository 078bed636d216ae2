"""A billing run's entries as CSV and XLSX (issue 11, documents), read back with csv and
openpyxl: every value round-trips, money keeps its currency's minor digits, formula-looking text
cannot run, missing bank details are empty cells."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook

from portal.adapters.billing_documents.sheets import (
    RUN_SHEET_HEADER,
    render_run_sheet,
    run_sheet_filename,
    write_run_sheet,
)
from portal.adapters.spreadsheets import TableFormat
from tests.billing_documents import run_rows


def test_csv_round_trips_with_bom_minor_digits_and_neutralised_formulas() -> None:
    body = render_run_sheet(run_rows(), TableFormat.CSV)
    assert body.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert tuple(table[0]) == RUN_SHEET_HEADER
    assert table[0] == {
        "number": "GS-2026-000042",
        "partner_id": "UGFydG5lcjox",
        "partner": "Jürgen Müller Medien",
        "currency": "EUR",
        "net": "10168.95",
        "vat": "1932.10",
        "gross": "12101.05",
        "status": "CONFIRMED",
        "account_holder": "Jürgen Müller",
        "iban": "DE89 3704 0044 0532 0130 00",
        "bic": "COBADEFFXXX",
        "payment_reference": "GS-2026-000042",
    }
    # A partner named like a formula is text with an apostrophe; no BIC is an empty cell.
    assert table[1]["partner"] == '\'=HYPERLINK("http://evil")'
    assert (table[1]["vat"], table[1]["gross"], table[1]["bic"]) == ("0.00", "0.01", "")
    # JPY has no minor unit; a partner without bank details has empty account cells.
    assert (table[2]["net"], table[2]["vat"], table[2]["gross"]) == ("125000", "0", "125000")
    assert (table[2]["account_holder"], table[2]["iban"], table[2]["bic"]) == ("", "", "")
    assert len(table) == 3


def test_xlsx_round_trips_with_numbers_formats_and_text_that_never_runs() -> None:
    body = render_run_sheet(run_rows(), TableFormat.XLSX)
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    rows = list(sheet.iter_rows())
    assert tuple(cell.value for cell in rows[0]) == RUN_SHEET_HEADER
    assert all(cell.font.b for cell in rows[0])
    first = {name: cell for name, cell in zip(RUN_SHEET_HEADER, rows[1], strict=True)}
    assert first["partner"].value == "Jürgen Müller Medien"
    assert Decimal(str(first["gross"].value)) == Decimal("12101.05")
    assert first["gross"].number_format == "0.00"
    assert first["iban"].value == "DE89 3704 0044 0532 0130 00"
    evil = {name: cell for name, cell in zip(RUN_SHEET_HEADER, rows[2], strict=True)}
    assert evil["partner"].value == '=HYPERLINK("http://evil")'
    assert evil["partner"].data_type == "s"
    yen = {name: cell for name, cell in zip(RUN_SHEET_HEADER, rows[3], strict=True)}
    assert yen["gross"].value == 125000
    assert yen["gross"].number_format == "0"
    assert yen["iban"].value is None
    assert len(rows) == 4


def test_a_sheet_streams_to_a_file_and_counts_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "run.csv"
    assert write_run_sheet(path, iter(run_rows() * 50), TableFormat.CSV) == 150
    assert len(path.read_text(encoding="utf-8-sig").splitlines()) == 151
    assert run_sheet_filename("QmlsbGluZ1J1bjox", TableFormat.XLSX) == (
        "billing-run-QmlsbGluZ1J1bjox.xlsx"
    )
