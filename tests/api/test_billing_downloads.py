"""Billing documents by URL (issue 11): a credit note per confirmed payout entry (the partner
itself and admins), an invoice per confirmed advertiser invoice (the advertiser and admins), a
run's entries as CSV/XLSX (its author and admins) and its SEPA file (admins); everything else
is a 404 exactly like a missing file, an unconfirmed document a coded 409."""

from __future__ import annotations

import io

from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.billing_helpers import (
    CONFIRM_ENTRIES,
    CONFIRM_INVOICE,
    PARTNER_BILLING,
    billing_world,
    entries,
    gid,
    invoices,
    mutate,
    start_run,
)
from tests.conftest import Api

ISSUER = """
mutation($input: UpdateBillingIssuerInput!) {
  updateBillingIssuer(input: $input) { issuer { iban } userErrors { code field } }
}"""
URLS = """
query($id: ID!) {
  node(id: $id) {
    ... on PayoutEntry { documentUrl }
    ... on AdvertiserInvoice { documentUrl }
    ... on BillingRun { csvUrl xlsxUrl sepaUrl }
  }
}"""


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


async def _url(api: Api, token: str, gid_: str) -> dict[str, str | None]:
    node: dict[str, str | None] = (await api.data(URLS, {"id": gid_}, token))["node"]
    return node


async def test_documents_are_downloaded_by_exactly_who_may_see_them(
    api: Api, engine: AsyncEngine
) -> None:
    w = await billing_world(engine)
    admin = w.tokens["admin"]
    issuer = await mutate(
        api, ISSUER, admin, legalName="Portal Network GmbH", address="Hafenstr. 1\n20457 Hamburg",
        vatId="DE136695976", iban="DE89 3704 0044 0532 0130 00", bic="COBADEFFXXX",
    )  # fmt: skip
    assert issuer["userErrors"] == []
    for partner, vat in (("A", None), ("B", "ATU13585627")):
        billing = {"iban": "DE02120300000000202051", "billingAddress": "Weg 2\n10115 Berlin"}
        if vat:
            billing["vatId"] = vat
        done = await mutate(
            api, PARTNER_BILLING, w.tokens[partner], partnerId=gid("Partner", w.ids[partner]),
            **billing,
        )  # fmt: skip
        assert done["userErrors"] == []
    run = await start_run(api, admin)
    found = {e["partner"]["id"]: e for e in await entries(api, admin)}
    a, b, c = (found[gid("Partner", w.ids[k])] for k in "ABC")
    confirmed = await mutate(api, CONFIRM_ENTRIES, admin, ids=[a["id"], b["id"]])
    numbers = [r["payoutEntry"]["number"] for r in confirmed["results"]]
    (p1,) = await invoices(api, admin, programIds=[gid("Program", w.ids["p1"])])
    invoice = await mutate(api, CONFIRM_INVOICE, admin, id=p1["id"])
    invoice_number = invoice["advertiserInvoice"]["number"]

    # Credit notes: the partner itself and admins; the URL is a field of the entry.
    url = (await _url(api, w.tokens["A"], a["id"]))["documentUrl"]
    assert url and (await _url(api, w.tokens["adv1"], a["id"]))["documentUrl"] is None
    for token in (w.tokens["A"], admin):
        response = await api.client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/pdf"
        text = _text(response.content)
        assert numbers[0] in text and "Portal Network GmbH" in text
    for token in (w.tokens["B"], w.tokens["adv1"], w.tokens["adv2"]):
        response = await api.client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 404, token
    assert (await api.client.get(url)).status_code == 401
    b_pdf = await api.client.get(
        f"/files/billing/payout-entries/{b['id']}.pdf",
        headers={"Authorization": f"Bearer {w.tokens['B']}"},
    )
    assert b_pdf.status_code == 200 and "Reverse charge" in _text(b_pdf.content)
    preview = await api.client.get(
        f"/files/billing/payout-entries/{c['id']}.pdf", headers={"Authorization": f"Bearer {admin}"}
    )
    assert preview.status_code == 409 and preview.json()["error"]["code"] == "DOCUMENT_NOT_ISSUED"
    assert (await _url(api, w.tokens["C"], c["id"]))["documentUrl"] is None

    # The invoice: its advertiser and admins.
    invoice_url = (await _url(api, w.tokens["adv1"], p1["id"]))["documentUrl"]
    assert invoice_url
    ok = await api.client.get(invoice_url, headers={"Authorization": f"Bearer {w.tokens['adv1']}"})
    assert ok.status_code == 200 and invoice_number in _text(ok.content)
    for token in (w.tokens["adv2"], w.tokens["A"]):
        refused = await api.client.get(invoice_url, headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 404

    # The run's sheet (its author: the admin) and SEPA file (admins).
    urls = await _url(api, admin, run["id"])
    assert urls["csvUrl"] and urls["xlsxUrl"] and urls["sepaUrl"]
    sheet = await api.client.get(urls["csvUrl"], headers={"Authorization": f"Bearer {admin}"})
    assert sheet.status_code == 200 and numbers[0] in sheet.content.decode("utf-8-sig")
    xlsx = await api.client.get(urls["xlsxUrl"], headers={"Authorization": f"Bearer {admin}"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    sepa = await api.client.get(urls["sepaUrl"], headers={"Authorization": f"Bearer {admin}"})
    assert sepa.status_code == 200, sepa.text
    assert b"DE02120300000000202051" in sepa.content and b"DE89370400440532013000" in sepa.content
    for token in (w.tokens["adv1"], w.tokens["A"]):
        for key in ("csvUrl", "sepaUrl"):
            refused = await api.client.get(urls[key], headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 404, (token, key)
    assert (await api.data(URLS, {"id": run["id"]}, w.tokens["A"]))["node"] is None
