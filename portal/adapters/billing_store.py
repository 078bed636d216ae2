"""Billing rows ↔ domain objects, and the small reads the billing services share (the issuer,
the VAT rate in force, partners' billing terms)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row

from portal.adapters.rows import record
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
    return record(Issuer, r)


def partner_billing_of(r: Row[Any]) -> PartnerBilling:
    return record(PartnerBilling, r, tax_status=TaxStatus(r._mapping["tax_status"]))


def advertiser_billing_of(r: Row[Any]) -> AdvertiserBilling:
    return record(AdvertiserBilling, r)


def network_fee_of(r: Row[Any]) -> NetworkFee:
    return record(NetworkFee, r)


def vat_rate_of(r: Row[Any]) -> VatRate:
    return record(VatRate, r)


def billing_run_of(r: Row[Any]) -> BillingRun:
    return record(BillingRun, r, program_ids=tuple(r._mapping["program_ids"]))


def payout_entry_of(r: Row[Any]) -> PayoutEntry:
    return record(PayoutEntry, r, status=_status(r), history=record(History, r))


def payout_line_of(r: Row[Any]) -> PayoutLine:
    return record(PayoutLine, r)


def invoice_of(r: Row[Any]) -> AdvertiserInvoice:
    return record(AdvertiserInvoice, r, status=_status(r), history=record(History, r))


def invoice_line_of(r: Row[Any]) -> InvoiceLine:
    return record(InvoiceLine, r, kind=InvoiceLineKind(r._mapping["kind"]))


def _status(r: Row[Any]) -> BillingStatus:
    return BillingStatus(r._mapping["status"])


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


async def list_vat_rates(uow: UnitOfWork, country: str | None) -> list[VatRate]:
    """Every VAT rate (or one country's), by country and start day."""
    stmt = select(vat_rates).order_by(vat_rates.c.country, vat_rates.c.valid_from)
    if country:
        stmt = stmt.where(vat_rates.c.country == country.upper())
    return [vat_rate_of(r) for r in await uow.conn.execute(stmt)]


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
