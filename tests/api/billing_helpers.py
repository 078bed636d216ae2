"""A world ready to bill: the factories' world with CONFIRMED conversions, today's exchange
rates, a network fee and billing data; GraphQL documents of the billing API."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.rate_store import upsert_rates
from portal.adapters.tables import conversions, exchange_rates
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.conversions import ConversionStatus
from portal.domain.exchange_rates import ReferenceRate
from portal.global_ids import encode_id
from portal.services.billing_data import set_vat_rate
from tests.conftest import Api
from tests.factories import ADMIN, World, build_world

PERIOD_END = "2026-03-31"
ERRORS = "userErrors { field code message }"
ENTRY_FIELDS = """
  id number status currency periodEnd
  partner { id name }
  lines { program { id } count programAmount { amount currency } exchangeRate rateDate
          amount { amount currency } }
  net { amount currency } vat { rate amount { amount } note } gross { amount currency }
  history { createdAt confirmedAt paidAt paymentReference paymentDate cancelledAt
            confirmedBy { id } }
"""
INVOICE_FIELDS = """
  id number status currency periodEnd conversionCount program { id }
  lines { kind quantity amount { amount currency } }
  net { amount } vat { rate amount { amount } note } gross { amount }
"""
RUN_FIELDS = """
  id status periodEnd dryRun processed error
  report { runDate conversionCount invoicedCount invoiceCount nothingToBill
           entries { partner { id } currency conversionCount net { amount } gross { amount } }
           carriedOver { partner { id } currency net { amount } minimum { amount } }
           failures { partner { id } code message } }
"""
START = f"""
mutation Start($input: StartBillingRunInput!) {{
  startBillingRun(input: $input) {{ billingRun {{ id status }} {ERRORS} }}
}}"""
RUN = f"query Run($id: ID!) {{ node(id: $id) {{ ... on BillingRun {{ {RUN_FIELDS} }} }} }}"
ENTRIES = f"""
query Entries($filter: BillingFilterInput) {{
  payoutEntries(first: 100, filter: $filter) {{ totalCount nodes {{ {ENTRY_FIELDS} }} }}
}}"""
INVOICES = f"""
query Invoices($filter: BillingFilterInput) {{
  advertiserInvoices(first: 100, filter: $filter) {{ totalCount nodes {{ {INVOICE_FIELDS} }} }}
}}"""
CONFIRM_ENTRIES = f"""
mutation Confirm($input: BillingDocumentsInput!) {{
  confirmPayoutEntries(input: $input) {{
    results {{ index id payoutEntry {{ id number status }} {ERRORS} }} {ERRORS}
  }}
}}"""
PAY_ENTRIES = f"""
mutation Pay($input: MarkPaidInput!) {{
  markPayoutEntriesPaid(input: $input) {{
    results {{ index payoutEntry {{ id status history {{ paymentReference paymentDate }} }}
               {ERRORS} }} {ERRORS}
  }}
}}"""
CANCEL_ENTRY = f"""
mutation Cancel($input: BillingDocumentInput!) {{
  cancelPayoutEntry(input: $input) {{ payoutEntry {{ id status }} {ERRORS} }}
}}"""
CONFIRM_INVOICE = f"""
mutation ConfirmInvoice($input: BillingDocumentInput!) {{
  confirmAdvertiserInvoice(input: $input) {{ advertiserInvoice {{ id number status }} {ERRORS} }}
}}"""
PAY_INVOICES = f"""
mutation PayInvoices($input: MarkPaidInput!) {{
  markAdvertiserInvoicesPaid(input: $input) {{
    results {{ advertiserInvoice {{ id status }} {ERRORS} }} {ERRORS}
  }}
}}"""
CANCEL_INVOICE = f"""
mutation CancelInvoice($input: BillingDocumentInput!) {{
  cancelAdvertiserInvoice(input: $input) {{ advertiserInvoice {{ id status }} {ERRORS} }}
}}"""
SET_FEE = f"""
mutation Fee($input: SetNetworkFeeInput!) {{
  setNetworkFee(input: $input) {{ networkFee {{ validFrom percentage fixedAmount }} {ERRORS} }}
}}"""
PARTNER_BILLING = f"""
mutation PartnerBilling($input: UpdatePartnerBillingInput!) {{
  updatePartnerBilling(input: $input) {{
    partnerBilling {{ vatId taxStatus payoutMinimum iban bic billingAddress }} {ERRORS}
  }}
}}"""
ADVERTISER_BILLING = f"""
mutation AdvertiserBilling($input: UpdateAdvertiserBillingInput!) {{
  updateAdvertiserBilling(input: $input) {{
    advertiserBilling {{ country vatId billingAddress }} {ERRORS}
  }}
}}"""
CONVERSION = """
query Conversion($id: ID!) {
  conversion(id: $id) { id paid payoutReserved payoutEntry { id status } }
}"""


def gid(kind: str, pk: int) -> str:
    return encode_id(kind, pk)


async def confirm_conversions(engine: AsyncEngine, *where: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(conversions).where(*where).values(status=ConversionStatus.CONFIRMED.value)
        )


async def set_rates(engine: AsyncEngine, day: date | None = None, **rates: str) -> None:
    """EUR-based reference rates of `day` (default today, the run date)."""
    day = day or datetime.now(UTC).date()
    async with engine.begin() as conn:
        await upsert_rates(
            conn, [ReferenceRate("EUR", c, day, Decimal(r)) for c, r in rates.items()]
        )


async def drop_rates(engine: AsyncEngine, currency: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(exchange_rates).where(exchange_rates.c.currency == currency))


async def billing_world(engine: AsyncEngine) -> World:
    """Partners A (EUR, DE) and B (EUR, AT) in program 1 (EUR), C (USD, US) in program 2 (JPY),
    three CONFIRMED conversions each in March 2026; USD and JPY rates of today."""
    world = await build_world(engine)
    await confirm_conversions(engine)
    await set_rates(engine, USD="1.1", JPY="160")
    async with UnitOfWork(engine) as uow:  # the seeded rate (PostgreSQL tests truncate it)
        await set_vat_rate(uow, ADMIN, "DE", date(2025, 1, 1), Decimal(19))
        await uow.commit()
    return world


async def mutate(api: Api, document: str, token: str, **input: Any) -> dict[str, Any]:
    data = await api.data(document, {"input": input}, token=token)
    payload: dict[str, Any] = next(iter(data.values()))
    return payload


async def start_run(api: Api, token: str, **input: Any) -> dict[str, Any]:
    """Starts a run, waits for its job, and answers the run as its author sees it."""
    input.setdefault("periodEnd", PERIOD_END)
    payload = await mutate(api, START, token, **input)
    assert payload["userErrors"] == [], payload
    await api.drain_jobs()
    run: dict[str, Any] = (await api.data(RUN, {"id": payload["billingRun"]["id"]}, token))["node"]
    return run


async def entries(api: Api, token: str, **filter: Any) -> list[dict[str, Any]]:
    data = await api.data(ENTRIES, {"filter": filter or None}, token)
    nodes: list[dict[str, Any]] = data["payoutEntries"]["nodes"]
    return nodes


async def invoices(api: Api, token: str, **filter: Any) -> list[dict[str, Any]]:
    data = await api.data(INVOICES, {"filter": filter or None}, token)
    nodes: list[dict[str, Any]] = data["advertiserInvoices"]["nodes"]
    return nodes


async def commissions(engine: AsyncEngine, ids: list[int]) -> list[Decimal]:
    async with engine.connect() as conn:
        return list(
            await conn.scalars(
                select(conversions.c.commission)
                .where(conversions.c.id.in_(ids))
                .order_by(conversions.c.id)
            )
        )
