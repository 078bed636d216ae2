"""CSV and XLSX of a billing run's payout entries, with the project's table writer
(`portal/adapters/spreadsheets.py`): UTF-8 CSV with a BOM, money with its currency's minor digits,
text a spreadsheet would run as a formula neutralised (an apostrophe in CSV, a string cell in
XLSX). Bank details are written only as the rows carry them: the caller leaves `account` empty
for a viewer who may not see them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from portal.adapters.spreadsheets import Amount, Cell, TableFormat, write_table
from portal.domain.billing.document import RunSheetRow

RUN_SHEET_HEADER = (
    "number",
    "partner_id",
    "partner",
    "currency",
    "net",
    "vat",
    "gross",
    "status",
    "account_holder",
    "iban",
    "bic",
    "payment_reference",
)


def run_sheet_row(row: RunSheetRow) -> list[Cell]:
    account = row.account
    return [
        row.number,
        row.partner_id,
        row.partner,
        row.currency,
        Amount(row.net, row.currency),
        Amount(row.vat, row.currency),
        Amount(row.gross, row.currency),
        row.status,
        account.holder if account else None,
        account.iban if account else None,
        account.bic if account and account.bic else None,
        row.payment_reference,
    ]


def write_run_sheet(path: Path, rows: Iterable[RunSheetRow], fmt: TableFormat) -> int:
    """Writes the run's entries to `path` as they come (memory does not grow with the rows);
    returns how many were written."""
    return write_table(path, RUN_SHEET_HEADER, (run_sheet_row(row) for row in rows), fmt)


def render_run_sheet(rows: Iterable[RunSheetRow], fmt: TableFormat) -> bytes:
    """The run's entries as the bytes of a CSV or XLSX file (for a response body)."""
    with tempfile.TemporaryDirectory(prefix="portal-run-sheet-") as directory:
        path = Path(directory) / f"run.{fmt.extension}"
        write_run_sheet(path, rows, fmt)
        return path.read_bytes()


def run_sheet_filename(run_id: str, fmt: TableFormat) -> str:
    return f"billing-run-{run_id}.{fmt.extension}"
