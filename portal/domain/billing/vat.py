"""Which VAT a billing document carries: one function, `vat_for`, for a self-billing credit
note to a partner and for an invoice to an advertiser alike (the network is the issuer)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from portal.domain.billing.countries import is_eu


class TaxStatus(enum.Enum):
    REGULAR = "REGULAR"
    SMALL_BUSINESS = "SMALL_BUSINESS"  # charges no VAT (e.g. German §19 UStG)


class VatRule(enum.Enum):
    DOMESTIC = "DOMESTIC"  # same country as the issuer: the issuer country's rate
    SMALL_BUSINESS = "SMALL_BUSINESS"  # domestic, but the recipient charges no VAT
    REVERSE_CHARGE = "REVERSE_CHARGE"  # another EU country, valid VAT id
    EU_WITHOUT_VAT_ID = "EU_WITHOUT_VAT_ID"  # another EU country, no VAT id: issuer's rate
    NOT_TAXABLE = "NOT_TAXABLE"  # outside the EU


# The notes a document prints; `rule_of_stored` reads a stored (rate, note) back with them.
SMALL_BUSINESS_NOTE = "No VAT: the recipient is a small business exempt from VAT."
REVERSE_CHARGE_NOTE = "Reverse charge: VAT is due by the recipient ({vat_id})."
NOT_TAXABLE_NOTE = "Not taxable in {country}."


@dataclass(frozen=True, slots=True)
class VatTreatment:
    rule: VatRule
    rate: Decimal  # percent, e.g. 19
    note: str | None


def vat_for(
    *,
    issuer_country: str,
    issuer_rate: Decimal,
    recipient_country: str,
    recipient_vat_id: str | None,
    tax_status: TaxStatus = TaxStatus.REGULAR,
) -> VatTreatment:
    """The VAT rule, rate (percent) and note of a document from the issuer to a recipient.

    - same country as the issuer → the issuer country's rate (`issuer_rate`); 0 with a note
      for a `SMALL_BUSINESS` recipient;
    - another EU country with a VAT id (checked before it is stored) → 0, reverse charge;
    - another EU country without a VAT id → the issuer's rate;
    - outside the EU → 0, "not taxable in <issuer country>".

    `recipient_vat_id` is a VAT id that passed `vat_ids.check_vat_id`, or None."""
    if recipient_country == issuer_country:
        if tax_status is TaxStatus.SMALL_BUSINESS:
            return VatTreatment(VatRule.SMALL_BUSINESS, Decimal(0), SMALL_BUSINESS_NOTE)
        return VatTreatment(VatRule.DOMESTIC, issuer_rate, None)
    if is_eu(recipient_country):
        if recipient_vat_id:
            return VatTreatment(
                VatRule.REVERSE_CHARGE,
                Decimal(0),
                REVERSE_CHARGE_NOTE.format(vat_id=recipient_vat_id),
            )
        return VatTreatment(VatRule.EU_WITHOUT_VAT_ID, issuer_rate, None)
    return VatTreatment(
        VatRule.NOT_TAXABLE, Decimal(0), NOT_TAXABLE_NOTE.format(country=issuer_country)
    )


def rule_of_stored(rate: Decimal, note: str | None) -> VatRule:
    """The rule behind a (rate, note) that `vat_for` gave and a document stored: a rate or no
    note is a charged rate (DOMESTIC stands for both charged rules); otherwise the note says
    which exemption applied."""
    if rate != 0 or not note:
        return VatRule.DOMESTIC
    if note.startswith(REVERSE_CHARGE_NOTE.split("{", 1)[0]):
        return VatRule.REVERSE_CHARGE
    if note.startswith(NOT_TAXABLE_NOTE.split("{", 1)[0]):
        return VatRule.NOT_TAXABLE
    return VatRule.SMALL_BUSINESS
