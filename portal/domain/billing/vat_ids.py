"""VAT ids and bank accounts, checked offline: format and checksum (python-stdnum, schwifty).
Nobody asks VIES here; a VAT id that passes is stored in its compact form."""

from __future__ import annotations

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum import get_cc_module
from stdnum.exceptions import ValidationError

from portal.domain.billing.countries import vat_prefix
from portal.domain.errors import DomainError


def check_vat_id(raw: str, country: str, field: tuple[str, ...] = ("vatId",)) -> str:
    """The VAT id of `country` in compact form with its prefix (DE123456788), or
    INVALID_VAT_ID (wrong format or checksum, another country's id, a country whose ids
    cannot be checked). The prefix may be left out."""
    module = get_cc_module(country.lower(), "vat")
    if module is None:
        raise DomainError("INVALID_VAT_ID", f"VAT ids of {country} cannot be checked", field)
    try:
        number = module.validate(raw)
    except (ValidationError, ValueError):
        raise DomainError(
            "INVALID_VAT_ID", f"{raw!r} is not a valid VAT id of {country}", field
        ) from None
    return vat_prefix(country) + str(number).removeprefix(vat_prefix(country))


def check_iban(raw: str, field: tuple[str, ...] = ("iban",)) -> str:
    try:
        return str(IBAN(raw).compact)
    except (SchwiftyException, ValueError):
        raise DomainError("INVALID_IBAN", f"{raw!r} is not a valid IBAN", field) from None


def check_bic(raw: str, field: tuple[str, ...] = ("bic",)) -> str:
    try:
        return str(BIC(raw).compact)
    except (SchwiftyException, ValueError):
        raise DomainError("INVALID_BIC", f"{raw!r} is not a valid BIC", field) from None
