"""The amounts of billing lines, each rounded once, half-up, to the currency's minor unit:
conversion through `exchange_rates.convert_amount` (multiplying and dividing exactly, never by
a truncated reciprocal), fees and VAT from exact products through `money`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact

from portal.domain.exchange_rates import ExchangeRate, convert_amount
from portal.domain.money import round_half_up, round_quotient

# Products and sums of decimals with at most a few dozen digits: exact, or an error.
_EXACT = Context(prec=200, traps=[Inexact])
_HUNDRED = Decimal(100)


def payout_line_amount(program_sum: Decimal, rate: ExchangeRate) -> Decimal:
    """A payout line: the sum of a program's commissions (program currency) in the payout
    currency, rounded once from the exact quotient."""
    return convert_amount(program_sum, rate, rounded=True)


@dataclass(frozen=True, slots=True)
class FeeGroup:
    """Conversions under one network fee: how many, the sum of their commissions, and the fee
    (a percentage of the commission and/or a fixed amount per conversion)."""

    count: int
    commission_sum: Decimal
    percentage: Decimal | None
    fixed_amount: Decimal | None


def network_fee(groups: Iterable[FeeGroup], currency: str) -> Decimal:
    """The network fee line of an invoice: the exact sum over the groups of
    commission × percentage / 100 + fixed × count, rounded once."""
    total = Decimal(0)
    for g in groups:
        if g.percentage is not None:
            total = _EXACT.add(
                total, _EXACT.multiply(g.commission_sum, g.percentage).scaleb(-2, _EXACT)
            )
        if g.fixed_amount is not None:
            total = _EXACT.add(total, _EXACT.multiply(g.fixed_amount, Decimal(g.count)))
    return round_half_up(total, currency)


def vat_amount(net: Decimal, rate_percent: Decimal, currency: str) -> Decimal:
    """VAT on the net (the sum of the rounded lines), rounded once."""
    if rate_percent == 0:
        return round_half_up(Decimal(0), currency)
    return round_quotient(_EXACT.multiply(net, rate_percent), _HUNDRED, currency)


def net_of(lines: Iterable[Decimal]) -> Decimal:
    """The net: the sum of the (rounded) lines."""
    total = Decimal(0)
    for amount in lines:
        total = _EXACT.add(total, amount)
    return total
