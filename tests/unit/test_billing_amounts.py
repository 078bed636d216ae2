"""Billing line amounts: each rounded once, half-up, from the exact value; checked against
exact rational arithmetic (fractions.Fraction)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.billing.amounts import FeeGroup, network_fee, payout_line_amount, vat_amount
from portal.domain.billing.model import BillingAction, BillingStatus, document_number, transition
from portal.domain.billing.run import (
    CarriedOver,
    IssuerTerms,
    PartnerFailure,
    PartnerTerms,
    PlannedEntry,
    ProgramSum,
    plan_invoice,
    plan_payout,
)
from portal.domain.billing.vat import TaxStatus
from portal.domain.errors import DomainError
from portal.domain.exchange_rates import ExchangeRate, RateTable, ReferenceRate

DAY = date(2026, 3, 31)


def half_up(value: Fraction, places: int) -> Decimal:
    """Round a non-negative exact fraction half-up to `places` decimals."""
    scaled = value * 10**places
    whole = scaled.numerator // scaled.denominator
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    return Decimal(whole).scaleb(-places)


amounts = st.decimals(min_value=0, max_value=Decimal("1e9"), places=6, allow_nan=False)
rates = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("20000"), places=6)


@given(amounts, rates, rates)
def test_payout_line_matches_exact_rational(amount: Decimal, mult: Decimal, div: Decimal) -> None:
    rate = ExchangeRate("USD", "GBP", mult, div, DAY)
    exact = Fraction(amount) * Fraction(mult) / Fraction(div)
    assert payout_line_amount(amount, rate) == half_up(exact, 2)


@given(amounts, rates)
def test_payout_line_into_jpy_matches_exact_rational(amount: Decimal, mult: Decimal) -> None:
    rate = ExchangeRate("EUR", "JPY", mult, Decimal(1), DAY)
    assert payout_line_amount(amount, rate) == half_up(Fraction(amount) * Fraction(mult), 0)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**6),
            amounts,
            st.none() | st.decimals(min_value=0, max_value=100, places=4),
            st.none() | st.decimals(min_value=0, max_value=1000, places=2),
        ),
        max_size=4,
    )
)
def test_network_fee_matches_exact_rational(groups: list[tuple]) -> None:  # type: ignore[type-arg]
    fee_groups = [FeeGroup(*g) for g in groups]
    exact = sum(
        (Fraction(s) * Fraction(p or 0) / 100 + Fraction(f or 0) * n for n, s, p, f in groups),
        Fraction(0),
    )
    assert network_fee(fee_groups, "EUR") == half_up(exact, 2)


@given(st.decimals(min_value=0, max_value=Decimal("1e12"), places=2), st.decimals(0, 30, places=2))
def test_vat_matches_exact_rational(net: Decimal, rate: Decimal) -> None:
    assert vat_amount(net, rate, "EUR") == half_up(Fraction(net) * Fraction(rate) / 100, 2)


def test_usd_to_eur_divides_exactly() -> None:
    # 123.03 / 1.2 = 102.525 exactly: half-up gives 102.53 (a truncated reciprocal would not).
    rate = ExchangeRate("USD", "EUR", Decimal(1), Decimal("1.2000"), DAY)
    assert payout_line_amount(Decimal("123.03"), rate) == Decimal("102.53")


TABLE = RateTable(
    "EUR",
    [
        ReferenceRate("EUR", "USD", date(2026, 3, 27), Decimal("1.2")),
        ReferenceRate("EUR", "JPY", date(2026, 3, 31), Decimal("160")),
    ],
)
DE = IssuerTerms("DE", Decimal("19"))


def terms(currency: str = "EUR", country: str = "DE", minimum: str = "0") -> PartnerTerms:
    return PartnerTerms(1, currency, country, None, TaxStatus.REGULAR, Decimal(minimum))


def test_plan_payout_lines_net_vat_and_rate_fallback() -> None:
    plan = plan_payout(
        terms(),
        [
            ProgramSum(2, "USD", 3, Decimal("123.03")),  # rate of Mar 27 (4-day fallback)
            ProgramSum(1, "JPY", 2, Decimal("1000")),
        ],
        TABLE,
        DAY,
        DE,
    )
    assert isinstance(plan, PlannedEntry)
    assert [line.amount for line in plan.lines] == [Decimal("6.25"), Decimal("102.53")]
    assert plan.lines[1].rate.day == date(2026, 3, 27)
    assert plan.net == Decimal("108.78")
    assert plan.vat_amount == Decimal("20.67")  # 20.6682
    assert plan.gross == Decimal("129.45")


def test_plan_payout_carry_over_and_missing_rate() -> None:
    low = plan_payout(
        terms(minimum="50"), [ProgramSum(1, "EUR", 1, Decimal("49.99"))], TABLE, DAY, DE
    )
    assert low == CarriedOver(1, "EUR", Decimal("49.99"), Decimal("50"))
    missing = plan_payout(terms("GBP"), [ProgramSum(1, "EUR", 1, Decimal(5))], TABLE, DAY, DE)
    assert isinstance(missing, PartnerFailure) and missing.code == "MISSING_EXCHANGE_RATE"
    late = plan_payout(terms(), [ProgramSum(1, "USD", 1, Decimal(5))], TABLE, date(2026, 4, 4), DE)
    assert isinstance(late, PartnerFailure)  # the USD rate is 8 days old


def test_plan_invoice_fee_and_reverse_charge() -> None:
    groups = [FeeGroup(3, Decimal("10.005"), Decimal("10"), Decimal("0.10"))]
    invoice = plan_invoice(7, "EUR", groups, "AT", "ATU13585627", DE)
    assert invoice.commissions == Decimal("10.01")
    assert invoice.fee == Decimal("1.30")  # 1.0005 + 0.30
    assert invoice.net == Decimal("11.31")
    assert invoice.vat_amount == Decimal("0.00") and "Reverse charge" in (invoice.vat.note or "")


def test_transitions_and_numbers() -> None:
    assert transition(BillingStatus.PREVIEW, BillingAction.CONFIRM) is BillingStatus.CONFIRMED
    assert transition(BillingStatus.CONFIRMED, BillingAction.MARK_PAID) is BillingStatus.PAID
    with pytest.raises(DomainError) as cancelled:
        transition(BillingStatus.CANCELLED, BillingAction.CONFIRM)
    assert cancelled.value.code == "NOT_PREVIEW"
    with pytest.raises(DomainError) as unconfirmed:
        transition(BillingStatus.PREVIEW, BillingAction.MARK_PAID)
    assert unconfirmed.value.code == "NOT_CONFIRMED"
    assert document_number("GS", 2026, 1) == "GS-2026-000001"
