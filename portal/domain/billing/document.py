"""What a billing document says: a self-billing credit note to a partner (a payout entry) or an
invoice to an advertiser, and the rows of a run's entries for its CSV, XLSX and SEPA files.

These are plain values for the renderers (`portal/adapters/billing_documents`). Every amount is
already final: rounded once, half-up, by the billing run (`portal/domain/money.py`). A document
checks that it is consistent — each amount within its currency's minor unit, the net the sum of
the lines, the gross the net plus VAT — and refuses otherwise with a coded `DomainError`; it never
rounds or computes an amount itself, and neither does a renderer."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from portal.domain.errors import DomainError, ValidationFailed
from portal.domain.money import minor_units, require_currency


class DocumentKind(enum.Enum):
    CREDIT_NOTE = "CREDIT_NOTE"  # self-billing credit note ("Gutschrift") for a payout entry
    INVOICE = "INVOICE"  # invoice to an advertiser


class VatTreatment(enum.Enum):
    """Why a document charges the VAT it does (the note printed under the totals)."""

    STANDARD = "STANDARD"  # the rate of the issuer's or recipient's country is charged
    SMALL_BUSINESS = "SMALL_BUSINESS"  # the partner charges no VAT (small-business rule)
    REVERSE_CHARGE = "REVERSE_CHARGE"  # EU recipient with a valid VAT id: the recipient owes it
    NOT_TAXABLE = "NOT_TAXABLE"  # recipient outside the EU: not taxable in the issuer's country


def _places(amount: Decimal) -> int:
    exponent = amount.as_tuple().exponent
    if not isinstance(exponent, int):
        return 10**6  # NaN or infinity: never a final amount
    return max(0, -exponent)


def _require_final(amount: Decimal, currency: str, field_path: Sequence[str]) -> None:
    if not amount.is_finite() or _places(amount.normalize()) > minor_units(currency):
        raise DomainError(
            "DOCUMENT_AMOUNT_NOT_ROUNDED",
            f"{amount} is not a final {currency} amount (at most {minor_units(currency)} "
            "decimal places): the billing run rounds, a document never does",
            field_path,
        )


@dataclass(frozen=True, slots=True)
class Party:
    """Who issues or receives a document, as printed on it."""

    name: str
    address_lines: tuple[str, ...] = ()
    country: str = ""  # ISO 3166-1 alpha-2, e.g. "DE"
    vat_id: str | None = None


@dataclass(frozen=True, slots=True)
class LineRate:
    """The exchange rate a line was converted with: units of the document currency per one
    unit of the line's program currency (`ExchangeRate.rate`), and the ECB reference day that
    rate is of (`ExchangeRate.day`: the run date or an earlier day of the 7-day fallback)."""

    rate: Decimal
    rate_date: date


@dataclass(frozen=True, slots=True)
class DocumentLine:
    """One line: for a credit note, one program (count of conversions, their sum in the
    program currency, the rate, the amount in the payout currency); for an invoice, the
    commissions or the network fee of a program, in the program currency (no rate)."""

    description: str  # e.g. the program's name, "Network fee – <program>"
    count: int | None  # conversions behind the line; None when a count means nothing
    amount: Decimal  # in `amount_currency` (the program currency)
    amount_currency: str
    line_amount: Decimal  # in the document's currency, final
    rate: LineRate | None = None  # required when amount_currency is not the document currency


@dataclass(frozen=True, slots=True)
class Vat:
    """The VAT of a document: `rate` is a percentage (19 means 19 %), `amount` is final."""

    rate: Decimal
    amount: Decimal
    treatment: VatTreatment = VatTreatment.STANDARD
    # e.g. "Reverse charge …", "Not taxable in DE"; printed as given. None: the renderer prints
    # a standard wording of the treatment.
    note: str | None = None


@dataclass(frozen=True, slots=True)
class BankAccount:
    """An account as printed and transferred to; the IBAN as entered (spaces allowed)."""

    holder: str
    iban: str
    bic: str | None = None


@dataclass(frozen=True, slots=True)
class BillingDocument:
    kind: DocumentKind
    number: str  # e.g. "GS-2026-000001"; a PREVIEW has none yet and gets no document
    issue_date: date
    period_start: date
    period_end: date
    issuer: Party
    recipient: Party
    currency: str
    lines: tuple[DocumentLine, ...]
    net: Decimal
    vat: Vat
    gross: Decimal
    payment_reference: str = ""
    # Credit note: the partner's account the payout goes to; invoice: the network's account
    # the advertiser pays to. None: no payment block is printed.
    payment_account: BankAccount | None = None
    notes: tuple[str, ...] = field(default=())  # further lines printed at the end

    def __post_init__(self) -> None:
        errors: list[DomainError] = []

        def check(condition: bool, code: str, message: str, *path: str) -> None:
            if not condition:
                errors.append(DomainError(code, message, path))

        def final(amount: Decimal, currency: str, *path: str) -> None:
            try:
                _require_final(amount, currency, path)
            except DomainError as error:
                errors.append(error)

        require_currency(self.currency, ("currency",))
        check(
            bool(self.number.strip()),
            "DOCUMENT_NUMBER_MISSING",
            "a document needs a number",
            "number",
        )
        check(
            self.period_start <= self.period_end,
            "DOCUMENT_PERIOD_INVALID",
            "the period starts after it ends",
            "periodStart",
        )
        check(bool(self.lines), "DOCUMENT_WITHOUT_LINES", "a document needs a line", "lines")
        for index, line in enumerate(self.lines):
            at = ("lines", str(index))
            require_currency(line.amount_currency, (*at, "amountCurrency"))
            final(line.amount, line.amount_currency, *at, "amount")
            final(line.line_amount, self.currency, *at, "lineAmount")
            converted = line.amount_currency != self.currency
            check(
                not converted or line.rate is not None,
                "DOCUMENT_RATE_MISSING",
                f"line {index + 1} is in {line.amount_currency}, the document in {self.currency}:"
                " it needs the rate used and its date",
                *at,
                "rate",
            )
            check(
                converted or line.rate is None or line.rate.rate == 1,
                "DOCUMENT_RATE_UNEXPECTED",
                f"line {index + 1} is in the document's currency and has a rate other than 1",
                *at,
                "rate",
            )
            check(
                converted or line.amount == line.line_amount,
                "DOCUMENT_LINE_MISMATCH",
                f"line {index + 1} is in the document's currency: its two amounts must agree",
                *at,
                "lineAmount",
            )
        final(self.net, self.currency, "net")
        final(self.vat.amount, self.currency, "vat", "amount")
        final(self.gross, self.currency, "gross")
        check(
            self.vat.rate >= 0,
            "DOCUMENT_VAT_RATE_INVALID",
            "a VAT rate is not negative",
            "vat",
            "rate",
        )
        check(
            self.vat.treatment is VatTreatment.STANDARD
            or (self.vat.amount == 0 and self.vat.rate == 0),
            "DOCUMENT_VAT_MISMATCH",
            f"{self.vat.treatment.value} charges no VAT",
            "vat",
            "amount",
        )
        if not errors:
            check(
                self.net == sum((line.line_amount for line in self.lines), Decimal(0)),
                "DOCUMENT_NET_MISMATCH",
                "the net is not the sum of the lines",
                "net",
            )
            check(
                self.gross == self.net + self.vat.amount,
                "DOCUMENT_GROSS_MISMATCH",
                "the gross is not the net plus VAT",
                "gross",
            )
        if errors:
            raise ValidationFailed(errors)

    @property
    def converted(self) -> bool:
        """Whether any line was converted into the document's currency."""
        return any(line.amount_currency != self.currency for line in self.lines)


@dataclass(frozen=True, slots=True)
class RunSheetRow:
    """One payout entry of a billing run, as its CSV/XLSX sheet and SEPA file show it.
    `number` is empty while the entry is a PREVIEW; `account` is None when the partner gave
    no bank details (or the viewer may not see them)."""

    number: str
    partner_id: str  # the partner's global id
    partner: str  # the partner's name
    currency: str
    net: Decimal
    vat: Decimal
    gross: Decimal
    status: str  # PREVIEW, CONFIRMED, PAID, CANCELLED
    account: BankAccount | None = None
    payment_reference: str = ""

    def __post_init__(self) -> None:
        require_currency(self.currency, ("currency",))
        for name in ("net", "vat", "gross"):
            _require_final(getattr(self, name), self.currency, (name,))
        if self.gross != self.net + self.vat:
            raise DomainError(
                "DOCUMENT_GROSS_MISMATCH",
                f"entry {self.number}: gross is not net plus VAT",
                ("gross",),
            )


SEPA_CURRENCY = "EUR"


def check_sepa_payable(rows: Sequence[RunSheetRow]) -> None:
    """Refuses, all problems at once, payout entries a SEPA credit transfer cannot pay: SEPA
    pays euros only, to an IBAN, for a confirmed entry of a positive amount."""
    errors: list[DomainError] = []
    if not rows:
        errors.append(
            DomainError("SEPA_NO_ENTRIES", "no confirmed EUR entry to transfer", ("entries",))
        )
    for index, row in enumerate(rows):
        at = ("entries", str(index))
        name = row.number or row.partner
        if row.currency != SEPA_CURRENCY:
            errors.append(
                DomainError(
                    "SEPA_CURRENCY_NOT_EUR",
                    f"entry {name} is in {row.currency}: a SEPA credit transfer pays EUR only",
                    (*at, "currency"),
                )
            )
        if row.account is None or not row.account.iban.strip():
            errors.append(
                DomainError(
                    "SEPA_IBAN_MISSING",
                    f"partner {row.partner} of entry {name} has no IBAN",
                    (*at, "iban"),
                )
            )
        if row.status != "CONFIRMED":
            errors.append(
                DomainError(
                    "SEPA_ENTRY_NOT_CONFIRMED",
                    f"entry {name} is {row.status}: only confirmed entries are paid",
                    (*at, "status"),
                )
            )
        if row.gross <= 0:
            errors.append(
                DomainError(
                    "SEPA_AMOUNT_NOT_POSITIVE",
                    f"entry {name} pays {row.gross}: nothing to transfer",
                    (*at, "gross"),
                )
            )
    if errors:
        raise ValidationFailed(errors)
