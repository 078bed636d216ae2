"""What a billing run decides, per partner and per program, from sums the database computed:
pure functions over aggregates (never one object per conversion)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from portal.domain.billing.amounts import (
    FeeGroup,
    net_of,
    network_fee,
    payout_line_amount,
    vat_amount,
)
from portal.domain.billing.vat import TaxStatus, VatTreatment, vat_for
from portal.domain.errors import DomainError
from portal.domain.exchange_rates import ExchangeRate, RateTable
from portal.domain.money import is_currency, round_half_up


@dataclass(frozen=True, slots=True)
class ProgramSum:
    """A partner's unbilled conversions of one program: count and commission sum."""

    program_id: int
    currency: str
    count: int
    commission_sum: Decimal


@dataclass(frozen=True, slots=True)
class PartnerTerms:
    partner_id: int
    payout_currency: str
    country: str
    vat_id: str | None
    tax_status: TaxStatus
    payout_minimum: Decimal


@dataclass(frozen=True, slots=True)
class IssuerTerms:
    country: str
    rate: Decimal  # the issuer country's VAT rate on the run date (percent)


@dataclass(frozen=True, slots=True)
class PlannedLine:
    program_id: int
    count: int
    program_currency: str
    program_amount: Decimal
    rate: ExchangeRate
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PlannedEntry:
    partner_id: int
    currency: str
    lines: tuple[PlannedLine, ...]
    net: Decimal
    vat: VatTreatment
    vat_amount: Decimal
    gross: Decimal


@dataclass(frozen=True, slots=True)
class CarriedOver:
    partner_id: int
    currency: str
    net: Decimal
    minimum: Decimal


@dataclass(frozen=True, slots=True)
class PartnerFailure:
    partner_id: int
    code: str
    message: str


def plan_payout(
    terms: PartnerTerms,
    sums: Sequence[ProgramSum],
    rates: RateTable,
    day: date,
    issuer: IssuerTerms,
) -> PlannedEntry | CarriedOver | PartnerFailure:
    """One payout entry for the partner in its payout currency: a line per program (the sum
    converted at the rate of `day`, 7-day fallback, rounded once), the net as the sum of the
    lines, VAT rounded once on the net. Below the payout minimum: carried over. A missing
    rate or unusable billing data: this partner fails, with a code."""
    if not is_currency(terms.payout_currency):
        return PartnerFailure(
            terms.partner_id,
            "INVALID_PAYOUT_CURRENCY",
            f"the payout currency {terms.payout_currency!r} is not an ISO 4217 code",
        )
    if len(terms.country) != 2 or not terms.country.isalpha():
        return PartnerFailure(
            terms.partner_id, "INVALID_COUNTRY", f"the country {terms.country!r} is not valid"
        )
    lines = []
    for s in sorted(sums, key=lambda s: s.program_id):
        try:
            rate = rates.exchange_rate(s.currency, terms.payout_currency, day)
        except DomainError as error:
            return PartnerFailure(terms.partner_id, error.code, error.message)
        lines.append(
            PlannedLine(
                s.program_id,
                s.count,
                s.currency,
                s.commission_sum,
                rate,
                payout_line_amount(s.commission_sum, rate),
            )
        )
    net = net_of(line.amount for line in lines)
    if net < terms.payout_minimum:
        return CarriedOver(terms.partner_id, terms.payout_currency, net, terms.payout_minimum)
    vat = vat_for(
        issuer_country=issuer.country,
        issuer_rate=issuer.rate,
        recipient_country=terms.country,
        recipient_vat_id=terms.vat_id,
        tax_status=terms.tax_status,
    )
    tax = vat_amount(net, vat.rate, terms.payout_currency)
    return PlannedEntry(
        terms.partner_id, terms.payout_currency, tuple(lines), net, vat, tax, net + tax
    )


@dataclass(frozen=True, slots=True)
class PlannedInvoice:
    program_id: int
    currency: str
    count: int
    commissions: Decimal
    fee: Decimal
    net: Decimal
    vat: VatTreatment
    vat_amount: Decimal
    gross: Decimal


def plan_invoice(
    program_id: int,
    currency: str,
    groups: Sequence[FeeGroup],
    advertiser_country: str | None,
    advertiser_vat_id: str | None,
    issuer: IssuerTerms,
) -> PlannedInvoice:
    """The advertiser's invoice of a program: the commissions, the network fee, VAT on the
    net. An advertiser without a billing country is billed as in the issuer's country."""
    count = sum(g.count for g in groups)
    commissions = net_of(g.commission_sum for g in groups)
    commissions = round_half_up(commissions, currency)
    fee = network_fee(groups, currency)
    net = commissions + fee
    vat = vat_for(
        issuer_country=issuer.country,
        issuer_rate=issuer.rate,
        recipient_country=advertiser_country or issuer.country,
        recipient_vat_id=advertiser_vat_id,
    )
    tax = vat_amount(net, vat.rate, currency)
    return PlannedInvoice(program_id, currency, count, commissions, fee, net, vat, tax, net + tax)
