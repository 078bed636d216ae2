"""Money as an exact decimal amount in an ISO 4217 currency, rounded once and half-up."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from portal.domain.errors import DomainError

# Active ISO 4217 codes and their minor units (exponent). Funds and precious metals without a
# minor unit (XAU, XDR, XXX …) are deliberately absent: no price is ever quoted in them here.
_EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4 = "CLF UYW"
_EXPONENT_2 = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN "
    "BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP "
    "GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT "
    "LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN "
    "NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE "
    "SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UZS VED VES WST "
    "XCD XCG YER ZAR ZMW ZWG"
)

MINOR_UNITS: dict[str, int] = {
    **{code: 0 for code in _EXPONENT_0.split()},
    **{code: 2 for code in _EXPONENT_2.split()},
    **{code: 3 for code in _EXPONENT_3.split()},
    **{code: 4 for code in _EXPONENT_4.split()},
}

# Bounds for amounts accepted from outside: 15 integer digits, 6 fractional digits.
MAX_AMOUNT = Decimal("1e15")
MAX_FRACTION_DIGITS = 6


def is_currency(code: str) -> bool:
    return code in MINOR_UNITS


def require_currency(code: str, field: tuple[str, ...] = ("currency",)) -> str:
    if code not in MINOR_UNITS:
        raise DomainError("UNKNOWN_CURRENCY", f"{code!r} is not an ISO 4217 currency code", field)
    return code


def minor_units(currency: str) -> int:
    return MINOR_UNITS[require_currency(currency)]


# The smallest amount of each currency (EUR 0.01, JPY 1, KWD 0.001).
_MINOR_UNIT = {code: Decimal(1).scaleb(-places) for code, places in MINOR_UNITS.items()}


def minor_unit(currency: str) -> Decimal:
    unit = _MINOR_UNIT.get(currency)
    return unit if unit is not None else _MINOR_UNIT[require_currency(currency)]


def round_half_up(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit, half away from zero. Call once, at the end."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def parse_decimal(raw: str | int | float | Decimal) -> Decimal:
    """Parse an amount from text; refuses floats (they are never exact), NaN, infinity and
    numbers outside the accepted bounds."""
    if isinstance(raw, float | bool):
        raise ValueError("amounts must be given as strings or integers, not floats")
    try:
        value = Decimal(str(raw).strip()) if not isinstance(raw, Decimal) else raw
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"{raw!r} is not a finite decimal number")
    if abs(value) >= MAX_AMOUNT:
        raise ValueError(f"{raw!r} is too large (at most 15 integer digits)")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_FRACTION_DIGITS:
        raise ValueError(f"{raw!r} has more than {MAX_FRACTION_DIGITS} decimal places")
    return value


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, float):
            raise TypeError("Money never holds a float")
        require_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def times(self, factor: Decimal) -> Money:
        return Money(self.amount * factor, self.currency)

    def rounded(self) -> Money:
        return Money(round_half_up(self.amount, self.currency), self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} and {other.currency}")

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def canonical(amount: Decimal, currency: str) -> Decimal:
    """The amount without padding zeros beyond the currency's minor unit ("5.100000" → "5.10");
    significant digits are never dropped."""
    minor = minor_units(currency)
    exponent = amount.as_tuple().exponent
    if not isinstance(exponent, int) or -exponent <= minor:
        return amount.quantize(Decimal(1).scaleb(-minor))
    stripped = amount.normalize()
    stripped_exp = stripped.as_tuple().exponent
    assert isinstance(stripped_exp, int)
    return amount.quantize(Decimal(1).scaleb(min(stripped_exp, -minor)))


def without_padding(value: Decimal) -> Decimal:
    """A non-money decimal (a rate, a percentage) without padding zeros: 5.0000 → 5."""
    normalized = value.normalize()
    exponent = normalized.as_tuple().exponent
    return (
        normalized.quantize(Decimal(1))
        if isinstance(exponent, int) and exponent > 0
        else normalized
    )
