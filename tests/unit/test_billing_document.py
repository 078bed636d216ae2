"""A billing document refuses to be inconsistent (issue 11, documents): amounts must be final
(rounded by the run, never by a document), the net the sum of the lines, the gross net + VAT, a
converted line must name its rate; every problem is reported at once, with a code and a field."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from portal.domain.billing.document import (
    BankAccount,
    DocumentLine,
    LineRate,
    RunSheetRow,
    Vat,
    VatTreatment,
    check_sepa_payable,
)
from portal.domain.errors import DomainError, ValidationFailed
from tests.billing_documents import credit_note, reverse_charge_invoice, run_rows


def _failures(raised: pytest.ExceptionInfo[ValidationFailed]) -> set[tuple[str, tuple[str, ...]]]:
    return {(error.code, error.field) for error in raised.value.errors}


def test_the_sample_documents_are_consistent() -> None:
    assert credit_note().converted
    assert not reverse_charge_invoice().converted


def test_an_amount_beyond_the_minor_unit_is_refused_not_rounded() -> None:
    with pytest.raises(ValidationFailed) as raised:
        credit_note(net=Decimal("10168.951"), gross=Decimal("12101.051"))
    assert _failures(raised) == {
        ("DOCUMENT_AMOUNT_NOT_ROUNDED", ("net",)),
        ("DOCUMENT_AMOUNT_NOT_ROUNDED", ("gross",)),
    }
    # Padding zeros are not digits: "76.6100" is a final EUR amount; JPY has no minor unit.
    line = DocumentLine(
        "Tokyo",
        1,
        Decimal("12500.00"),
        "JPY",
        Decimal("76.6100"),
        LineRate(Decimal("0.006129"), date(2026, 12, 1)),
    )
    document = credit_note(
        lines=(line,),
        net=Decimal("76.61"),
        vat=Vat(Decimal("0"), Decimal("0")),
        gross=Decimal("76.61"),
    )
    assert document.net == Decimal("76.61")
    with pytest.raises(ValidationFailed) as raised:
        credit_note(
            lines=(
                DocumentLine(
                    "Tokyo",
                    1,
                    Decimal("12500.5"),
                    "JPY",
                    Decimal("76.61"),
                    LineRate(Decimal("0.006129"), date(2026, 12, 1)),
                ),
            ),
            net=Decimal("76.61"),
            vat=Vat(Decimal("0"), Decimal("0")),
            gross=Decimal("76.61"),
        )
    assert _failures(raised) == {("DOCUMENT_AMOUNT_NOT_ROUNDED", ("lines", "0", "amount"))}


def test_net_and_gross_must_add_up() -> None:
    with pytest.raises(ValidationFailed) as raised:
        credit_note(net=Decimal("10168.96"), gross=Decimal("12101.06"))
    assert _failures(raised) == {("DOCUMENT_NET_MISMATCH", ("net",))}
    with pytest.raises(ValidationFailed) as raised:
        credit_note(gross=Decimal("12101.04"))
    assert _failures(raised) == {("DOCUMENT_GROSS_MISMATCH", ("gross",))}


def test_a_converted_line_needs_its_rate_and_a_line_in_the_document_currency_agrees() -> None:
    original = credit_note()
    usd = original.lines[1]
    without_rate = DocumentLine(
        usd.description, usd.count, usd.amount, usd.amount_currency, usd.line_amount, None
    )
    eur_with_two_amounts = DocumentLine("Bücher", 1, Decimal("5.00"), "EUR", Decimal("5.01"))
    with pytest.raises(ValidationFailed) as raised:
        credit_note(
            lines=(original.lines[0], without_rate, eur_with_two_amounts, original.lines[2])
        )
    codes = _failures(raised)
    assert ("DOCUMENT_RATE_MISSING", ("lines", "1", "rate")) in codes
    assert ("DOCUMENT_LINE_MISMATCH", ("lines", "2", "lineAmount")) in codes


def test_a_vat_exemption_charges_nothing() -> None:
    with pytest.raises(ValidationFailed) as raised:
        reverse_charge_invoice(
            vat=Vat(Decimal("19"), Decimal("0"), VatTreatment.REVERSE_CHARGE, None)
        )
    assert _failures(raised) == {("DOCUMENT_VAT_MISMATCH", ("vat", "amount"))}


def test_number_period_lines_and_currency_are_required() -> None:
    with pytest.raises(ValidationFailed) as raised:
        credit_note(number=" ", period_start=date(2026, 12, 1), period_end=date(2026, 11, 30))
    assert _failures(raised) == {
        ("DOCUMENT_NUMBER_MISSING", ("number",)),
        ("DOCUMENT_PERIOD_INVALID", ("periodStart",)),
    }
    with pytest.raises(ValidationFailed) as raised:
        credit_note(lines=(), net=Decimal(0), vat=Vat(Decimal("19"), Decimal(0)), gross=Decimal(0))
    assert _failures(raised) == {("DOCUMENT_WITHOUT_LINES", ("lines",))}
    with pytest.raises(DomainError) as unknown:
        credit_note(currency="EURO")
    assert unknown.value.code == "UNKNOWN_CURRENCY"


def test_a_run_row_is_final_and_adds_up() -> None:
    row = run_rows()[0]
    with pytest.raises(DomainError) as raised:
        RunSheetRow(
            row.number,
            row.partner_id,
            row.partner,
            "EUR",
            Decimal("1.00"),
            Decimal("0.19"),
            Decimal("1.20"),
            "CONFIRMED",
        )
    assert raised.value.code == "DOCUMENT_GROSS_MISMATCH"
    with pytest.raises(DomainError) as raised:
        RunSheetRow(
            row.number,
            row.partner_id,
            row.partner,
            "JPY",
            Decimal("1.5"),
            Decimal("0"),
            Decimal("1.5"),
            "CONFIRMED",
        )
    assert raised.value.code == "DOCUMENT_AMOUNT_NOT_ROUNDED"


def test_sepa_refuses_every_entry_it_cannot_pay_at_once() -> None:
    eur, tiny, jpy = run_rows()
    preview = RunSheetRow(
        "",
        "UGFydG5lcjo0",
        "Vorschau",
        "EUR",
        Decimal("5.00"),
        Decimal("0"),
        Decimal("5.00"),
        "PREVIEW",
        BankAccount("V", "DE89370400440532013000"),
    )
    blank_iban = RunSheetRow(
        "GS-2026-000050",
        "UGFydG5lcjo1",
        "Leer",
        "EUR",
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("0.00"),
        "CONFIRMED",
        BankAccount("Leer", "  "),
    )
    check_sepa_payable([eur, tiny])
    with pytest.raises(ValidationFailed) as raised:
        check_sepa_payable([eur, jpy, preview, blank_iban])
    assert _failures(raised) == {
        ("SEPA_CURRENCY_NOT_EUR", ("entries", "1", "currency")),
        ("SEPA_IBAN_MISSING", ("entries", "1", "iban")),
        ("SEPA_ENTRY_NOT_CONFIRMED", ("entries", "2", "status")),
        ("SEPA_IBAN_MISSING", ("entries", "3", "iban")),
        ("SEPA_AMOUNT_NOT_POSITIVE", ("entries", "3", "gross")),
    }
    with pytest.raises(ValidationFailed) as raised:
        check_sepa_payable([])
    assert _failures(raised) == {("SEPA_NO_ENTRIES", ("entries",))}
