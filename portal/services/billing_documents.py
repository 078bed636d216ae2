"""Billing rows → the documents' plain values (`portal/domain/billing/document.py`), read
through the viewer's visibility: a credit note (a CONFIRMED or PAID payout entry: the partner
itself and admins), an invoice (a CONFIRMED or PAID advertiser invoice: the advertiser and
admins), a run's sheet rows (the run's author and admins; bank accounts for admins only) and
its SEPA rows (admins)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.billing_reader import BillingReader
from portal.adapters.billing_store import load_issuer
from portal.adapters.tables import (
    advertiser_billing,
    advertisers,
    conversions,
    invoice_items,
    partner_billing,
    partners,
    payout_entries,
    payout_items,
    programs,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.billing import document as doc
from portal.domain.billing.model import BillingStatus, InvoiceLineKind, Issuer
from portal.domain.billing.vat import VatRule, rule_of_stored
from portal.domain.errors import DomainError
from portal.global_ids import encode_id

ISSUED = (BillingStatus.CONFIRMED, BillingStatus.PAID)


def _lines(text: str | None) -> tuple[str, ...]:
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


def _vat(document: Any) -> doc.Vat:
    """The VAT block of a payout entry's or an invoice's document: rate, amount, treatment and
    note, as the run stored them."""
    return doc.Vat(
        document.vat_rate,
        document.vat_amount,
        _treatment(document.vat_rate, document.vat_note),
        document.vat_note,
    )


_TREATMENTS = {
    VatRule.DOMESTIC: doc.VatTreatment.STANDARD,
    VatRule.EU_WITHOUT_VAT_ID: doc.VatTreatment.STANDARD,
    VatRule.SMALL_BUSINESS: doc.VatTreatment.SMALL_BUSINESS,
    VatRule.REVERSE_CHARGE: doc.VatTreatment.REVERSE_CHARGE,
    VatRule.NOT_TAXABLE: doc.VatTreatment.NOT_TAXABLE,
}


def _treatment(rate: Any, note: str | None) -> doc.VatTreatment:
    return _TREATMENTS[rule_of_stored(rate, note)]


def _issuer_party(issuer: Issuer) -> doc.Party:
    return doc.Party(issuer.legal_name, _lines(issuer.address), issuer.country, issuer.vat_id)


def _not_issued(status: BillingStatus) -> DomainError:
    return DomainError(
        "DOCUMENT_NOT_ISSUED", f"a {status.value} document has no file (confirm it first)"
    )


async def _period_start(engine: AsyncEngine, items: Any, key: Any, pk: int) -> date | None:
    async with engine.connect() as conn:
        first = await conn.scalar(
            select(func.min(conversions.c.tracking_time))
            .join(items, items.c.conversion_id == conversions.c.id)
            .where(key == pk)
        )
    return first.date() if first is not None else None


async def credit_note(engine: AsyncEngine, viewer: Viewer, pk: int) -> doc.BillingDocument | None:
    """The credit note of a payout entry, or None when the viewer may not have it."""
    reader = BillingReader(engine, viewer)
    entry = (await reader.by_id("PayoutEntry", [pk])).get(pk)
    if entry is None or not (viewer.is_admin or viewer.partner_id == entry.partner_id):
        return None
    if entry.status not in ISSUED:
        raise _not_issued(entry.status)
    (lines,) = await reader.entry_lines([pk])
    async with UnitOfWork(engine, writes=False) as uow:
        issuer = await load_issuer(uow)
        partner = (
            (
                await uow.conn.execute(
                    select(partners, partner_billing)
                    .outerjoin(partner_billing, partner_billing.c.partner_id == partners.c.id)
                    .where(partners.c.id == entry.partner_id)
                )
            )
            .one()
            ._mapping
        )
        names = dict(
            (await uow.conn.execute(select(programs.c.id, programs.c.name))).all()  # type: ignore[arg-type]
        )
    start = await _period_start(engine, payout_items, payout_items.c.entry_id, pk)
    account = (
        doc.BankAccount(partner["name"], partner["iban"], partner["bic"])
        if partner["iban"]
        else None
    )
    return doc.BillingDocument(
        kind=doc.DocumentKind.CREDIT_NOTE,
        number=entry.number or "",
        issue_date=(entry.history.confirmed_at or entry.history.created_at).date(),
        period_start=start or entry.period_end,
        period_end=entry.period_end,
        issuer=_issuer_party(issuer),
        recipient=doc.Party(
            partner["name"],
            _lines(partner["billing_address"]),
            partner["country"],
            partner["vat_id"],
        ),
        currency=entry.currency,
        lines=tuple(
            doc.DocumentLine(
                description=names.get(line.program_id, f"program {line.program_id}"),
                count=line.count,
                amount=line.program_amount,
                amount_currency=line.program_currency,
                line_amount=line.amount,
                rate=doc.LineRate(line.exchange_rate, line.rate_date)
                if line.program_currency != entry.currency
                else None,
            )
            for line in lines
        ),
        net=entry.net,
        vat=_vat(entry),
        gross=entry.gross,
        payment_reference=entry.number or "",
        payment_account=account,
    )


async def invoice(engine: AsyncEngine, viewer: Viewer, pk: int) -> doc.BillingDocument | None:
    """The invoice of an advertiser invoice, or None when the viewer may not have it."""
    reader = BillingReader(engine, viewer)
    found = (await reader.by_id("AdvertiserInvoice", [pk])).get(pk)
    if found is None:
        return None
    if found.status not in ISSUED:
        raise _not_issued(found.status)
    (lines,) = await reader.invoice_lines([pk])
    async with UnitOfWork(engine, writes=False) as uow:
        issuer = await load_issuer(uow)
        advertiser = (
            (
                await uow.conn.execute(
                    select(advertisers, advertiser_billing)
                    .outerjoin(
                        advertiser_billing, advertiser_billing.c.advertiser_id == advertisers.c.id
                    )
                    .where(advertisers.c.id == found.advertiser_id)
                )
            )
            .one()
            ._mapping
        )
        program = await uow.conn.scalar(
            select(programs.c.name).where(programs.c.id == found.program_id)
        )
    start = await _period_start(engine, invoice_items, invoice_items.c.invoice_id, pk)
    label = {
        InvoiceLineKind.COMMISSIONS: f"Commissions – {program}",
        InvoiceLineKind.NETWORK_FEE: f"Network fee – {program}",
    }
    account = doc.BankAccount(issuer.legal_name, issuer.iban, issuer.bic) if issuer.iban else None
    return doc.BillingDocument(
        kind=doc.DocumentKind.INVOICE,
        number=found.number or "",
        issue_date=(found.history.confirmed_at or found.history.created_at).date(),
        period_start=start or found.period_end,
        period_end=found.period_end,
        issuer=_issuer_party(issuer),
        recipient=doc.Party(
            advertiser["name"],
            _lines(advertiser["billing_address"]),
            advertiser["country"] or issuer.country,
            advertiser["vat_id"],
        ),
        currency=found.currency,
        lines=tuple(
            doc.DocumentLine(
                description=label[line.kind],
                count=line.quantity,
                amount=line.amount,
                amount_currency=found.currency,
                line_amount=line.amount,
            )
            for line in lines
        ),
        net=found.net,
        vat=_vat(found),
        gross=found.gross,
        payment_reference=found.number or "",
        payment_account=account,
    )


async def run_sheet(
    engine: AsyncEngine, viewer: Viewer, run_pk: int, *, sepa: bool = False
) -> tuple[list[doc.RunSheetRow], Issuer] | None:
    """The rows of a run's entries (sheet: all; SEPA: CONFIRMED EUR ones), or None when the
    run is not visible (SEPA: admins only)."""
    reader = BillingReader(engine, viewer)
    if (await reader.by_id("BillingRun", [run_pk])).get(run_pk) is None:
        return None
    if sepa and viewer.role is not Role.ADMIN:
        return None
    e = payout_entries.c
    stmt = (
        select(payout_entries, partners.c.name.label("partner_name"), partner_billing.c.iban,
               partner_billing.c.bic)
        .join(partners, partners.c.id == e.partner_id)
        .outerjoin(partner_billing, partner_billing.c.partner_id == e.partner_id)
        .where(e.run_id == run_pk)
        .order_by(e.id)
    )  # fmt: skip
    if sepa:
        stmt = stmt.where(e.status == BillingStatus.CONFIRMED.value, e.currency == "EUR")
    async with UnitOfWork(engine, writes=False) as uow:
        issuer = await load_issuer(uow)
        found = (await uow.conn.execute(stmt)).all()
    rows = []
    for r in found:
        m = r._mapping
        account = (
            doc.BankAccount(m["partner_name"], m["iban"], m["bic"])
            if m["iban"] and viewer.is_admin
            else None
        )
        rows.append(
            doc.RunSheetRow(
                number=m["number"] or "",
                partner_id=encode_id("Partner", m["partner_id"]),
                partner=m["partner_name"],
                currency=m["currency"],
                net=m["net"],
                vat=m["vat_amount"],
                gross=m["gross"],
                status=m["status"],
                account=account,
                payment_reference=m["number"] or "",
            )
        )
    return rows, issuer
