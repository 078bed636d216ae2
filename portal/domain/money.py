"""Money as an exact decimal amount in an ISO 4217 currency, rounded once and half-up."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, InvalidOperation

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


def round_quotient(numerator: Decimal, divisor: Decimal, currency: str) -> Decimal:
    """`numerator` ÷ `divisor` rounded once, half away from zero, to the currency's minor unit,
    exactly: the quotient is never rounded before (integer arithmetic on the two decimals), so
    123.03 ÷ 1.2000 = 102.525 gives 102.53 whatever digits the quotient would need."""
    if divisor == 1:
        return round_half_up(numerator, currency)
    if divisor == 0:
        raise ZeroDivisionError("a quotient needs a divisor other than 0")
    places = minor_units(currency)
    n_sign, n_digits, n_exp = numerator.as_tuple()
    d_sign, d_digits, d_exp = divisor.as_tuple()
    assert isinstance(n_exp, int) and isinstance(d_exp, int), "finite decimals only"
    top = int("".join(map(str, n_digits)) or "0")
    bottom = int("".join(map(str, d_digits)))
    shift = n_exp - d_exp + places  # the quotient in minor units is top × 10^shift ÷ bottom
    if shift >= 0:
        top *= 10**shift
    else:
        bottom *= 10 ** (-shift)
    whole, rest = divmod(top, bottom)
    if 2 * rest >= bottom:
        whole += 1
    negative = (n_sign != d_sign) and whole != 0
    return Decimal((1 if negative else 0, tuple(map(int, str(whole))), -places))


_ALLOCATION = Context(prec=120)


def allocate(amounts: Sequence[Decimal], total: Decimal, unit: Decimal) -> list[Decimal]:
    """Round `amounts` to multiples of `unit` so they sum exactly to `total` (a multiple of
    `unit`): floor every amount, then hand the remaining units to the largest remainders first
    (ties: earlier position first). A difference beyond one unit per amount, or a negative one,
    is spread evenly the same way, so this never fails."""
    if not amounts:
        return []
    if len(amounts) == 1:
        return [total.quantize(unit)]
    floors = [amount.quantize(unit, rounding=ROUND_FLOOR) for amount in amounts]
    missing = int((total - sum(floors, Decimal(0))) / unit)
    each, extra = divmod(missing, len(amounts))
    # Largest remainder first: the most negative (floor - amount) first.
    order = sorted(
        range(len(amounts)), key=lambda i: (_ALLOCATION.subtract(floors[i], amounts[i]), i)
    )
    lucky = set(order[:extra])
    return [
        (floor + unit * (each + (1 if i in lucky else 0))).quantize(unit)
        for i, floor in enumerate(floors)
    ]


def spread(total: Decimal, weights: Sequence[Decimal], unit: Decimal) -> list[Decimal]:
    """`total` shared out over `weights` in proportion (an order discount over the values of
    the basket's positions), each share a multiple of `unit`, the shares summing exactly to
    `total` (largest remainder, ties to the earlier position). All weights 0: shared equally.

    Exact: a share is the fraction total × weight ÷ (Σ weights × unit) units; its whole units
    and its remainder are computed without rounding, and the remainders, over one common
    denominator, are compared as they are (a quotient rounded to any number of digits could
    tell two equal remainders apart)."""
    if not weights:
        return []
    whole = sum(weights, Decimal(0))
    if whole == 0:
        weights, whole = [Decimal(1)] * len(weights), Decimal(len(weights))
    if total < 0 or any(w < 0 for w in weights):  # not what callers send: allocated shares
        exact = [_ALLOCATION.divide(_ALLOCATION.multiply(total, w), whole) for w in weights]
        return allocate(exact, total, unit)
    denominator = _ALLOCATION.multiply(whole, unit)
    numerators = [_ALLOCATION.multiply(total, w) for w in weights]
    floors = [_ALLOCATION.divide_int(n, denominator) for n in numerators]
    remainders = [_ALLOCATION.remainder(n, denominator) for n in numerators]
    missing = int(_ALLOCATION.divide_int(total, unit) - sum(floors, Decimal(0)))
    each, extra = divmod(missing, len(weights))
    lucky = set(sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:extra])
    return [
        (unit * (floor + each + (1 if i in lucky else 0))).quantize(unit)
        for i, floor in enumerate(floors)
    ]


def unit_of(amount: Decimal, currency: str) -> Decimal:
    """The finer of the currency's minor unit and the smallest digit `amount` is given in."""
    exponent = amount.as_tuple().exponent
    places = minor_units(currency)
    if isinstance(exponent, int) and -exponent > places:
        places = -exponent
    return Decimal(1).scaleb(-places)


# The only form an amount is written in: digits, optionally a sign and a decimal point with
# digits after it ("12.50", "-3", "0.5"); never an exponent ("1e2"), never ".5" or "5.", and
# ASCII digits only (Decimal would also read "١٠" or full-width digits).
PLAIN_DECIMAL = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?")
_INTEGER_DIGITS = MAX_AMOUNT.adjusted()  # 15: a plain decimal of no more is below MAX_AMOUNT


def parse_decimal(raw: str | int | float | Decimal) -> Decimal:
    """Parse an amount; refuses floats (they are never exact), text that is not a plain decimal
    (`PLAIN_DECIMAL`: no exponent), NaN, infinity and numbers outside the accepted bounds."""
    if isinstance(raw, float | bool):
        raise ValueError("amounts must be given as strings or integers, not floats")
    if isinstance(raw, str):
        text = raw.strip()
        plain = PLAIN_DECIMAL.fullmatch(text)
        if plain is None:
            raise ValueError(f"{raw!r} is not a decimal number like 1234.50")
        whole, fraction = plain.groups()
        if len(whole) <= _INTEGER_DIGITS and (
            fraction is None or len(fraction) <= MAX_FRACTION_DIGITS
        ):
            return Decimal(text)  # finite, below MAX_AMOUNT, within MAX_FRACTION_DIGITS
        raw = text
    try:
        value = Decimal(raw) if not isinstance(raw, Decimal) else raw
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


def canonical_text(amount: Decimal, currency: str) -> str:
    """`format(canonical(amount, currency), "f")`, the text the API gives an amount, written
    from the amount's own digits (no quantize): padded to the currency's minor unit, padding
    zeros beyond it dropped, significant digits kept. The compiled read path formats every
    amount of a page with it (tests/unit/test_money.py holds it equal to `canonical`)."""
    minor = minor_units(currency)
    whole, _, fraction = format(amount, "f").partition(".")
    if len(fraction) > minor:
        fraction = fraction.rstrip("0")
    if len(fraction) < minor:
        fraction += "0" * (minor - len(fraction))
    return f"{whole}.{fraction}" if fraction else whole


def without_padding(value: Decimal) -> Decimal:
    """A non-money decimal (a rate, a percentage) without padding zeros: 5.0000 → 5."""
    normalized = value.normalize()
    exponent = normalized.as_tuple().exponent
    return (
        normalized.quantize(Decimal(1))
        if isinstance(exponent, int) and exponent > 0
        else normalized
    )
