"""Billing through the API (issue 11): a run bills CONFIRMED conversions once, per partner in
its payout currency and per program to the advertiser, with the network fee and VAT; entries
and invoices move PREVIEW → CONFIRMED (numbered) → PAID, or PREVIEW → CANCELLED; billed
conversions are locked."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import (
    advertiser_invoices,
    conversions,
    invoice_items,
    payout_entries,
    payout_items,
)
from portal.domain.exchange_rates import ExchangeRate, convert_amount
from tests.api.billing_helpers import (
    CANCEL_ENTRY,
    CANCEL_INVOICE,
    CONFIRM_ENTRIES,
    CONFIRM_INVOICE,
    CONVERSION,
    PARTNER_BILLING,
    PAY_ENTRIES,
    PAY_INVOICES,
    SET_FEE,
    START,
    billing_world,
    commissions,
    drop_rates,
    entries,
    gid,
    invoices,
    mutate,
    start_run,
)
from tests.api.order_world import RECORD_ORDER
from tests.api.request_helpers import change_input, create
from tests.conftest import Api, StatementCounter

TODAY = datetime.now(UTC).date()


async def count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def test_a_run_bills_partners_and_advertisers_once(api: Api, engine: AsyncEngine) -> None:
    w = await billing_world(engine)
    admin = w.tokens["admin"]
    fee = await mutate(
        api, SET_FEE, admin, programId=gid("Program", w.ids["p1"]),
        validFrom="2026-01-01T00:00:00+00:00", percentage="10", fixedAmount="0.10",
    )  # fmt: skip
    assert fee["userErrors"] == [] and fee["networkFee"]["percentage"] == "10"
    b = await mutate(
        api, PARTNER_BILLING, w.tokens["B"], partnerId=gid("Partner", w.ids["B"]),
        vatId="ATU13585627", iban="DE89 3704 0044 0532 0130 00", bic="COBADEFFXXX",
    )  # fmt: skip
    assert b["userErrors"] == [] and b["partnerBilling"]["vatId"] == "ATU13585627"

    run = await start_run(api, admin)

    assert run["status"] == "SUCCEEDED", run
    report = run["report"]
    assert report["conversionCount"] == 9 and report["invoicedCount"] == 9
    assert report["invoiceCount"] == 2 and report["nothingToBill"] is False
    assert report["failures"] == [] and report["carriedOver"] == []
    found = {e["partner"]["id"]: e for e in await entries(api, admin)}
    a = found[gid("Partner", w.ids["A"])]
    a_sum = sum(await commissions(engine, w.conversions["A"]), Decimal(0))
    assert a["status"] == "PREVIEW" and a["number"] is None and a["currency"] == "EUR"
    assert [line["count"] for line in a["lines"]] == [3]
    assert Decimal(a["net"]["amount"]) == a_sum
    assert Decimal(a["vat"]["rate"]) == 19 and a["vat"]["note"] is None  # domestic (DE)
    assert Decimal(a["vat"]["amount"]["amount"]) == (a_sum * Decimal("0.19")).quantize(
        Decimal("0.01"), rounding="ROUND_HALF_UP"
    )
    b_entry = found[gid("Partner", w.ids["B"])]
    assert Decimal(b_entry["vat"]["amount"]["amount"]) == 0
    assert "Reverse charge" in b_entry["vat"]["note"]
    # C: JPY commissions paid in USD at 1.1 / 160, rounded once.
    c = found[gid("Partner", w.ids["C"])]
    c_sum = sum(await commissions(engine, w.conversions["C"]), Decimal(0))
    line = c["lines"][0]
    rate = ExchangeRate("JPY", "USD", Decimal("1.1"), Decimal("160"), TODAY)
    assert line["programAmount"]["currency"] == "JPY"
    assert Decimal(line["programAmount"]["amount"]) == c_sum
    assert Decimal(line["amount"]["amount"]) == convert_amount(c_sum, rate, rounded=True)
    assert line["rateDate"] == TODAY.isoformat()
    assert Decimal(line["exchangeRate"]) == Decimal("0.006875")
    assert "Not taxable in DE" in c["vat"]["note"]
    # The advertiser invoice of program 1: commissions, 10 % + 0.10 per conversion, 19 % VAT.
    (p1,) = await invoices(api, admin, programIds=[gid("Program", w.ids["p1"])])
    p1_sum = a_sum + sum(await commissions(engine, w.conversions["B"]), Decimal(0))
    fee_amount = (p1_sum / 10 + Decimal("0.60")).quantize(Decimal("0.01"), "ROUND_HALF_UP")
    assert [(x["kind"], x["quantity"], Decimal(x["amount"]["amount"])) for x in p1["lines"]] == [
        ("COMMISSIONS", 6, p1_sum),
        ("NETWORK_FEE", 6, fee_amount),
    ]
    assert Decimal(p1["net"]["amount"]) == p1_sum + fee_amount
    assert p1["conversionCount"] == 6
    # The conversions are reserved, and a change of one is refused naming why.
    conversion = gid("Conversion", w.conversions["A"][0])
    seen = (await api.data(CONVERSION, {"id": conversion}, w.tokens["A"]))["conversion"]
    assert seen["payoutReserved"] is True and seen["paid"] is False
    assert seen["payoutEntry"]["id"] == a["id"]
    refused = await create(api, w.tokens["A"], change_input(conversion, {"orderValue": "80.00"}))
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("CONVERSION_RESERVED", ["input", "conversionId"])
    ]

    # A second run finds nothing left: nothing is billed twice.
    again = await start_run(api, admin)
    assert again["report"]["nothingToBill"] is True and again["report"]["entries"] == []
    assert await count(engine, payout_items) == 9 and await count(engine, invoice_items) == 9

    # Confirm A and C (numbers in order), cancel B (released), pay A.
    confirmed = await mutate(api, CONFIRM_ENTRIES, admin, ids=[a["id"], c["id"]])
    numbers = [r["payoutEntry"]["number"] for r in confirmed["results"]]
    assert numbers == [f"GS-{TODAY.year}-000001", f"GS-{TODAY.year}-000002"]
    twice = await mutate(api, CONFIRM_ENTRIES, admin, ids=[a["id"]])
    assert [e["code"] for e in twice["results"][0]["userErrors"]] == ["NOT_PREVIEW"]
    seen = (await api.data(CONVERSION, {"id": conversion}, w.tokens["A"]))["conversion"]
    assert seen["paid"] is True and seen["payoutReserved"] is False
    refused = await create(api, w.tokens["A"], change_input(conversion, {"orderValue": "80.00"}))
    assert [e["code"] for e in refused["userErrors"]] == ["CONVERSION_PAID"]

    cancelled = await mutate(api, CANCEL_ENTRY, admin, id=b_entry["id"])
    assert cancelled["payoutEntry"]["status"] == "CANCELLED"
    released = gid("Conversion", w.conversions["B"][0])
    seen = (await api.data(CONVERSION, {"id": released}, w.tokens["B"]))["conversion"]
    assert seen["payoutEntry"] is None and seen["payoutReserved"] is False
    not_again = await mutate(api, CONFIRM_ENTRIES, admin, ids=[b_entry["id"]])
    assert [e["code"] for e in not_again["results"][0]["userErrors"]] == ["NOT_PREVIEW"]

    unconfirmed_pay = await mutate(
        api, PAY_ENTRIES, admin, ids=[a["id"], b_entry["id"]], paymentReference="SEPA-42",
        paymentDate="2026-04-15",
    )  # fmt: skip
    paid, refused_pay = unconfirmed_pay["results"]
    assert paid["payoutEntry"]["status"] == "PAID" and paid["userErrors"] == []
    assert paid["payoutEntry"]["history"] == {
        "paymentReference": "SEPA-42",
        "paymentDate": "2026-04-15",
    }
    assert [e["code"] for e in refused_pay["userErrors"]] == ["NOT_CONFIRMED"]

    # B's released conversions go into the next run (its advertiser side was invoiced already).
    third = await start_run(api, admin)
    assert third["report"]["conversionCount"] == 3 and third["report"]["invoicedCount"] == 0

    invoice = await mutate(api, CONFIRM_INVOICE, admin, id=p1["id"])
    assert invoice["advertiserInvoice"]["number"] == f"RE-{TODAY.year}-000001"
    paid_invoice = await mutate(api, PAY_INVOICES, admin, ids=[p1["id"]], paymentReference="R1")
    assert paid_invoice["results"][0]["advertiserInvoice"]["status"] == "PAID"
    cancel_paid = await mutate(api, CANCEL_INVOICE, admin, id=p1["id"])
    assert [e["code"] for e in cancel_paid["userErrors"]] == ["NOT_PREVIEW"]


async def test_carry_over_missing_rate_and_dry_run(api: Api, engine: AsyncEngine) -> None:
    w = await billing_world(engine)
    admin = w.tokens["admin"]
    await mutate(
        api, PARTNER_BILLING, admin, partnerId=gid("Partner", w.ids["A"]), payoutMinimum="100"
    )
    await drop_rates(engine, "USD")

    dry = await start_run(api, admin, dryRun=True)

    assert dry["status"] == "SUCCEEDED" and dry["dryRun"] is True
    report = dry["report"]
    assert [e["partner"]["id"] for e in report["entries"]] == [gid("Partner", w.ids["B"])]
    (carried,) = report["carriedOver"]
    assert carried["partner"]["id"] == gid("Partner", w.ids["A"])
    assert Decimal(carried["minimum"]["amount"]) == 100
    (failure,) = report["failures"]
    assert failure["partner"]["id"] == gid("Partner", w.ids["C"])
    assert failure["code"] == "MISSING_EXCHANGE_RATE" and "USD" in failure["message"]
    for table in (payout_entries, payout_items, advertiser_invoices, invoice_items):
        assert await count(engine, table) == 0  # a dry run writes nothing

    real = await start_run(api, admin)
    assert len(real["report"]["entries"]) == 1 and real["report"]["invoiceCount"] == 2
    async with engine.connect() as conn:
        unpaid = await conn.scalar(
            select(func.count()).where(
                conversions.c.partner_id.in_([w.ids["A"], w.ids["C"]]),
                conversions.c.payout_entry_id.is_(None),
            )
        )
    assert unpaid == 6  # carried over and failed partners stay unpaid for the next run


async def test_nothing_to_bill_succeeds_with_zero_entries(api: Api, engine: AsyncEngine) -> None:
    w = await billing_world(engine)
    async with engine.begin() as conn:
        await conn.execute(update(conversions).values(status="OPEN"))
    run = await start_run(api, w.tokens["admin"])
    assert run["status"] == "SUCCEEDED"
    assert run["report"]["nothingToBill"] is True and run["report"]["entries"] == []


async def test_bad_input_is_coded_and_writes_nothing(api: Api, engine: AsyncEngine) -> None:
    w = await billing_world(engine)
    admin = w.tokens["admin"]

    async def start_errors(token: str, **input: object) -> list[tuple[str, list[str] | None]]:
        input.setdefault("periodEnd", "2026-03-31")
        payload = await mutate(api, START, token, **input)
        assert payload["billingRun"] is None
        return [(e["code"], e["field"]) for e in payload["userErrors"]]

    assert await start_errors(admin, periodEnd="2099-01-31") == [
        ("PERIOD_IN_FUTURE", ["input", "periodEnd"])
    ]
    assert await start_errors(admin, programIds=[gid("Program", 987654)]) == [
        ("PROGRAM_NOT_FOUND", ["input", "programIds", "0"])
    ]
    foreign = [gid("Program", w.ids["p1"]), gid("Program", w.ids["p2"])]
    assert await start_errors(w.tokens["adv1"], programIds=foreign) == [
        ("PROGRAM_NOT_FOUND", ["input", "programIds", "1"])
    ]
    assert [c for c, _ in await start_errors(w.tokens["A"])] == ["PERMISSION_DENIED"]
    async with engine.begin() as conn:
        from portal.adapters.tables import partners

        await conn.execute(update(partners).where(partners.c.id == w.ids["C"]).values(country="?"))
    assert [c for c, _ in await start_errors(admin)] == ["PARTNER_WITHOUT_COUNTRY"]
    assert await count(engine, payout_entries) == 0

    bad = await mutate(
        api, PARTNER_BILLING, w.tokens["A"], partnerId=gid("Partner", w.ids["A"]),
        vatId="DE136695977", iban="DE89 3704 0044 0532 0130 01", billingAddress="Hauptstr. 1",
    )  # fmt: skip
    assert bad["partnerBilling"] is None
    assert sorted((e["code"], tuple(e["field"])) for e in bad["userErrors"]) == [
        ("INVALID_IBAN", ("input", "iban")),
        ("INVALID_VAT_ID", ("input", "vatId")),
    ]
    other = await mutate(
        api, PARTNER_BILLING, w.tokens["A"], partnerId=gid("Partner", w.ids["B"]), bic="COBADEFFXXX"
    )
    assert [e["code"] for e in other["userErrors"]] == ["NOT_FOUND"]


PAGES = [
    """query Page($first: Int!) {
      payoutEntries(first: $first) {
        totalCount
        nodes { id net { amount } partner { id name } run { id report { conversionCount } }
                lines { count program { id name } } history { confirmedBy { id } } }
      }
    }""",
    """query Page($first: Int!) {
      advertiserInvoices(first: $first) {
        nodes { id program { id } lines { kind amount { amount } } run { id } }
      }
    }""",
]


async def test_billing_lists_run_a_fixed_number_of_statements(
    api: Api, engine: AsyncEngine, statements: StatementCounter
) -> None:
    w = await billing_world(engine)
    admin = w.tokens["admin"]
    for round in range(3):  # 3 runs: 9 entries (6 cancelled, releasing their conversions)
        await start_run(api, admin)
        for entry in await entries(api, admin, statuses=["PREVIEW"]):
            if round < 2:
                await mutate(api, CANCEL_ENTRY, admin, id=entry["id"])
    assert len(await entries(api, admin)) == 9
    for page in PAGES:
        counts = {}
        for first in (1, 9):
            statements.reset()
            await api.data(page, {"first": first}, admin)
            counts[first] = statements.count
        assert counts[1] == counts[9], statements.statements


async def test_an_invoiced_conversion_is_locked_even_when_its_partner_was_carried_over(
    api: Api, engine: AsyncEngine
) -> None:
    w = await billing_world(engine)
    admin = w.tokens["admin"]
    await mutate(
        api, PARTNER_BILLING, admin, partnerId=gid("Partner", w.ids["A"]), payoutMinimum="100"
    )
    run = await start_run(api, admin)
    assert [c["partner"]["id"] for c in run["report"]["carriedOver"]] == [
        gid("Partner", w.ids["A"])
    ]
    conversion = gid("Conversion", w.conversions["A"][0])
    seen = (await api.data(CONVERSION, {"id": conversion}, w.tokens["A"]))["conversion"]
    assert seen["payoutEntry"] is None and seen["paid"] is False  # no payout side at all
    change = change_input(conversion, {"orderValue": "80.00"})

    # On the advertiser invoice in preview: reserved, as a payout entry in preview would.
    refused = await create(api, w.tokens["A"], change)
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("CONVERSION_RESERVED", ["input", "conversionId"])
    ]
    assert "advertiser invoice" in refused["userErrors"][0]["message"]
    # A re-sent order of it (another order value) changes nothing: the existing conversion.
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(conversions).where(conversions.c.id == w.conversions["A"][0]))
        ).one()
    resent = await mutate(
        api, RECORD_ORDER, admin, programId=gid("Program", row.program_id), orderId=row.order_id,
        conversionTarget=row.target, trackingCategory=row.category,
        trackingTime=row.tracking_time.isoformat(), orderValue="999.00",
    )  # fmt: skip
    assert resent["userErrors"] == [] and resent["created"] is False, resent
    assert resent["conversion"]["id"] == conversion
    assert resent["attribution"]["rule"] == "ALREADY_RECORDED"

    # Cancelled, the invoice releases it; the next run invoices it again, confirmed it is paid.
    (p1,) = await invoices(api, admin, programIds=[gid("Program", w.ids["p1"])])
    assert (await mutate(api, CANCEL_INVOICE, admin, id=p1["id"]))["userErrors"] == []
    await start_run(api, admin)
    (p1,) = await invoices(
        api, admin, programIds=[gid("Program", w.ids["p1"])], statuses=["PREVIEW"]
    )
    assert (await mutate(api, CONFIRM_INVOICE, admin, id=p1["id"]))["userErrors"] == []
    refused = await create(api, w.tokens["A"], change)
    assert [e["code"] for e in refused["userErrors"]] == ["CONVERSION_PAID"]
    async with engine.connect() as conn:
        value = await conn.scalar(
            select(conversions.c.order_value).where(conversions.c.id == w.conversions["A"][0])
        )
    assert value == row.order_value  # neither the requests nor the re-sent order changed it
