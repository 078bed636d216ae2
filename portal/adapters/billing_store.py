"""Billing rows ↔ domain objects, and the small reads the billing services share (the issuer,
the VAT rate in force, partners' billing terms)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row

from portal.adapters.tables import (
    advertiser_billing,
    billing_issuer,
    partner_billing,
    partners,
    vat_rates,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.billing.model import (
    AdvertiserBilling,
    AdvertiserInvoice,
    BillingRun,
    BillingStatus,
    History,
    InvoiceLine,
    InvoiceLineKind,
    Issuer,
    NetworkFee,
    PartnerBilling,
    PayoutEntry,
    PayoutLine,
    VatRate,
)
from portal.domain.billing.run import PartnerTerms
from portal.domain.billing.vat import TaxStatus


def issuer_of(r: Row[Any]) -> Issuer:
    m = r._mapping
    return Issuer(
        id=m["id"],
        legal_name=m["legal_name"],
        address=m["address"],
        vat_id=m["vat_id"],
        country=m["country"],
        credit_note_prefix=m["credit_note_prefix"],
        invoice_prefix=m["invoice_prefix"],
        default_payout_minimum=m["default_payout_minimum"],
        iban=m["iban"],
        bic=m["bic"],
    )


def partner_billing_of(r: Row[Any]) -> PartnerBilling:
    m = r._mapping
    return PartnerBilling(
        partner_id=m["partner_id"],
        vat_id=m["vat_id"],
        tax_status=TaxStatus(m["tax_status"]),
        payout_minimum=m["payout_minimum"],
        iban=m["iban"],
        bic=m["bic"],
        billing_address=m["billing_address"],
    )


def advertiser_billing_of(r: Row[Any]) -> AdvertiserBilling:
    m = r._mapping
    return AdvertiserBilling(
        advertiser_id=m["advertiser_id"],
        country=m["country"],
        vat_id=m["vat_id"],
        billing_address=m["billing_address"],
    )


def network_fee_of(r: Row[Any]) -> NetworkFee:
    m = r._mapping
    return NetworkFee(m["id"], m["program_id"], m["valid_from"], m["percentage"], m["fixed_amount"])


def vat_rate_of(r: Row[Any]) -> VatRate:
    m = r._mapping
    return VatRate(m["id"], m["country"], m["valid_from"], m["rate"])


def billing_run_of(r: Row[Any]) -> BillingRun:
    m = r._mapping
    return BillingRun(
        id=m["id"],
        job_id=m["job_id"],
        created_by=m["created_by"],
        period_end=m["period_end"],
        program_ids=tuple(m["program_ids"]),
        dry_run=m["dry_run"],
        created_at=m["created_at"],
        report=m["report"],
    )


def _history(m: Any) -> History:
    return History(
        created_at=m["created_at"],
        confirmed_at=m["confirmed_at"],
        confirmed_by=m["confirmed_by"],
        paid_at=m["paid_at"],
        paid_by=m["paid_by"],
        payment_reference=m["payment_reference"],
        payment_date=m["payment_date"],
        cancelled_at=m["cancelled_at"],
        cancelled_by=m["cancelled_by"],
    )


def payout_entry_of(r: Row[Any]) -> PayoutEntry:
    m = r._mapping
    return PayoutEntry(
        id=m["id"],
        run_id=m["run_id"],
        partner_id=m["partner_id"],
        currency=m["currency"],
        status=BillingStatus(m["status"]),
        number=m["number"],
        period_end=m["period_end"],
        net=m["net"],
        vat_rate=m["vat_rate"],
        vat_amount=m["vat_amount"],
        vat_note=m["vat_note"],
        gross=m["gross"],
        history=_history(m),
    )


def payout_line_of(r: Row[Any]) -> PayoutLine:
    m = r._mapping
    return PayoutLine(
        id=m["id"],
        entry_id=m["entry_id"],
        program_id=m["program_id"],
        count=m["count"],
        program_currency=m["program_currency"],
        program_amount=m["program_amount"],
        exchange_rate=m["exchange_rate"],
        rate_date=m["rate_date"],
        amount=m["amount"],
    )


def invoice_of(r: Row[Any]) -> AdvertiserInvoice:
    m = r._mapping
    return AdvertiserInvoice(
        id=m["id"],
        run_id=m["run_id"],
        program_id=m["program_id"],
        advertiser_id=m["advertiser_id"],
        currency=m["currency"],
        status=BillingStatus(m["status"]),
        number=m["number"],
        period_end=m["period_end"],
        conversion_count=m["conversion_count"],
        net=m["net"],
        vat_rate=m["vat_rate"],
        vat_amount=m["vat_amount"],
        vat_note=m["vat_note"],
        gross=m["gross"],
        history=_history(m),
    )


def invoice_line_of(r: Row[Any]) -> InvoiceLine:
    m = r._mapping
    return InvoiceLine(
        m["id"], m["invoice_id"], InvoiceLineKind(m["kind"]), m["quantity"], m["amount"]
    )


DEFAULT_ISSUER = Issuer(
    legal_name="Portal Network",
    address="(set the issuer's address: updateBillingIssuer)",
    vat_id=None,
    country="DE",
    credit_note_prefix="GS",
    invoice_prefix="RE",
    default_payout_minimum=Decimal(0),
)
"""The issuer until an admin edits it (migration 0009 stores the same record)."""


async def load_issuer(uow: UnitOfWork) -> Issuer:
    row = await uow.first(select(billing_issuer).where(billing_issuer.c.id == 1))
    return DEFAULT_ISSUER if row is None else issuer_of(row)


async def vat_rate_on(uow: UnitOfWork, country: str, day: date) -> Decimal:
    """The standard VAT rate of `country` in force on `day` (0 where none is known)."""
    rate = await uow.conn.scalar(
        select(vat_rates.c.rate)
        .where(vat_rates.c.country == country, vat_rates.c.valid_from <= day)
        .order_by(vat_rates.c.valid_from.desc())
        .limit(1)
    )
    return rate if rate is not None else Decimal(0)


async def partner_terms(
    uow: UnitOfWork, partner_ids: Sequence[int], default_minimum: Decimal
) -> dict[int, PartnerTerms]:
    """The billing terms of these partners (one statement)."""
    stmt = (
        select(partners, partner_billing.c.vat_id, partner_billing.c.tax_status,
               partner_billing.c.payout_minimum)
        .outerjoin(partner_billing, partner_billing.c.partner_id == partners.c.id)
        .where(partners.c.id.in_(list(partner_ids)))
    )  # fmt: skip
    found = {}
    for r in (await uow.conn.execute(stmt)).all():
        m = r._mapping
        minimum = m["payout_minimum"]
        found[m["id"]] = PartnerTerms(
            partner_id=m["id"],
            payout_currency=m["payout_currency"],
            country=m["country"],
            vat_id=m["vat_id"],
            tax_status=TaxStatus(m["tax_status"] or "REGULAR"),
            payout_minimum=default_minimum if minimum is None else minimum,
        )
    return found


async def advertiser_terms(
    uow: UnitOfWork, advertiser_ids: Sequence[int]
) -> dict[int, AdvertiserBilling]:
    rows = await uow.conn.execute(
        select(advertiser_billing).where(
            advertiser_billing.c.advertiser_id.in_(list(advertiser_ids))
        )
    )
    return {r.advertiser_id: advertiser_billing_of(r) for r in rows}
