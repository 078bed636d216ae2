"""Billing: runs, payout entries (self-billing credit notes to partners), advertiser invoices,
and the billing data of partners, advertisers, programs and the issuer."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import strawberry

from portal.adapters.billing_reader import BillingReader, RunView
from portal.domain.billing import model as domain
from portal.domain.money import without_padding
from portal.schema.ids import encode_id
from portal.schema.scalars import CurrencyCode
from portal.schema.types.access import User
from portal.schema.types.base import Money, Node, to_money
from portal.schema.types.jobs import JobStatusEnum
from portal.schema.types.partners import Partner
from portal.schema.types.programs import Program
from portal.web.downloads import billing_url

if TYPE_CHECKING:
    from portal.schema.context import Context

_ISSUED = (domain.BillingStatus.CONFIRMED, domain.BillingStatus.PAID)

BillingStatusEnum = strawberry.enum(
    domain.BillingStatus,
    description="PREVIEW → CONFIRMED (numbered) → PAID; a PREVIEW may be CANCELLED, which "
    "releases its conversions.",
)
InvoiceLineKindEnum = strawberry.enum(
    domain.InvoiceLineKind, description="COMMISSIONS or NETWORK_FEE."
)


def _reader(info: strawberry.Info[Context, None]) -> BillingReader:
    return BillingReader(info.context.engine, info.context.require_viewer())


async def _partner(info: strawberry.Info[Context, None], pk: int) -> Partner | None:
    found = await info.context.loaders.load("Partner", pk)
    return Partner.from_domain(found) if found else None


async def _program(info: strawberry.Info[Context, None], pk: int) -> Program | None:
    found = await info.context.loaders.load("Program", pk)
    return Program.from_domain(found) if found else None


async def _user(info: strawberry.Info[Context, None], pk: int | None) -> User | None:
    found = await info.context.loaders.load("User", pk)
    return User.from_domain(found) if found else None


@strawberry.type(description="The VAT of a document: rate, amount, and the note it carries.")
class Vat:
    rate: Decimal = strawberry.field(description='Percent, e.g. "19".')
    amount: Money = strawberry.field(description="VAT, rounded once on the net.")
    note: str | None = strawberry.field(
        description="Reverse charge, not taxable, or small business note; null for plain VAT."
    )


@strawberry.type(description="Who did what to a document, and when.")
class BillingHistory:
    created_at: datetime = strawberry.field(description="When the run made it (PREVIEW).")
    confirmed_at: datetime | None = strawberry.field(description="When it was confirmed.")
    paid_at: datetime | None = strawberry.field(description="When it was marked paid.")
    payment_reference: str | None = strawberry.field(description="The payment's reference.")
    payment_date: date | None = strawberry.field(description="The day it was paid.")
    cancelled_at: datetime | None = strawberry.field(description="When it was cancelled.")
    confirmed_by_pk: strawberry.Private[int | None]
    paid_by_pk: strawberry.Private[int | None]
    cancelled_by_pk: strawberry.Private[int | None]

    @strawberry.field(description="Who confirmed it (null when not visible to you).")
    async def confirmed_by(self, info: strawberry.Info[Context, None]) -> User | None:
        return await _user(info, self.confirmed_by_pk)

    @strawberry.field(description="Who marked it paid (null when not visible to you).")
    async def paid_by(self, info: strawberry.Info[Context, None]) -> User | None:
        return await _user(info, self.paid_by_pk)

    @staticmethod
    def of(h: domain.History) -> BillingHistory:
        return BillingHistory(
            created_at=h.created_at,
            confirmed_at=h.confirmed_at,
            paid_at=h.paid_at,
            payment_reference=h.payment_reference,
            payment_date=h.payment_date,
            cancelled_at=h.cancelled_at,
            confirmed_by_pk=h.confirmed_by,
            paid_by_pk=h.paid_by,
            cancelled_by_pk=h.cancelled_by,
        )


@strawberry.type(description="A program's part of a payout entry.")
class PayoutEntryLine:
    count: int = strawberry.field(description="Conversions of the program.")
    program_amount: Money = strawberry.field(
        description="Their commissions, in the program currency."
    )
    exchange_rate: Decimal = strawberry.field(
        description="Units of the payout currency per unit of the program currency (ECB "
        "reference rate of the run date, shown to 12 places; amounts are computed exactly)."
    )
    rate_date: date = strawberry.field(
        description="The day of the rate actually used (up to 7 days before the run date)."
    )
    amount: Money = strawberry.field(description="In the payout currency, rounded once, half-up.")
    program_pk: strawberry.Private[int]

    @strawberry.field(description="The program.")
    async def program(self, info: strawberry.Info[Context, None]) -> Program | None:
        return await _program(info, self.program_pk)

    @staticmethod
    def of(line: domain.PayoutLine, currency: str) -> PayoutEntryLine:
        return PayoutEntryLine(
            count=line.count,
            program_amount=to_money(line.program_amount, line.program_currency),
            exchange_rate=without_padding(line.exchange_rate),
            rate_date=line.rate_date,
            amount=to_money(line.amount, currency),
            program_pk=line.program_id,
        )


@strawberry.type(
    description="What a partner is paid for a period, in its payout currency (a self-billing "
    "credit note once confirmed). A partner sees its own; an advertiser the entries with lines "
    "of its programs, with only those lines and without totals; admins all."
)
class PayoutEntry(Node):
    number: str | None = strawberry.field(
        description="Gap-free number (e.g. GS-2026-000001), given on confirmation."
    )
    status: BillingStatusEnum = strawberry.field(description="Where it is.")
    currency: CurrencyCode = strawberry.field(description="The payout currency.")  # type: ignore[valid-type]
    period_end: date = strawberry.field(description="Last day of the billed period.")
    history: BillingHistory = strawberry.field(description="Who did what, when.")
    pk: strawberry.Private[int]
    partner_pk: strawberry.Private[int]
    run_pk: strawberry.Private[int]
    entry: strawberry.Private[domain.PayoutEntry]

    @classmethod
    def from_domain(cls, e: domain.PayoutEntry) -> PayoutEntry:
        return cls(
            id=strawberry.ID(encode_id("PayoutEntry", e.id)),
            number=e.number,
            status=e.status,
            currency=e.currency,
            period_end=e.period_end,
            history=BillingHistory.of(e.history),
            pk=e.id,
            partner_pk=e.partner_id,
            run_pk=e.run_id,
            entry=e,
        )

    def _totals_visible(self, info: strawberry.Info[Context, None]) -> bool:
        viewer = info.context.require_viewer()
        return viewer.is_admin or viewer.partner_id == self.partner_pk

    @strawberry.field(description="The partner paid.")
    async def partner(self, info: strawberry.Info[Context, None]) -> Partner | None:
        return await _partner(info, self.partner_pk)

    @strawberry.field(description="One line per program (an advertiser: its programs only).")
    async def lines(self, info: strawberry.Info[Context, None]) -> list[PayoutEntryLine]:
        found = await info.context.loaders.batched(
            "payout_entry_lines", _reader(info).entry_lines
        ).load(self.pk)
        return [PayoutEntryLine.of(line, self.entry.currency) for line in found]

    @strawberry.field(description="Sum of the lines (null for an advertiser).")
    def net(self, info: strawberry.Info[Context, None]) -> Money | None:
        return to_money(self.entry.net, self.entry.currency) if self._totals_visible(info) else None

    @strawberry.field(description="VAT on the net (null for an advertiser).")
    def vat(self, info: strawberry.Info[Context, None]) -> Vat | None:
        if not self._totals_visible(info):
            return None
        e = self.entry
        return Vat(
            rate=without_padding(e.vat_rate),
            amount=to_money(e.vat_amount, e.currency),
            note=e.vat_note,
        )

    @strawberry.field(description="Net plus VAT (null for an advertiser).")
    def gross(self, info: strawberry.Info[Context, None]) -> Money | None:
        if not self._totals_visible(info):
            return None
        return to_money(self.entry.gross, self.entry.currency)

    @strawberry.field(description="The run that made it (null when not visible to you).")
    async def run(self, info: strawberry.Info[Context, None]) -> BillingRun | None:
        found = await info.context.loaders.load("BillingRun", self.run_pk)
        return BillingRun.from_domain(found) if found else None

    @strawberry.field(
        description="The self-billing credit note (PDF; plain GET, same authentication) once "
        "CONFIRMED or PAID; for the partner itself and admins, null otherwise."
    )
    def document_url(self, info: strawberry.Info[Context, None]) -> str | None:
        if self.entry.status not in _ISSUED or not self._totals_visible(info):
            return None
        return billing_url("payout-entries", str(self.id), "pdf")


@strawberry.type(description="A line of an advertiser invoice.")
class InvoiceLine:
    kind: InvoiceLineKindEnum = strawberry.field(description="What it charges.")
    quantity: int = strawberry.field(description="Conversions it covers.")
    amount: Money = strawberry.field(description="Rounded once, half-up.")


@strawberry.type(
    description="What an advertiser is charged for a program and period: the commissions, "
    "the network fee, VAT. Visible to the advertiser and admins."
)
class AdvertiserInvoice(Node):
    number: str | None = strawberry.field(
        description="Gap-free number (e.g. RE-2026-000001), given on confirmation."
    )
    status: BillingStatusEnum = strawberry.field(description="Where it is.")
    currency: CurrencyCode = strawberry.field(description="The program currency.")  # type: ignore[valid-type]
    period_end: date = strawberry.field(description="Last day of the billed period.")
    conversion_count: int = strawberry.field(description="Conversions invoiced.")
    net: Money = strawberry.field(description="Commissions plus network fee.")
    vat: Vat = strawberry.field(description="VAT on the net.")
    gross: Money = strawberry.field(description="Net plus VAT.")
    history: BillingHistory = strawberry.field(description="Who did what, when.")
    pk: strawberry.Private[int]
    program_pk: strawberry.Private[int]
    run_pk: strawberry.Private[int]

    @classmethod
    def from_domain(cls, i: domain.AdvertiserInvoice) -> AdvertiserInvoice:
        return cls(
            id=strawberry.ID(encode_id("AdvertiserInvoice", i.id)),
            number=i.number,
            status=i.status,
            currency=i.currency,
            period_end=i.period_end,
            conversion_count=i.conversion_count,
            net=to_money(i.net, i.currency),
            vat=Vat(
                rate=without_padding(i.vat_rate),
                amount=to_money(i.vat_amount, i.currency),
                note=i.vat_note,
            ),
            gross=to_money(i.gross, i.currency),
            history=BillingHistory.of(i.history),
            pk=i.id,
            program_pk=i.program_id,
            run_pk=i.run_id,
        )

    @strawberry.field(description="The program invoiced.")
    async def program(self, info: strawberry.Info[Context, None]) -> Program | None:
        return await _program(info, self.program_pk)

    @strawberry.field(
        description="The invoice (PDF; plain GET, same authentication) once CONFIRMED or PAID."
    )
    def document_url(self) -> str | None:
        if self.status not in _ISSUED:
            return None
        return billing_url("advertiser-invoices", str(self.id), "pdf")

    @strawberry.field(description="Commissions, then the network fee.")
    async def lines(self, info: strawberry.Info[Context, None]) -> list[InvoiceLine]:
        found = await info.context.loaders.batched(
            "invoice_lines", _reader(info).invoice_lines
        ).load(self.pk)
        currency = str(self.currency)
        return [
            InvoiceLine(
                kind=line.kind, quantity=line.quantity, amount=to_money(line.amount, currency)
            )
            for line in found
        ]

    @strawberry.field(description="The run that made it (null when not visible to you).")
    async def run(self, info: strawberry.Info[Context, None]) -> BillingRun | None:
        found = await info.context.loaders.load("BillingRun", self.run_pk)
        return BillingRun.from_domain(found) if found else None


@strawberry.type(description="A partner of a run and its amount.")
class BillingRunPartner:
    currency: CurrencyCode = strawberry.field(description="The payout currency.")  # type: ignore[valid-type]
    conversion_count: int | None = strawberry.field(description="Conversions (entries).")
    net: Money | None = strawberry.field(description="Net (entries, carried over).")
    gross: Money | None = strawberry.field(description="Gross (entries).")
    minimum: Money | None = strawberry.field(description="The payout minimum (carried over).")
    partner_pk: strawberry.Private[int]

    @strawberry.field(description="The partner.")
    async def partner(self, info: strawberry.Info[Context, None]) -> Partner | None:
        return await _partner(info, self.partner_pk)


@strawberry.type(description="A partner a run could not pay, and why.")
class BillingRunFailure:
    code: str = strawberry.field(
        description="MISSING_EXCHANGE_RATE, INVALID_COUNTRY or INVALID_PAYOUT_CURRENCY."
    )
    message: str = strawberry.field(description="For people.")
    partner_pk: strawberry.Private[int]

    @strawberry.field(description="The partner.")
    async def partner(self, info: strawberry.Info[Context, None]) -> Partner | None:
        return await _partner(info, self.partner_pk)


@strawberry.type(description="What a run did (or, dry, would do).")
class BillingRunReport:
    run_date: date = strawberry.field(description="The day whose exchange rates were used.")
    conversion_count: int = strawberry.field(description="Conversions put in payout entries.")
    invoiced_count: int = strawberry.field(description="Conversions put in invoices.")
    nothing_to_bill: bool = strawberry.field(description="No entry and no invoice.")
    entries: list[BillingRunPartner] = strawberry.field(description="Payout entries made.")
    carried_over: list[BillingRunPartner] = strawberry.field(
        description="Partners below their payout minimum: paid by a later run."
    )
    failures: list[BillingRunFailure] = strawberry.field(
        description="Partners not paid, with a code; the others were."
    )
    invoice_count: int = strawberry.field(description="Advertiser invoices made.")


def _money(raw: str | None, currency: str) -> Money | None:
    return None if raw is None else to_money(Decimal(raw), currency)


def _report(r: dict[str, Any]) -> BillingRunReport:
    return BillingRunReport(
        run_date=date.fromisoformat(r["runDate"]),
        conversion_count=r["conversionCount"],
        invoiced_count=r["invoicedCount"],
        nothing_to_bill=r.get("nothingToBill", False),
        entries=[
            BillingRunPartner(
                currency=e["currency"],
                conversion_count=e["count"],
                net=_money(e["net"], e["currency"]),
                gross=_money(e["gross"], e["currency"]),
                minimum=None,
                partner_pk=e["partnerId"],
            )
            for e in r["entries"]
        ],
        carried_over=[
            BillingRunPartner(
                currency=e["currency"],
                conversion_count=None,
                net=_money(e["amount"], e["currency"]),
                gross=None,
                minimum=_money(e["minimum"], e["currency"]),
                partner_pk=e["partnerId"],
            )
            for e in r["carriedOver"]
        ],
        failures=[
            BillingRunFailure(code=f["code"], message=f["message"], partner_pk=f["partnerId"])
            for f in r["failures"]
        ],
        invoice_count=len(r["invoices"]),
    )


@strawberry.type(
    description="A billing run: a job that bills the CONFIRMED conversions of programs up to "
    "the end of a period. Visible to its author and admins."
)
class BillingRun(Node):
    period_end: date = strawberry.field(description="Last day of the billed period.")
    dry_run: bool = strawberry.field(description="Computed and reported, nothing written.")
    status: JobStatusEnum = strawberry.field(description="Where the job is.")
    processed: int = strawberry.field(description="Conversions billed so far.")
    error: str | None = strawberry.field(description="Why it failed (`CODE: message`).")
    created_at: datetime = strawberry.field(description="When it was started.")
    finished_at: datetime | None = strawberry.field(description="When it ended.")
    report: BillingRunReport | None = strawberry.field(description="Null until it ends.")
    pk: strawberry.Private[int]
    program_pks: strawberry.Private[tuple[int, ...]]

    @classmethod
    def from_domain(cls, v: RunView) -> BillingRun:
        r = v.run
        return cls(
            id=strawberry.ID(encode_id("BillingRun", r.id)),
            period_end=r.period_end,
            dry_run=r.dry_run,
            status=v.status,
            processed=v.processed,
            error=v.error,
            created_at=r.created_at,
            finished_at=v.finished_at,
            report=_report(r.report) if r.report else None,
            pk=r.id,
            program_pks=r.program_ids,
        )

    @strawberry.field(
        description="The run's payout entries as CSV (plain GET, same authentication; bank "
        "accounts for admins only); null for a dry run."
    )
    def csv_url(self) -> str | None:
        return None if self.dry_run else billing_url("runs", str(self.id), "csv")

    @strawberry.field(description="The same as XLSX; null for a dry run.")
    def xlsx_url(self) -> str | None:
        return None if self.dry_run else billing_url("runs", str(self.id), "xlsx")

    @strawberry.field(
        description="SEPA credit transfer (pain.001) of the run's CONFIRMED EUR entries, from "
        "the issuer's account (admins only; null for others and for a dry run)."
    )
    def sepa_url(self, info: strawberry.Info[Context, None]) -> str | None:
        if self.dry_run or not info.context.require_viewer().is_admin:
            return None
        return billing_url("runs", str(self.id), "xml")

    @strawberry.field(description="The programs billed.")
    async def programs(self, info: strawberry.Info[Context, None]) -> list[Program]:
        found = await info.context.loaders.node("Program").load_many(list(self.program_pks))
        return [Program.from_domain(p) for p in found if p]


BILLING_TYPES: dict[str, Any] = {
    "BillingRun": BillingRun,
    "PayoutEntry": PayoutEntry,
    "AdvertiserInvoice": AdvertiserInvoice,
}
