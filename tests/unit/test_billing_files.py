"""Billing download responses (issue 11, documents) over HTTP: media types, file names, bodies
that read back, and a coded 409 (never a 500) for a SEPA file that cannot be made."""

from __future__ import annotations

import csv
import io
from datetime import date

import httpx
from pypdf import PdfReader
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.adapters.spreadsheets import TableFormat
from portal.domain.billing.document import BankAccount
from portal.web.billing_files import document_response, run_sheet_response, sepa_response
from tests.billing_documents import credit_note, run_rows

NETWORK = BankAccount("Netzwerk Süd GmbH", "DE02120300000000202051", "BYLADEM1001")


async def _pdf(request: Request) -> Response:
    return await document_response(credit_note())


async def _sheet(request: Request) -> Response:
    fmt = TableFormat(request.path_params["fmt"].upper())
    return await run_sheet_response(run_rows(), fmt, "QmlsbGluZ1J1bjox")


async def _sepa(request: Request) -> Response:
    rows = run_rows() if request.query_params.get("all") else run_rows()[:2]
    return await sepa_response(rows, NETWORK, date(2026, 12, 4), "QmlsbGluZ1J1bjox")


def _client() -> httpx.AsyncClient:
    app = Starlette(
        routes=[
            Route("/pdf", _pdf),
            Route("/sheet.{fmt}", _sheet),
            Route("/sepa", _sepa),
        ]
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_document_downloads_as_a_pdf_named_after_its_number() -> None:
    async with _client() as client:
        response = await client.get("/pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == 'attachment; filename="GS-2026-000042.pdf"'
    assert "GS-2026-000042" in PdfReader(io.BytesIO(response.content)).pages[0].extract_text()


async def test_a_run_sheet_downloads_as_csv_and_xlsx() -> None:
    async with _client() as client:
        as_csv = await client.get("/sheet.csv")
        as_xlsx = await client.get("/sheet.xlsx")
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert as_csv.headers["content-disposition"] == (
        'attachment; filename="billing-run-QmlsbGluZ1J1bjox.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [row["number"] for row in rows] == [
        "GS-2026-000042",
        "GS-2026-000043",
        "GS-2026-000044",
    ]
    assert as_xlsx.headers["content-type"] == TableFormat.XLSX.media_type
    assert as_xlsx.content.startswith(b"PK")


async def test_a_sepa_file_downloads_or_is_refused_with_codes() -> None:
    async with _client() as client:
        paid = await client.get("/sepa")
        refused = await client.get("/sepa", params={"all": "1"})
    assert paid.status_code == 200
    assert paid.headers["content-type"] == "application/xml"
    assert paid.headers["content-disposition"] == (
        'attachment; filename="billing-run-QmlsbGluZ1J1bjox-sepa.xml"'
    )
    assert b"<NbOfTxs>2</NbOfTxs>" in paid.content
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"]["code"] == "SEPA_CURRENCY_NOT_EUR"
    assert {(e["code"], tuple(e["field"])) for e in body["errors"]} == {
        ("SEPA_CURRENCY_NOT_EUR", ("entries", "2", "currency")),
        ("SEPA_IBAN_MISSING", ("entries", "2", "iban")),
    }
