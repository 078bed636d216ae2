"""Billing: runs, payout entries and advertiser invoices (queries and actions), and the billing
data mutations. Thin: decode input, call `portal.services.billing_*`, map to types."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry

from portal.adapters.billing_reader import BillingFilter, BillingReader
from portal.adapters.billing_store import list_vat_rates, load_issuer
from portal.adapters.pagination import PageRequest
from portal.adapters.tables import advertiser_invoices, payout_entries
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.billing.model import BillingAction, BillingStatus
from portal.domain.billing.vat import TaxStatus
from portal.domain.errors import DomainError
from portal.resolvers.support import (
    MUTATION_INPUT,
    Info,
    require_pk,
    run_in_uow,
    user_error_type,
)
from portal.schema.arguments import After, Before, FilterArg, First, Last
from portal.schema.errors import bad_input
from portal.schema.ids import decode_typed
from portal.schema.scalars import CurrencyCode
from portal.schema.types.base import Connection
from portal.schema.types.billing import (
    AdvertiserInvoice,
    BillingRun,
    BillingStatusEnum,
    PayoutEntry,
)
from portal.schema.types.billing_data import (
    AdvertiserBilling,
    BillingIssuer,
    NetworkFee,
    PartnerBilling,
    TaxStatusEnum,
    VatRate,
)
from portal.services import billing_actions, billing_data, billing_runs

BAD_DATA = ["INVALID_VAT_ID", "INVALID_IBAN", "INVALID_BIC", "TOO_LONG", "OUT_OF_RANGE"]
PartnerBillingCode, PartnerBillingError = user_error_type("UpdatePartnerBilling", BAD_DATA)
AdvertiserBillingCode, AdvertiserBillingError = user_error_type(
    "UpdateAdvertiserBilling", [*BAD_DATA, "INVALID_COUNTRY", "REQUIRED"]
)
NetworkFeeCode, NetworkFeeError = user_error_type(
    "SetNetworkFee", ["OUT_OF_RANGE", "REQUIRED", "INVALID_DATETIME"]
)
IssuerCode, IssuerError = user_error_type(
    "UpdateBillingIssuer",
    [
        "INVALID_VAT_ID",
        "INVALID_COUNTRY",
        "INVALID_PREFIX",
        "BLANK",
        "TOO_LONG",
        "OUT_OF_RANGE",
        "INVALID_IBAN",
        "INVALID_BIC",
    ],
)
VatRateCode, VatRateError = user_error_type("SetVatRate", ["INVALID_COUNTRY", "OUT_OF_RANGE"])
StartRunCode, StartRunError = user_error_type(
    "StartBillingRun",
    [
        "PERIOD_IN_FUTURE",
        "PROGRAM_NOT_FOUND",
        "PARTNER_WITHOUT_PAYOUT_CURRENCY",
        "PARTNER_WITHOUT_COUNTRY",
    ],
)
ACTION_CODES = ["NOT_PREVIEW", "NOT_CONFIRMED", "REQUIRED", "TOO_LONG", "TOO_MANY"]
EntryActionCode, EntryActionError = user_error_type("PayoutEntryAction", ACTION_CODES)
InvoiceActionCode, InvoiceActionError = user_error_type("AdvertiserInvoiceAction", ACTION_CODES)


def _unset(value: Any) -> Any:
    return billing_data.UNSET if value is strawberry.UNSET else value


# -- billing data -------------------------------------------------------------------------------


@strawberry.input(description="Changes to a partner's billing data; omitted fields keep theirs.")
class UpdatePartnerBillingInput:
    partner_id: strawberry.ID = strawberry.field(description="The partner (yours, or admins).")
    vat_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="VAT id of the partner's country; null clears it."
    )
    tax_status: TaxStatusEnum | None = strawberry.field(
        default=strawberry.UNSET, description="REGULAR or SMALL_BUSINESS."
    )
    payout_minimum: Decimal | None = strawberry.field(
        default=strawberry.UNSET,
        description="Own payout minimum (payout currency); null: the network default.",
    )
    iban: str | None = strawberry.field(default=strawberry.UNSET, description="IBAN.")
    bic: str | None = strawberry.field(default=strawberry.UNSET, description="BIC.")
    billing_address: str | None = strawberry.field(
        default=strawberry.UNSET, description="Billing address (up to 1000 characters)."
    )


@strawberry.type(description="The partner's billing data after the change.")
class UpdatePartnerBillingPayload:
    partner_billing: PartnerBilling | None = strawberry.field(description="Billing data.")
    user_errors: list[PartnerBillingError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(
    description="Changes to an advertiser's billing data; omitted fields keep theirs."
)
class UpdateAdvertiserBillingInput:
    advertiser_id: strawberry.ID = strawberry.field(description="The advertiser.")
    country: str | None = strawberry.field(
        default=strawberry.UNSET, description="ISO 3166-1 alpha-2 country."
    )
    vat_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="VAT id of that country; null clears it."
    )
    billing_address: str | None = strawberry.field(
        default=strawberry.UNSET, description="Billing address."
    )


@strawberry.type(description="The advertiser's billing data after the change.")
class UpdateAdvertiserBillingPayload:
    advertiser_billing: AdvertiserBilling | None = strawberry.field(description="Billing data.")
    user_errors: list[AdvertiserBillingError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(description="A program's network fee from a time on (admins).")
class SetNetworkFeeInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    valid_from: datetime = strawberry.field(description="For conversions tracked from then on.")
    percentage: Decimal | None = strawberry.field(
        default=None, description="Percent of the commission (0–100)."
    )
    fixed_amount: Decimal | None = strawberry.field(
        default=None, description="Per conversion, in the program currency."
    )


@strawberry.type(description="The fee set.")
class SetNetworkFeePayload:
    network_fee: NetworkFee | None = strawberry.field(description="The fee.")
    user_errors: list[NetworkFeeError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(description="Changes to the issuer record (admins); omitted fields keep theirs.")
class UpdateBillingIssuerInput:
    legal_name: str | None = strawberry.field(default=None, description="Legal name.")
    address: str | None = strawberry.field(default=None, description="Address.")
    vat_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="VAT id; null clears it."
    )
    country: str | None = strawberry.field(default=None, description="Country.")
    credit_note_prefix: str | None = strawberry.field(
        default=None, description="Prefix of credit note numbers (default GS)."
    )
    invoice_prefix: str | None = strawberry.field(
        default=None, description="Prefix of invoice numbers (default RE)."
    )
    default_payout_minimum: Decimal | None = strawberry.field(
        default=None, description="Payout minimum of partners without their own."
    )
    iban: str | None = strawberry.field(
        default=strawberry.UNSET, description="The account payouts are made from (SEPA)."
    )
    bic: str | None = strawberry.field(default=strawberry.UNSET, description="Its BIC.")


@strawberry.type(description="The issuer after the change.")
class UpdateBillingIssuerPayload:
    issuer: BillingIssuer | None = strawberry.field(description="The issuer.")
    user_errors: list[IssuerError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(description="A country's standard VAT rate from a day on (admins).")
class SetVatRateInput:
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 country.")
    valid_from: date = strawberry.field(description="First day.")
    rate: Decimal = strawberry.field(description="Percent.")


@strawberry.type(description="The rate set.")
class SetVatRatePayload:
    vat_rate: VatRate | None = strawberry.field(description="The rate.")
    user_errors: list[VatRateError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


# -- runs -----------------------------------------------------------------------------------------


@strawberry.input(description="Bill the CONFIRMED conversions tracked up to the end of a day.")
class StartBillingRunInput:
    period_end: date = strawberry.field(description="Last day of the period (not in the future).")
    program_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Programs (default: all you may bill)."
    )
    dry_run: bool = strawberry.field(
        default=False, description="Compute and report only; write no entry or invoice."
    )


@strawberry.type(description="The queued run; poll it (node/billingRuns) until it ends.")
class StartBillingRunPayload:
    billing_run: BillingRun | None = strawberry.field(description="The run.")
    user_errors: list[StartRunError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


# -- actions --------------------------------------------------------------------------------------


@strawberry.input(description="One payout entry or invoice.")
class BillingDocumentInput:
    id: strawberry.ID = strawberry.field(description="Its id.")


@strawberry.input(description="Up to 100 payout entries or invoices; each is done on its own.")
class BillingDocumentsInput:
    ids: list[strawberry.ID] = strawberry.field(description="Their ids.")


@strawberry.input(description="Up to 100 CONFIRMED payout entries or invoices that were paid.")
class MarkPaidInput:
    ids: list[strawberry.ID] = strawberry.field(description="Their ids.")
    payment_reference: str = strawberry.field(description="The payment's reference (≤ 140).")
    payment_date: date | None = strawberry.field(
        default=None, description="The day it was paid (default today)."
    )


@strawberry.type(description="The payout entry after the action.")
class PayoutEntryPayload:
    payout_entry: PayoutEntry | None = strawberry.field(description="The entry.")
    user_errors: list[EntryActionError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.type(description="The outcome for one payout entry of a bulk call.")
class PayoutEntryResult:
    index: int = strawberry.field(description="Position in the input list.")
    id: strawberry.ID = strawberry.field(description="The id as given.")
    payout_entry: PayoutEntry | None = strawberry.field(description="The entry after it.")
    user_errors: list[EntryActionError] = strawberry.field(description="Problems of this one.")  # type: ignore[valid-type]


@strawberry.type(description="One result per id, in input order.")
class PayoutEntriesPayload:
    results: list[PayoutEntryResult] = strawberry.field(description="Per-entry outcomes.")
    user_errors: list[EntryActionError] = strawberry.field(description="Problems of the call.")  # type: ignore[valid-type]


@strawberry.type(description="The invoice after the action.")
class AdvertiserInvoicePayload:
    advertiser_invoice: AdvertiserInvoice | None = strawberry.field(description="The invoice.")
    user_errors: list[InvoiceActionError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.type(description="The outcome for one invoice of a bulk call.")
class AdvertiserInvoiceResult:
    index: int = strawberry.field(description="Position in the input list.")
    id: strawberry.ID = strawberry.field(description="The id as given.")
    advertiser_invoice: AdvertiserInvoice | None = strawberry.field(
        description="The invoice after it."
    )
    user_errors: list[InvoiceActionError] = strawberry.field(description="Problems of this one.")  # type: ignore[valid-type]


@strawberry.type(description="One result per id, in input order.")
class AdvertiserInvoicesPayload:
    results: list[AdvertiserInvoiceResult] = strawberry.field(description="Per-invoice outcomes.")
    user_errors: list[InvoiceActionError] = strawberry.field(description="Problems of the call.")  # type: ignore[valid-type]


_DOCS = {
    "PayoutEntry": (payout_entries, PayoutEntry, EntryActionError, EntryActionCode),
    "AdvertiserInvoice": (
        advertiser_invoices,
        AdvertiserInvoice,
        InvoiceActionError,
        InvoiceActionCode,
    ),
}


async def _one(info: Info, kind: str, raw: strawberry.ID, action: BillingAction) -> Any:
    table, gql, error_type, code_enum = _DOCS[kind]

    async def use_case(uow: UnitOfWork, viewer: Viewer) -> Any:
        pk = require_pk(raw, kind, "id")
        return gql.from_domain(await billing_actions.act(uow, viewer, table, pk, action))

    return await run_in_uow(info, error_type, code_enum, use_case)


async def _many(
    info: Info, kind: str, raw_ids: list[strawberry.ID], action: BillingAction, **options: Any
) -> tuple[list[Any], list[Any]]:
    table, gql, error_type, code_enum = _DOCS[kind]
    ids: list[tuple[int | None, DomainError | None]] = []
    for index, raw in enumerate(raw_ids):
        try:
            ids.append((decode_typed(raw, kind, ("ids", str(index))), None))
        except DomainError as error:
            ids.append((None, error))

    async def use_case(uow: UnitOfWork, viewer: Viewer) -> list[billing_actions.ActionOutcome]:
        return await billing_actions.act_on_many(uow, viewer, table, ids, action, **options)

    outcomes, errors = await run_in_uow(info, error_type, code_enum, use_case)
    results = []
    for index, (raw, outcome) in enumerate(zip(raw_ids, outcomes or [], strict=False)):
        item_errors = []
        for e in outcome.errors:
            field = e.field if e.field else ("ids", str(index))
            item_errors.append(
                error_type(field=["input", *field], message=e.message, code=code_enum[e.code])
            )
        results.append(
            (
                index,
                raw,
                gql.from_domain(outcome.document) if outcome.document else None,
                item_errors,
            )
        )
    return results, errors


def _entry_results(results: list[Any]) -> list[PayoutEntryResult]:
    return [
        PayoutEntryResult(index=i, id=raw, payout_entry=doc, user_errors=errors)
        for i, raw, doc, errors in results
    ]


def _invoice_results(results: list[Any]) -> list[AdvertiserInvoiceResult]:
    return [
        AdvertiserInvoiceResult(index=i, id=raw, advertiser_invoice=doc, user_errors=errors)
        for i, raw, doc, errors in results
    ]


@strawberry.type
class BillingMutations:
    @strawberry.mutation(
        description="Change a partner's billing data (the partner itself or admins)."
    )
    async def update_partner_billing(
        self, info: Info, input: Annotated[UpdatePartnerBillingInput, MUTATION_INPUT]
    ) -> UpdatePartnerBillingPayload:
        change = billing_data.PartnerBillingChange(
            vat_id=_unset(input.vat_id),
            tax_status=TaxStatus(input.tax_status.value)
            if input.tax_status not in (None, strawberry.UNSET)
            else _unset(input.tax_status),
            payout_minimum=_unset(input.payout_minimum),
            iban=_unset(input.iban),
            bic=_unset(input.bic),
            billing_address=_unset(input.billing_address),
        )

        async def use_case(uow: UnitOfWork, viewer: Viewer) -> PartnerBilling:
            pk = require_pk(input.partner_id, "Partner", "partnerId")
            found = await billing_data.update_partner_billing(uow, viewer, pk, change)
            return PartnerBilling.of(found)

        result, errors = await run_in_uow(info, PartnerBillingError, PartnerBillingCode, use_case)
        return UpdatePartnerBillingPayload(partner_billing=result, user_errors=errors)

    @strawberry.mutation(
        description="Change an advertiser's billing data (the advertiser itself or admins)."
    )
    async def update_advertiser_billing(
        self, info: Info, input: Annotated[UpdateAdvertiserBillingInput, MUTATION_INPUT]
    ) -> UpdateAdvertiserBillingPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> AdvertiserBilling:
            pk = require_pk(input.advertiser_id, "Advertiser", "advertiserId")
            found = await billing_data.update_advertiser_billing(
                uow,
                viewer,
                pk,
                country=_unset(input.country),
                vat_id=_unset(input.vat_id),
                billing_address=_unset(input.billing_address),
            )
            return AdvertiserBilling.of(found)

        result, errors = await run_in_uow(
            info, AdvertiserBillingError, AdvertiserBillingCode, use_case
        )
        return UpdateAdvertiserBillingPayload(advertiser_billing=result, user_errors=errors)

    @strawberry.mutation(description="Set a program's network fee from a time on (admins).")
    async def set_network_fee(
        self, info: Info, input: Annotated[SetNetworkFeeInput, MUTATION_INPUT]
    ) -> SetNetworkFeePayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> NetworkFee:
            pk = require_pk(input.program_id, "Program", "programId")
            fee = await billing_data.set_network_fee(
                uow, viewer, pk, input.valid_from, input.percentage, input.fixed_amount
            )
            return NetworkFee.of(fee)

        result, errors = await run_in_uow(info, NetworkFeeError, NetworkFeeCode, use_case)
        return SetNetworkFeePayload(network_fee=result, user_errors=errors)

    @strawberry.mutation(description="Change the issuer record (admins).")
    async def update_billing_issuer(
        self, info: Info, input: Annotated[UpdateBillingIssuerInput, MUTATION_INPUT]
    ) -> UpdateBillingIssuerPayload:
        change = billing_data.IssuerChange(
            legal_name=input.legal_name,
            address=input.address,
            vat_id=_unset(input.vat_id),
            country=input.country,
            credit_note_prefix=input.credit_note_prefix,
            invoice_prefix=input.invoice_prefix,
            default_payout_minimum=input.default_payout_minimum,
            iban=_unset(input.iban),
            bic=_unset(input.bic),
        )

        async def use_case(uow: UnitOfWork, viewer: Viewer) -> BillingIssuer:
            return BillingIssuer.of(await billing_data.update_issuer(uow, viewer, change))

        result, errors = await run_in_uow(info, IssuerError, IssuerCode, use_case)
        return UpdateBillingIssuerPayload(issuer=result, user_errors=errors)

    @strawberry.mutation(description="Set a country's standard VAT rate from a day on (admins).")
    async def set_vat_rate(
        self, info: Info, input: Annotated[SetVatRateInput, MUTATION_INPUT]
    ) -> SetVatRatePayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> VatRate:
            rate = await billing_data.set_vat_rate(
                uow, viewer, input.country, input.valid_from, input.rate
            )
            return VatRate.of(rate)

        result, errors = await run_in_uow(info, VatRateError, VatRateCode, use_case)
        return SetVatRatePayload(vat_rate=result, user_errors=errors)

    @strawberry.mutation(
        description="Bill programs up to the end of a day, in the background (admins: any "
        "programs; advertisers: their own)."
    )
    async def start_billing_run(
        self, info: Info, input: Annotated[StartBillingRunInput, MUTATION_INPUT]
    ) -> StartBillingRunPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> int:
            pks = tuple(
                require_pk(raw, "Program", "programIds", str(i))
                for i, raw in enumerate(input.program_ids or [])
            )
            return await billing_runs.start_billing_run(
                uow, viewer, input.period_end, pks, input.dry_run
            )

        run_id, errors = await run_in_uow(info, StartRunError, StartRunCode, use_case)
        run = None
        if run_id is not None:
            found = await info.context.loaders.load("BillingRun", run_id)
            run = BillingRun.from_domain(found) if found else None
        return StartBillingRunPayload(billing_run=run, user_errors=errors)

    @strawberry.mutation(description="Confirm a PREVIEW payout entry: it gets its number (admins).")
    async def confirm_payout_entry(
        self, info: Info, input: Annotated[BillingDocumentInput, MUTATION_INPUT]
    ) -> PayoutEntryPayload:
        entry, errors = await _one(info, "PayoutEntry", input.id, BillingAction.CONFIRM)
        return PayoutEntryPayload(payout_entry=entry, user_errors=errors)

    @strawberry.mutation(description="Confirm up to 100 PREVIEW payout entries (admins).")
    async def confirm_payout_entries(
        self, info: Info, input: Annotated[BillingDocumentsInput, MUTATION_INPUT]
    ) -> PayoutEntriesPayload:
        results, errors = await _many(info, "PayoutEntry", input.ids, BillingAction.CONFIRM)
        return PayoutEntriesPayload(results=_entry_results(results), user_errors=errors)

    @strawberry.mutation(description="Mark up to 100 CONFIRMED payout entries paid (admins).")
    async def mark_payout_entries_paid(
        self, info: Info, input: Annotated[MarkPaidInput, MUTATION_INPUT]
    ) -> PayoutEntriesPayload:
        results, errors = await _many(
            info, "PayoutEntry", input.ids, BillingAction.MARK_PAID,
            payment_reference=input.payment_reference, payment_date=input.payment_date,
        )  # fmt: skip
        return PayoutEntriesPayload(results=_entry_results(results), user_errors=errors)

    @strawberry.mutation(
        description="Cancel a PREVIEW payout entry: its conversions are released (admins)."
    )
    async def cancel_payout_entry(
        self, info: Info, input: Annotated[BillingDocumentInput, MUTATION_INPUT]
    ) -> PayoutEntryPayload:
        entry, errors = await _one(info, "PayoutEntry", input.id, BillingAction.CANCEL)
        return PayoutEntryPayload(payout_entry=entry, user_errors=errors)

    @strawberry.mutation(description="Confirm a PREVIEW invoice: it gets its number (admins).")
    async def confirm_advertiser_invoice(
        self, info: Info, input: Annotated[BillingDocumentInput, MUTATION_INPUT]
    ) -> AdvertiserInvoicePayload:
        invoice, errors = await _one(info, "AdvertiserInvoice", input.id, BillingAction.CONFIRM)
        return AdvertiserInvoicePayload(advertiser_invoice=invoice, user_errors=errors)

    @strawberry.mutation(description="Confirm up to 100 PREVIEW invoices (admins).")
    async def confirm_advertiser_invoices(
        self, info: Info, input: Annotated[BillingDocumentsInput, MUTATION_INPUT]
    ) -> AdvertiserInvoicesPayload:
        results, errors = await _many(info, "AdvertiserInvoice", input.ids, BillingAction.CONFIRM)
        return AdvertiserInvoicesPayload(results=_invoice_results(results), user_errors=errors)

    @strawberry.mutation(description="Mark up to 100 CONFIRMED invoices paid (admins).")
    async def mark_advertiser_invoices_paid(
        self, info: Info, input: Annotated[MarkPaidInput, MUTATION_INPUT]
    ) -> AdvertiserInvoicesPayload:
        results, errors = await _many(
            info, "AdvertiserInvoice", input.ids, BillingAction.MARK_PAID,
            payment_reference=input.payment_reference, payment_date=input.payment_date,
        )  # fmt: skip
        return AdvertiserInvoicesPayload(results=_invoice_results(results), user_errors=errors)

    @strawberry.mutation(
        description="Cancel a PREVIEW invoice: its conversions are released (admins)."
    )
    async def cancel_advertiser_invoice(
        self, info: Info, input: Annotated[BillingDocumentInput, MUTATION_INPUT]
    ) -> AdvertiserInvoicePayload:
        invoice, errors = await _one(info, "AdvertiserInvoice", input.id, BillingAction.CANCEL)
        return AdvertiserInvoicePayload(advertiser_invoice=invoice, user_errors=errors)


# -- queries --------------------------------------------------------------------------------------


@strawberry.input(description="Filter of payout entries and advertiser invoices.")
class BillingFilterInput:
    statuses: list[BillingStatusEnum] | None = strawberry.field(
        default=None, description="Statuses."
    )
    currencies: list[CurrencyCode] | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Currencies (payout or program currency)."
    )
    partner_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Partners."
    )
    program_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Programs."
    )
    billing_run_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Runs."
    )
    period_end_from: date | None = strawberry.field(
        default=None, description="Period ending on or after this day."
    )
    period_end_to: date | None = strawberry.field(
        default=None, description="Period ending on or before this day."
    )


def _filter(f: BillingFilterInput | None) -> BillingFilter:
    if f is None:
        return BillingFilter()

    def pks(raw: list[strawberry.ID] | None, kind: str, field: str) -> tuple[int, ...]:
        return tuple(decode_typed(i, kind, (field,)) for i in raw or ())

    return BillingFilter(
        statuses=tuple(BillingStatus(s.value) for s in f.statuses or ()),
        currencies=tuple(f.currencies or ()),
        partner_ids=pks(f.partner_ids, "Partner", "partnerIds"),
        program_ids=pks(f.program_ids, "Program", "programIds"),
        run_ids=pks(f.billing_run_ids, "BillingRun", "billingRunIds"),
        period_from=f.period_end_from,
        period_to=f.period_end_to,
    )


@strawberry.type
class BillingQueries:
    @strawberry.field(description="Billing runs, newest first (yours; admins: all).")
    async def billing_runs(
        self, info: Info, first: First = None, after: After = None, last: Last = None,
        before: Before = None,
    ) -> Connection[BillingRun]:  # fmt: skip
        reader = BillingReader(info.context.engine, info.context.require_viewer())
        try:
            listing = await reader.list_runs(PageRequest(first, after, last, before))
        except DomainError as error:
            raise bad_input(error) from None
        return Connection.of(listing, BillingRun.from_domain)  # type: ignore[return-value]

    @strawberry.field(
        description="Payout entries, newest first: a partner its own, an advertiser those with "
        "lines of its programs, admins all."
    )
    async def payout_entries(
        self, info: Info, first: First = None, after: After = None, last: Last = None,
        before: Before = None, filter: Annotated[BillingFilterInput | None, FilterArg] = None,
    ) -> Connection[PayoutEntry]:  # fmt: skip
        reader = BillingReader(info.context.engine, info.context.require_viewer())
        try:
            listing = await reader.list_entries(
                _filter(filter), PageRequest(first, after, last, before)
            )
        except DomainError as error:
            raise bad_input(error) from None
        return Connection.of(listing, PayoutEntry.from_domain)  # type: ignore[return-value]

    @strawberry.field(
        description="Advertiser invoices, newest first: an advertiser its own, admins all."
    )
    async def advertiser_invoices(
        self, info: Info, first: First = None, after: After = None, last: Last = None,
        before: Before = None, filter: Annotated[BillingFilterInput | None, FilterArg] = None,
    ) -> Connection[AdvertiserInvoice]:  # fmt: skip
        reader = BillingReader(info.context.engine, info.context.require_viewer())
        try:
            listing = await reader.list_invoices(
                _filter(filter), PageRequest(first, after, last, before)
            )
        except DomainError as error:
            raise bad_input(error) from None
        return Connection.of(listing, AdvertiserInvoice.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="The network as issuer of credit notes and invoices.")
    async def billing_issuer(self, info: Info) -> BillingIssuer:
        info.context.require_viewer()
        async with UnitOfWork(info.context.engine, writes=False) as uow:
            return BillingIssuer.of(await load_issuer(uow))

    @strawberry.field(description="VAT rates, by country and start day.")
    async def vat_rates(
        self,
        info: Info,
        country: Annotated[
            str | None, strawberry.argument(description="Only this country.")
        ] = None,
    ) -> list[VatRate]:
        info.context.require_viewer()
        async with UnitOfWork(info.context.engine, writes=False) as uow:
            return [VatRate.of(rate) for rate in await list_vat_rates(uow, country)]
