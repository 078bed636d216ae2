"""The VAT and reverse-charge table of billing documents (one function, `vat_for`)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.domain.billing.vat import TaxStatus, VatRule, rule_of_stored, vat_for

R = TaxStatus.REGULAR
S = TaxStatus.SMALL_BUSINESS
DE_RATE = Decimal("19")


@pytest.mark.parametrize(
    ("country", "vat_id", "status", "rule", "rate", "note"),
    [
        ("DE", None, R, VatRule.DOMESTIC, DE_RATE, None),
        ("DE", "DE136695976", R, VatRule.DOMESTIC, DE_RATE, None),
        ("DE", None, S, VatRule.SMALL_BUSINESS, Decimal(0), "small business"),
        ("AT", "ATU13585627", R, VatRule.REVERSE_CHARGE, Decimal(0), "Reverse charge"),
        ("FR", None, R, VatRule.EU_WITHOUT_VAT_ID, DE_RATE, None),
        ("US", None, R, VatRule.NOT_TAXABLE, Decimal(0), "Not taxable in DE"),
        ("CH", "CHE-123.456.788", R, VatRule.NOT_TAXABLE, Decimal(0), "Not taxable in DE"),
        ("GB", None, S, VatRule.NOT_TAXABLE, Decimal(0), "Not taxable in DE"),
    ],
)
def test_vat_table(
    country: str,
    vat_id: str | None,
    status: TaxStatus,
    rule: VatRule,
    rate: Decimal,
    note: str | None,
) -> None:
    treatment = vat_for(
        issuer_country="DE",
        issuer_rate=DE_RATE,
        recipient_country=country,
        recipient_vat_id=vat_id,
        tax_status=status,
    )
    assert treatment.rule is rule
    assert treatment.rate == rate
    if note is None:
        assert treatment.note is None
    else:
        assert treatment.note is not None and note in treatment.note
    if rule is VatRule.REVERSE_CHARGE:
        assert vat_id in treatment.note  # type: ignore[operator]


@pytest.mark.parametrize("status", [R, S])
@pytest.mark.parametrize(
    ("country", "vat_id"),
    [("DE", None), ("AT", "ATU13585627"), ("FR", None), ("US", None), ("CH", "CHE-123.456.788")],
)
def test_a_stored_rate_and_note_read_back_as_their_rule(
    country: str, vat_id: str | None, status: TaxStatus
) -> None:
    # Documents are printed from the stored rate and note; reading them back must give the rule
    # vat_for chose (both charged rules read back as DOMESTIC: the document prints the rate).
    vat = vat_for(
        issuer_country="DE",
        issuer_rate=DE_RATE,
        recipient_country=country,
        recipient_vat_id=vat_id,
        tax_status=status,
    )
    charged = {VatRule.DOMESTIC, VatRule.EU_WITHOUT_VAT_ID}
    expected = VatRule.DOMESTIC if vat.rule in charged else vat.rule
    assert rule_of_stored(vat.rate, vat.note) is expected
