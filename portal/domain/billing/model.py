"""Billing objects as the domain sees them: runs, payout entries (self-billing credit notes to
partners), advertiser invoices, their lines and statuses, and the billing data they use."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from portal.domain.billing.vat import TaxStatus
from portal.domain.errors import DomainError


class BillingStatus(enum.Enum):
    PREVIEW = "PREVIEW"
    CONFIRMED = "CONFIRMED"
    PAID = "PAID"
    CANCELLED = "CANCELLED"


class BillingAction(enum.Enum):
    CONFIRM = "CONFIRM"
    MARK_PAID = "MARK_PAID"
    CANCEL = "CANCEL"


# The status an action needs, and the one it leads to.
_TRANSITIONS = {
    BillingAction.CONFIRM: (BillingStatus.PREVIEW, BillingStatus.CONFIRMED),
    BillingAction.MARK_PAID: (BillingStatus.CONFIRMED, BillingStatus.PAID),
    BillingAction.CANCEL: (BillingStatus.PREVIEW, BillingStatus.CANCELLED),
}
_VERBS = {
    BillingAction.CONFIRM: "confirmed",
    BillingAction.MARK_PAID: "marked paid",
    BillingAction.CANCEL: "cancelled",
}
_CODES = {
    BillingAction.CONFIRM: "NOT_PREVIEW",
    BillingAction.MARK_PAID: "NOT_CONFIRMED",
    BillingAction.CANCEL: "NOT_PREVIEW",
}


def transition(
    current: BillingStatus, action: BillingAction, field: tuple[str, ...] = ("id",)
) -> BillingStatus:
    """The status after `action`, or a coded error: only a PREVIEW is confirmed or cancelled
    (NOT_PREVIEW), only a CONFIRMED one is marked paid (NOT_CONFIRMED)."""
    needed, after = _TRANSITIONS[action]
    if current is not needed:
        raise DomainError(
            _CODES[action],
            f"a {current.value} document cannot be {_VERBS[action]} (it must be {needed.value})",
            field,
        )
    return after


class DocumentKind(enum.Enum):
    CREDIT_NOTE = "CREDIT_NOTE"  # to a partner (self-billing), prefix GS by default
    INVOICE = "INVOICE"  # to an advertiser, prefix RE by default


def document_number(prefix: str, year: int, sequence: int) -> str:
    """GS-2026-000001: the issuer's prefix of the kind, the year, the gap-free sequence."""
    return f"{prefix}-{year}-{sequence:06d}"


class InvoiceLineKind(enum.Enum):
    COMMISSIONS = "COMMISSIONS"
    NETWORK_FEE = "NETWORK_FEE"


@dataclass(frozen=True, slots=True)
class Issuer:
    legal_name: str
    address: str
    vat_id: str | None
    country: str
    credit_note_prefix: str
    invoice_prefix: str
    default_payout_minimum: Decimal
    id: int = 1
    iban: str | None = None  # the account payouts are made from (SEPA debtor)
    bic: str | None = None


@dataclass(frozen=True, slots=True)
class PartnerBilling:
    partner_id: int
    vat_id: str | None
    tax_status: TaxStatus
    payout_minimum: Decimal | None  # None: the network default
    iban: str | None
    bic: str | None
    billing_address: str | None


@dataclass(frozen=True, slots=True)
class AdvertiserBilling:
    advertiser_id: int
    country: str | None
    vat_id: str | None
    billing_address: str | None


@dataclass(frozen=True, slots=True)
class NetworkFee:
    id: int
    program_id: int
    valid_from: datetime
    percentage: Decimal | None
    fixed_amount: Decimal | None


@dataclass(frozen=True, slots=True)
class VatRate:
    id: int
    country: str
    valid_from: date
    rate: Decimal


@dataclass(frozen=True, slots=True)
class BillingRun:
    id: int
    job_id: int
    created_by: int
    period_end: date
    program_ids: tuple[int, ...]
    dry_run: bool
    created_at: datetime
    report: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class PayoutLine:
    id: int
    entry_id: int
    program_id: int
    count: int
    program_currency: str
    program_amount: Decimal
    exchange_rate: Decimal
    rate_date: date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class History:
    created_at: datetime
    confirmed_at: datetime | None
    confirmed_by: int | None
    paid_at: datetime | None
    paid_by: int | None
    payment_reference: str | None
    payment_date: date | None
    cancelled_at: datetime | None
    cancelled_by: int | None


@dataclass(frozen=True, slots=True)
class PayoutEntry:
    id: int
    run_id: int
    partner_id: int
    currency: str
    status: BillingStatus
    number: str | None
    period_end: date
    net: Decimal
    vat_rate: Decimal
    vat_amount: Decimal
    vat_note: str | None
    gross: Decimal
    history: History


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    id: int
    invoice_id: int
    kind: InvoiceLineKind
    quantity: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class AdvertiserInvoice:
    id: int
    run_id: int
    program_id: int
    advertiser_id: int
    currency: str
    status: BillingStatus
    number: str | None
    period_end: date
    conversion_count: int
    net: Decimal
    vat_rate: Decimal
    vat_amount: Decimal
    vat_note: str | None
    gross: Decimal
    history: History
