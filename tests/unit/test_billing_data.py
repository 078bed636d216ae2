"""VAT ids and bank accounts are checked offline (format and checksum)."""

from __future__ import annotations

import pytest

from portal.domain.billing.vat_ids import check_bic, check_iban, check_vat_id
from portal.domain.errors import DomainError


@pytest.mark.parametrize(
    ("raw", "country", "compact"),
    [
        ("DE 136 695 976", "DE", "DE136695976"),
        ("136695976", "DE", "DE136695976"),
        ("ATU13585627", "AT", "ATU13585627"),
        ("EL094259216", "GR", "EL094259216"),
    ],
)
def test_valid_vat_ids(raw: str, country: str, compact: str) -> None:
    assert check_vat_id(raw, country) == compact


@pytest.mark.parametrize(
    ("raw", "country"), [("DE136695977", "DE"), ("ATU13585627", "DE"), ("123", "US")]
)
def test_invalid_vat_ids(raw: str, country: str) -> None:
    with pytest.raises(DomainError) as error:
        check_vat_id(raw, country)
    assert error.value.code == "INVALID_VAT_ID" and error.value.field == ("vatId",)


def test_iban_and_bic() -> None:
    assert check_iban("DE89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert check_bic("COBADEFFXXX") == "COBADEFFXXX"
    with pytest.raises(DomainError) as iban:
        check_iban("DE89 3704 0044 0532 0130 01")
    assert iban.value.code == "INVALID_IBAN"
    with pytest.raises(DomainError) as bic:
        check_bic("NOTABIC")
    assert bic.value.code == "INVALID_BIC"
