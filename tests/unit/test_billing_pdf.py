"""PDF credit notes and invoices (issue 11, documents): the text read back with pypdf shows the
issuer, the recipient, the number, the dates, every line with its rate and rate date, the VAT
line or the note why there is none, and the totals; umlauts and € survive; output is stable."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader

from portal.adapters.billing_documents.pdf import (
    document_filename,
    format_amount,
    render_pdf,
)
from portal.domain.billing.document import (
    DocumentLine,
    LineRate,
    Party,
    Vat,
    VatTreatment,
)
from portal.domain.money import minor_units
from tests.billing_documents import credit_note, reverse_charge_invoice


def _text(pdf: bytes) -> str:
    """All pages' text, whitespace (line breaks in table cells) folded to single spaces."""
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def test_a_credit_note_shows_parties_number_dates_lines_rates_vat_and_totals() -> None:
    pdf = render_pdf(credit_note())
    assert pdf.startswith(b"%PDF-")
    text = _text(pdf)

    assert "Gutschrift / Credit note" in text
    assert "Self-billing" in text
    assert "GS-2026-000042" in text
    # Issuer and recipient, with their addresses and VAT ids; umlauts intact.
    for expected in (
        "Netzwerk Süd GmbH",
        "Hauptstraße 1",
        "10115 Berlin",
        "DE123456789",
        "Jürgen Müller Medien",
        "Königsallee 5",
        "40212 Düsseldorf",
        "DE811907980",
    ):
        assert expected in text, expected
    assert "Datum / Date 2026-12-01" in text
    assert "2026-11-01 – 2026-11-30" in text
    # Each line: description, count, program-currency sum, rate and its date, EUR amount.
    assert "Bücher € Deals 1,234 10,000.00 EUR – 10,000.00 EUR" in text
    assert "US Gadgets 3 100.00 USD 1 USD = 0.923400 EUR ECB 2026-11-27 92.34 EUR" in text
    assert "Tokyo Travel 7 12,500 JPY 1 JPY = 0.006129 EUR ECB 2026-12-01 76.61 EUR" in text
    assert "Netto / Net 10,168.95 EUR" in text
    assert "USt. / VAT 19 % 1,932.10 EUR" in text
    assert "Brutto / Total 12,101.05 EUR" in text
    # Where the payout goes.
    assert (
        "12,101.05 EUR is transferred to: Jürgen Müller · IBAN DE89 3704 0044 0532 0130 00 "
        "· BIC COBADEFFXXX Verwendungszweck / Reference: GS-2026-000042"
    ) in text


def test_an_invoice_with_reverse_charge_shows_its_note_and_no_vat() -> None:
    text = _text(render_pdf(reverse_charge_invoice()))

    assert "Rechnung / Invoice" in text
    assert "Gutschrift" not in text
    assert "RE-2026-000007" in text
    assert "Boutique Élégance SARL" in text
    assert "FR40303265045" in text
    assert "Commissions – Mode Été 310 4,650.10 EUR" in text
    assert "Network fee – Mode Été 310 697.52 EUR" in text
    # An invoice in its program's currency has no rate column.
    assert "Kurs / Rate" not in text
    assert "USt. / VAT 0 % 0.00 EUR" in text
    assert "Brutto / Total 5,347.62 EUR" in text
    assert "Steuerschuldnerschaft des Leistungsempfängers (Art. 196 Directive 2006/112/EC)" in text
    assert (
        "Please transfer 5,347.62 EUR to: Netzwerk Süd GmbH · IBAN DE02 1203 0000 0000 2020 51 "
        "· BIC BYLADEM1001 Verwendungszweck / Reference: RE-2026-000007"
    ) in text


def test_without_an_account_no_payment_block_is_printed() -> None:
    text = _text(render_pdf(credit_note(payment_account=None)))
    assert "IBAN" not in text
    assert "Brutto / Total 12,101.05 EUR" in text


def test_vat_notes_of_small_business_and_outside_the_eu_are_printed() -> None:
    small = credit_note(
        vat=Vat(
            Decimal("0"),
            Decimal("0.00"),
            VatTreatment.SMALL_BUSINESS,
            "Kein Ausweis der Umsatzsteuer: Kleinunternehmer (§ 19 UStG)",
        ),
        gross=Decimal("10168.95"),
    )
    assert "Kleinunternehmer (§ 19 UStG)" in _text(render_pdf(small))

    abroad = reverse_charge_invoice(
        recipient=Party("Maple Shop Inc.", ("1 Bay St", "Toronto ON"), "CA", None),
        vat=Vat(Decimal("0"), Decimal("0"), VatTreatment.NOT_TAXABLE, "Not taxable in DE"),
    )
    text = _text(render_pdf(abroad))
    assert "Not taxable in DE" in text
    assert "Maple Shop Inc." in text
    assert "VAT ID: " + "None" not in text


def test_without_a_note_the_treatment_prints_its_standard_wording() -> None:
    def note_of(treatment: VatTreatment) -> str:
        vat = Vat(Decimal("0"), Decimal("0.00"), treatment, None)
        return _text(render_pdf(reverse_charge_invoice(vat=vat)))

    assert "Reverse charge: the recipient is liable for the VAT." in note_of(
        VatTreatment.REVERSE_CHARGE
    )
    assert "Not taxable in DE." in note_of(VatTreatment.NOT_TAXABLE)
    assert "No VAT charged: small business." in note_of(VatTreatment.SMALL_BUSINESS)


def test_a_fractional_vat_rate_and_a_three_digit_currency_are_shown_as_given() -> None:
    document = reverse_charge_invoice(
        currency="KWD",
        lines=(
            DocumentLine(
                "Commissions – Kuwait", 2, Decimal("1000.125"), "KWD", Decimal("1000.125")
            ),
        ),
        net=Decimal("1000.125"),
        vat=Vat(Decimal("5.5"), Decimal("55.007")),
        gross=Decimal("1055.132"),
    )
    text = _text(render_pdf(document))
    assert "USt. / VAT 5.5 % 55.007 KWD" in text
    assert "Brutto / Total 1,055.132 KWD" in text


def test_many_lines_flow_onto_further_pages_and_none_is_lost() -> None:
    lines = tuple(
        DocumentLine(
            f"Programm Nr. {n} – Größe",
            n,
            Decimal(n),
            "USD",
            Decimal(n) / 2,
            LineRate(Decimal("0.5"), date(2026, 11, 30)),
        )
        for n in range(1, 121)
    )
    net = sum((line.line_amount for line in lines), Decimal(0))
    document = credit_note(lines=lines, net=net, vat=Vat(Decimal("19"), Decimal("0")), gross=net)
    pdf = render_pdf(document)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) > 1
    text = _text(pdf)
    for n in range(1, 121):
        assert f"Programm Nr. {n} – Größe {n} " in text
    assert f"1/{len(reader.pages)}" in text and f"{len(reader.pages)}/{len(reader.pages)}" in text


def test_the_same_document_gives_the_same_bytes_and_metadata_names_it() -> None:
    first = render_pdf(credit_note())
    assert render_pdf(credit_note()) == first
    assert render_pdf(credit_note(number="GS-2026-000043")) != first
    info = PdfReader(io.BytesIO(first)).metadata
    assert info is not None
    assert info.title == "Gutschrift / Credit note GS-2026-000042"
    assert info.author == "Netzwerk Süd GmbH"


def test_file_names_and_amount_formatting() -> None:
    assert document_filename(credit_note()) == "GS-2026-000042.pdf"
    assert document_filename(replace(credit_note(), number="GS/2026 ../1")) == "GS_2026____1.pdf"
    assert format_amount(Decimal("1234567.5"), "EUR") == "1,234,567.50 EUR"
    assert format_amount(Decimal("-3"), "JPY") == "-3 JPY"
    # Never rounded here: digits beyond the minor unit would show (a document refuses them).
    assert format_amount(Decimal("0.125"), "EUR") == "0.125 EUR"


def test_a_name_outside_the_font_still_renders_and_keeps_the_rest() -> None:
    """The shipped font covers Latin, Greek and Cyrillic; other scripts print as empty boxes
    (fpdf2 logs the missing glyphs) and never break the document."""
    recipient = Party("東京メディア Ελληνικά Кириллица", ("Tōkyō",), "JP", None)
    text = _text(render_pdf(credit_note(recipient=recipient)))
    assert "Ελληνικά Кириллица" in text
    assert "Tōkyō" in text
    assert "Brutto / Total 12,101.05 EUR" in text


@given(
    currency=st.sampled_from(["EUR", "JPY", "KWD", "CLF", "USD"]),
    units=st.integers(min_value=-(10**15), max_value=10**15),
)
def test_an_amount_is_formatted_with_every_digit_and_reads_back_exactly(
    currency: str, units: int
) -> None:
    amount = Decimal(units).scaleb(-minor_units(currency))
    text = format_amount(amount, currency)
    number, _, code = text.partition(" ")
    assert code == currency
    assert Decimal(number.replace(",", "")) == amount
    assert len(number.partition(".")[2]) == minor_units(currency)
