"""Billing documents and run rows for tests: a credit note with converted lines, invoices with
each VAT treatment, and a run's entries."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from portal.domain.billing.document import (
    BankAccount,
    BillingDocument,
    DocumentKind,
    DocumentLine,
    LineRate,
    Party,
    RunSheetRow,
    Vat,
    VatTreatment,
)

ISSUER = Party(
    name="Netzwerk Süd GmbH",
    address_lines=("Hauptstraße 1", "10115 Berlin"),
    country="DE",
    vat_id="DE123456789",
)
PARTNER_DE = Party(
    name="Jürgen Müller Medien",
    address_lines=("Königsallee 5", "40212 Düsseldorf"),
    country="DE",
    vat_id="DE811907980",
)
NETWORK_ACCOUNT = BankAccount("Netzwerk Süd GmbH", "DE02 1203 0000 0000 2020 51", "BYLADEM1001")
ADVERTISER_FR = Party(
    name="Boutique Élégance SARL",
    address_lines=("12 rue de la Paix", "75002 Paris"),
    country="FR",
    vat_id="FR40303265045",
)


def credit_note(**changes: object) -> BillingDocument:
    """A German partner's credit note in EUR: one EUR program and two converted ones, 19 % VAT."""
    document = BillingDocument(
        kind=DocumentKind.CREDIT_NOTE,
        number="GS-2026-000042",
        issue_date=date(2026, 12, 1),
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 30),
        issuer=ISSUER,
        recipient=PARTNER_DE,
        currency="EUR",
        lines=(
            DocumentLine("Bücher € Deals", 1234, Decimal("10000.00"), "EUR", Decimal("10000.00")),
            DocumentLine(
                "US Gadgets",
                3,
                Decimal("100.00"),
                "USD",
                Decimal("92.34"),
                LineRate(Decimal("0.923400"), date(2026, 11, 27)),
            ),
            DocumentLine(
                "Tokyo Travel",
                7,
                Decimal("12500"),
                "JPY",
                Decimal("76.61"),
                LineRate(Decimal("0.006129"), date(2026, 12, 1)),
            ),
        ),
        net=Decimal("10168.95"),
        vat=Vat(Decimal("19"), Decimal("1932.10")),
        gross=Decimal("12101.05"),
        payment_reference="GS-2026-000042",
        payment_account=BankAccount("Jürgen Müller", "DE89370400440532013000", "COBADEFFXXX"),
    )
    return replace(document, **changes)  # type: ignore[arg-type]


def reverse_charge_invoice(**changes: object) -> BillingDocument:
    """A French advertiser's invoice in EUR: commissions and the network fee, reverse charge."""
    document = BillingDocument(
        kind=DocumentKind.INVOICE,
        number="RE-2026-000007",
        issue_date=date(2026, 12, 1),
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 30),
        issuer=ISSUER,
        recipient=ADVERTISER_FR,
        currency="EUR",
        lines=(
            DocumentLine(
                "Commissions – Mode Été", 310, Decimal("4650.10"), "EUR", Decimal("4650.10")
            ),
            DocumentLine(
                "Network fee – Mode Été", 310, Decimal("697.52"), "EUR", Decimal("697.52")
            ),
        ),
        net=Decimal("5347.62"),
        vat=Vat(
            Decimal("0"),
            Decimal("0.00"),
            VatTreatment.REVERSE_CHARGE,
            "Reverse charge – Steuerschuldnerschaft des Leistungsempfängers (Art. 196 "
            "Directive 2006/112/EC)",
        ),
        gross=Decimal("5347.62"),
        payment_reference="RE-2026-000007",
        payment_account=NETWORK_ACCOUNT,
    )
    return replace(document, **changes)  # type: ignore[arg-type]


def run_rows() -> list[RunSheetRow]:
    return [
        RunSheetRow(
            number="GS-2026-000042",
            partner_id="UGFydG5lcjox",
            partner="Jürgen Müller Medien",
            currency="EUR",
            net=Decimal("10168.95"),
            vat=Decimal("1932.10"),
            gross=Decimal("12101.05"),
            status="CONFIRMED",
            account=BankAccount("Jürgen Müller", "DE89 3704 0044 0532 0130 00", "COBADEFFXXX"),
            payment_reference="GS-2026-000042",
        ),
        RunSheetRow(
            number="GS-2026-000043",
            partner_id="UGFydG5lcjoy",
            partner='=HYPERLINK("http://evil")',
            currency="EUR",
            net=Decimal("0.01"),
            vat=Decimal("0.00"),
            gross=Decimal("0.01"),
            status="CONFIRMED",
            account=BankAccount("Anne Dupont", "FR1420041010050500013M02606", None),
            payment_reference="GS-2026-000043",
        ),
        RunSheetRow(
            number="GS-2026-000044",
            partner_id="UGFydG5lcjoz",
            partner="Sakura Blog",
            currency="JPY",
            net=Decimal("125000"),
            vat=Decimal("0"),
            gross=Decimal("125000"),
            status="CONFIRMED",
            account=None,
            payment_reference="GS-2026-000044",
        ),
    ]
