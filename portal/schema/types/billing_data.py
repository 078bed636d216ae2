"""Billing data as the API shows it: a partner's, an advertiser's (their own and admins
only), programs' network fees, the issuer and VAT rates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry

from portal.domain.billing import model as domain
from portal.domain.billing.vat import TaxStatus
from portal.domain.money import without_padding

TaxStatusEnum = strawberry.enum(
    TaxStatus, description="REGULAR, or SMALL_BUSINESS (charges no VAT)."
)


@strawberry.type(description="A partner's billing data (the partner itself and admins only).")
class PartnerBilling:
    vat_id: str | None = strawberry.field(description="VAT id, checked offline.")
    tax_status: TaxStatusEnum = strawberry.field(description="REGULAR or SMALL_BUSINESS.")
    payout_minimum: Decimal | None = strawberry.field(
        description="Its own payout minimum (payout currency); null: the network default."
    )
    iban: str | None = strawberry.field(description="IBAN.")
    bic: str | None = strawberry.field(description="BIC.")
    billing_address: str | None = strawberry.field(description="Billing address.")

    @staticmethod
    def of(b: domain.PartnerBilling | None) -> PartnerBilling:
        if b is None:
            return PartnerBilling(
                vat_id=None, tax_status=TaxStatus.REGULAR, payout_minimum=None, iban=None,
                bic=None, billing_address=None,
            )  # fmt: skip
        return PartnerBilling(
            vat_id=b.vat_id,
            tax_status=b.tax_status,
            payout_minimum=b.payout_minimum,
            iban=b.iban,
            bic=b.bic,
            billing_address=b.billing_address,
        )


@strawberry.type(description="An advertiser's billing data (the advertiser and admins only).")
class AdvertiserBilling:
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2 country.")
    vat_id: str | None = strawberry.field(description="VAT id, checked offline.")
    billing_address: str | None = strawberry.field(description="Billing address.")

    @staticmethod
    def of(b: domain.AdvertiserBilling | None) -> AdvertiserBilling:
        if b is None:
            return AdvertiserBilling(country=None, vat_id=None, billing_address=None)
        return AdvertiserBilling(
            country=b.country, vat_id=b.vat_id, billing_address=b.billing_address
        )


@strawberry.type(description="A program's network fee from a time on.")
class NetworkFee:
    valid_from: datetime = strawberry.field(description="Conversions tracked from then on.")
    percentage: Decimal | None = strawberry.field(description="Percent of the commission.")
    fixed_amount: Decimal | None = strawberry.field(
        description="Per conversion, in the program currency."
    )

    @staticmethod
    def of(f: domain.NetworkFee) -> NetworkFee:
        return NetworkFee(
            valid_from=f.valid_from,
            percentage=None if f.percentage is None else without_padding(f.percentage),
            fixed_amount=None if f.fixed_amount is None else without_padding(f.fixed_amount),
        )


@strawberry.type(description="The network as the issuer of credit notes and invoices.")
class BillingIssuer:
    legal_name: str = strawberry.field(description="Legal name.")
    address: str = strawberry.field(description="Address.")
    vat_id: str | None = strawberry.field(description="VAT id.")
    country: str = strawberry.field(description="Country (its VAT rate applies at home).")
    credit_note_prefix: str = strawberry.field(description="Prefix of credit note numbers.")
    invoice_prefix: str = strawberry.field(description="Prefix of invoice numbers.")
    default_payout_minimum: Decimal = strawberry.field(
        description="Payout minimum of partners without their own (in their payout currency)."
    )
    iban: str | None = strawberry.field(description="The account payouts are made from.")
    bic: str | None = strawberry.field(description="Its BIC.")

    @staticmethod
    def of(i: domain.Issuer) -> BillingIssuer:
        return BillingIssuer(
            legal_name=i.legal_name,
            address=i.address,
            vat_id=i.vat_id,
            country=i.country,
            credit_note_prefix=i.credit_note_prefix,
            invoice_prefix=i.invoice_prefix,
            default_payout_minimum=without_padding(i.default_payout_minimum),
            iban=i.iban,
            bic=i.bic,
        )


@strawberry.type(description="A country's standard VAT rate from a day on.")
class VatRate:
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 country.")
    valid_from: date = strawberry.field(description="First day it applies.")
    rate: Decimal = strawberry.field(description="Percent.")

    @staticmethod
    def of(v: domain.VatRate) -> VatRate:
        return VatRate(country=v.country, valid_from=v.valid_from, rate=without_padding(v.rate))
