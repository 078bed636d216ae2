"""Responses for billing downloads: a document's PDF, a run's CSV/XLSX sheet and its SEPA file.

The endpoint (in `downloads.py`, like the exports) authenticates, finds the entry, invoice or
run through the viewer's visibility (404 when it is not visible) and builds the domain values;
these helpers render them off the event loop (PDF and XLSX rendering is CPU work) and answer
with the right media type and file name. A document or file that cannot be made is a 409 with
the domain's code, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date

from starlette.responses import JSONResponse, Response

from portal.adapters.billing_documents import pdf, sepa, sheets
from portal.adapters.spreadsheets import TableFormat
from portal.domain.billing.document import BankAccount, BillingDocument, RunSheetRow
from portal.domain.errors import DomainError, ValidationFailed


def _attachment(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def refusal(error: DomainError | ValidationFailed) -> Response:
    """409 with the code(s) of why the file cannot be made (e.g. SEPA_CURRENCY_NOT_EUR)."""
    errors = error.errors if isinstance(error, ValidationFailed) else [error]
    first = errors[0]
    return JSONResponse(
        {
            "error": {"code": first.code, "message": first.message},
            "errors": [
                {"code": e.code, "message": e.message, "field": list(e.field)} for e in errors
            ],
        },
        status_code=409,
    )


async def document_response(document: BillingDocument) -> Response:
    """The PDF of a confirmed credit note or invoice, named after its number."""
    body = await asyncio.to_thread(pdf.render_pdf, document)
    return _attachment(body, pdf.MEDIA_TYPE, pdf.document_filename(document))


async def run_sheet_response(
    rows: Sequence[RunSheetRow], fmt: TableFormat, run_id: str
) -> Response:
    """A run's entries as CSV or XLSX (`run_id`: the run's global id, for the file name)."""
    body = await asyncio.to_thread(sheets.render_run_sheet, rows, fmt)
    return _attachment(body, fmt.media_type, sheets.run_sheet_filename(run_id, fmt))


async def sepa_response(
    rows: Sequence[RunSheetRow],
    debtor: BankAccount,
    execution_date: date,
    run_id: str,
    *,
    message_id: str | None = None,
) -> Response:
    """The pain.001 file paying a run's confirmed EUR entries from `debtor`, or a 409 naming
    every entry it cannot pay."""
    try:
        body = await asyncio.to_thread(
            sepa.render_sepa, rows, debtor, execution_date, message_id=message_id
        )
    except (DomainError, ValidationFailed) as error:
        return refusal(error)
    return _attachment(body, sepa.MEDIA_TYPE, sepa.sepa_filename(run_id))
