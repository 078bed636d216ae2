"""PDF of a billing document with fpdf2: the self-billing credit note ("Gutschrift") of a payout
entry and the invoice of an advertiser. It shows the issuer, the recipient, the number, the issue
date, the period, every line (for a converted line the program-currency sum, the rate used and its
ECB date), the VAT line or the note why there is none, and the totals.

The text is set in DejaVu Sans (shipped in `fonts/`, Bitstream Vera licence): fpdf2's built-in
core fonts only know Latin-1, which has no € and breaks other names. The font is embedded as a
subset. The output is deterministic: the same document gives the same bytes (the creation date is
the issue date, so the file identifier, a hash of the content, is stable too).

Nothing here rounds or adds amounts: they come final in the `BillingDocument`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import Align, TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace

from portal.domain.billing.document import (
    BillingDocument,
    DocumentKind,
    DocumentLine,
    Party,
    VatTreatment,
)
from portal.domain.money import canonical

FONT_DIR = Path(__file__).parent / "fonts"
FONT = "DejaVuSans"
MEDIA_TYPE = "application/pdf"

_TITLES = {
    DocumentKind.CREDIT_NOTE: "Gutschrift / Credit note",
    DocumentKind.INVOICE: "Rechnung / Invoice",
}
_SUBTITLES = {
    DocumentKind.CREDIT_NOTE: (
        "Gutschrift im Gutschriftsverfahren / Self-billing credit note: issued by the recipient "
        "of the service on behalf of the supplier."
    ),
    DocumentKind.INVOICE: "",
}
_DEFAULT_VAT_NOTES = {
    VatTreatment.STANDARD: "",
    VatTreatment.SMALL_BUSINESS: "No VAT charged: small business.",
    VatTreatment.REVERSE_CHARGE: "Reverse charge: the recipient is liable for the VAT.",
    VatTreatment.NOT_TAXABLE: "Not taxable in {country}.",
}


def format_amount(amount: Decimal, currency: str) -> str:
    """ "1,234.50 EUR": the amount with its currency's minor digits (never fewer digits than it
    has: nothing is rounded here) and a thousands separator."""
    return f"{canonical(amount, currency):,f} {currency}"


def format_rate(line: DocumentLine, currency: str) -> str:
    if line.rate is None:
        return "–"
    return (
        f"1 {line.amount_currency} = {line.rate.rate:f} {currency}\n"
        f"ECB {line.rate.rate_date.isoformat()}"
    )


def format_percent(rate: Decimal) -> str:
    text = f"{rate.normalize():f}"
    return f"{text} %"


def document_filename(document: BillingDocument) -> str:
    """ "GS-2026-000001.pdf": the number with anything but letters, digits, "-" and "_" replaced."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", document.number) + ".pdf"


def _party_lines(party: Party) -> list[str]:
    lines = [party.name, *party.address_lines]
    if party.country:
        lines.append(party.country)
    if party.vat_id:
        lines.append(f"USt-IdNr. / VAT ID: {party.vat_id}")
    return lines


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=7)
        self.cell(
            0,
            4,
            f"{self._footer_text} · {self.page_no()}/{{nb}}",
            align=Align.C,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )


def render_pdf(document: BillingDocument) -> bytes:
    """The PDF of a confirmed credit note or invoice, as bytes."""
    title = _TITLES[document.kind]
    pdf = _Pdf(footer_text=f"{document.issuer.name} · {title} {document.number}")
    pdf.set_margins(18, 15, 18)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_creation_date(datetime.combine(document.issue_date, time(), tzinfo=UTC))
    pdf.set_title(f"{title} {document.number}")
    pdf.set_author(document.issuer.name)
    pdf.set_subject(f"{title} {document.number} for {document.recipient.name}")
    pdf.set_lang("de")
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.add_page()
    width = pdf.epw

    # The issuer in the letterhead, the recipient in the address field.
    pdf.set_font(FONT, "B", 11)
    pdf.multi_cell(
        width, 5, document.issuer.name, align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.set_font(FONT, size=8)
    pdf.multi_cell(
        width,
        4,
        "\n".join(_party_lines(document.issuer)[1:]),
        align=Align.R,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(6)
    pdf.set_font(FONT, size=7)
    pdf.cell(width, 4, _label(document.kind, "recipient"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=10)
    pdf.multi_cell(
        width * 0.6,
        5,
        "\n".join(_party_lines(document.recipient)),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(6)

    pdf.set_font(FONT, "B", 16)
    pdf.cell(width, 9, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if _SUBTITLES[document.kind]:
        pdf.set_font(FONT, size=8)
        pdf.multi_cell(
            width, 4, _SUBTITLES[document.kind], align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
    pdf.ln(2)

    pdf.set_font(FONT, size=9)
    facts = [
        ("Nummer / Number", document.number),
        ("Datum / Date", document.issue_date.isoformat()),
        ("Zeitraum / Period", _period(document.period_start, document.period_end)),
        ("Währung / Currency", document.currency),
    ]
    if document.payment_reference:
        facts.append(("Verwendungszweck / Payment reference", document.payment_reference))
    with pdf.table(
        col_widths=(45, 55),
        width=width * 0.8,
        text_align=(Align.L, Align.L),
        borders_layout=TableBordersLayout.NONE,
        first_row_as_headings=False,
        line_height=5,
        align=Align.L,
    ) as table:
        for label, value in facts:
            row = table.row()
            row.cell(label)
            row.cell(value)
    pdf.ln(4)

    _lines_table(pdf, document)
    pdf.ln(3)
    _totals(pdf, document)

    pdf.set_font(FONT, size=8)
    pdf.ln(2)
    note = document.vat.note or _DEFAULT_VAT_NOTES[document.vat.treatment].format(
        country=document.issuer.country or "the issuer's country"
    )
    for text in (note, *document.notes):
        if text:
            pdf.ln(1)
            pdf.multi_cell(width, 4, text, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if document.payment_account is not None:
        pdf.ln(3)
        pdf.set_font(FONT, size=9)
        pdf.multi_cell(
            width,
            4.5,
            _payment_text(document),
            align=Align.L,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    return bytes(pdf.output())


def format_iban(iban: str) -> str:
    """ "DE89370400440532013000" → "DE89 3704 0044 0532 0130 00" (groups of four, as printed)."""
    compact = re.sub(r"\s+", "", iban).upper()
    return " ".join(compact[at : at + 4] for at in range(0, len(compact), 4))


def _payment_text(document: BillingDocument) -> str:
    account = document.payment_account
    assert account is not None
    total = format_amount(document.gross, document.currency)
    if document.kind is DocumentKind.CREDIT_NOTE:
        lead = f"Der Betrag von {total} wird überwiesen an / {total} is transferred to:"
    else:
        lead = f"Bitte überweisen Sie {total} an / Please transfer {total} to:"
    lines = [lead, f"{account.holder} · IBAN {format_iban(account.iban)}"]
    if account.bic:
        lines[-1] += f" · BIC {account.bic}"
    if document.payment_reference:
        lines.append(f"Verwendungszweck / Reference: {document.payment_reference}")
    return "\n".join(lines)


def _label(kind: DocumentKind, what: str) -> str:
    if kind is DocumentKind.CREDIT_NOTE:
        return "Gutschriftsempfänger / Credited to"
    return "Rechnungsempfänger / Billed to"


def _period(start: date, end: date) -> str:
    return f"{start.isoformat()} – {end.isoformat()}"


def _lines_table(pdf: FPDF, document: BillingDocument) -> None:
    currency = document.currency
    converted = document.converted
    heading = FontFace(emphasis="BOLD", fill_color=(235, 235, 235))
    header: tuple[str, ...]
    align: tuple[Align, ...]
    if converted:
        header = (
            "Programm / Program",
            "Anzahl / Count",
            "Summe / Sum",
            "Kurs / Rate",
            f"Betrag / Amount ({currency})",
        )
        widths: tuple[float, ...] = (30, 10, 19, 25, 18)
        align = (Align.L, Align.R, Align.R, Align.R, Align.R)
    else:
        header = ("Position / Item", "Anzahl / Count", f"Betrag / Amount ({currency})")
        widths = (60, 15, 25)
        align = (Align.L, Align.R, Align.R)
    pdf.set_font(FONT, size=8)
    with pdf.table(
        col_widths=widths,
        width=pdf.epw,
        text_align=align,
        headings_style=heading,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        line_height=4.5,
        padding=1,
    ) as table:
        row = table.row()
        for text in header:
            row.cell(text)
        for line in document.lines:
            count = "" if line.count is None else f"{line.count:,}"
            row = table.row()
            row.cell(line.description)
            row.cell(count)
            if converted:
                row.cell(format_amount(line.amount, line.amount_currency))
                row.cell(format_rate(line, currency))
            row.cell(format_amount(line.line_amount, currency))


def _totals(pdf: FPDF, document: BillingDocument) -> None:
    currency = document.currency
    vat = document.vat
    rows = [
        ("Netto / Net", format_amount(document.net, currency), False),
        (
            f"USt. / VAT {format_percent(vat.rate)}",
            format_amount(vat.amount, currency),
            False,
        ),
        ("Brutto / Total", format_amount(document.gross, currency), True),
    ]
    pdf.set_font(FONT, size=9)
    with pdf.table(
        col_widths=(30, 20),
        width=pdf.epw / 2,
        align=Align.R,
        text_align=(Align.L, Align.R),
        borders_layout=TableBordersLayout.NONE,
        first_row_as_headings=False,
        line_height=5,
    ) as table:
        for label, amount, bold in rows:
            style = FontFace(emphasis="BOLD") if bold else None
            row = table.row(style=style)
            row.cell(label)
            row.cell(amount)
