"""Billing visibility (issue 11): a partner sees only its own payout entries, an advertiser its
programs' invoices and, of payout entries, only its programs' lines (no totals), admins all.
Every billing query, node type, nested field and mutation is tried across those lines."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.billing_helpers import (
    ADVERTISER_BILLING,
    CANCEL_ENTRY,
    CANCEL_INVOICE,
    CONFIRM_ENTRIES,
    CONFIRM_INVOICE,
    PARTNER_BILLING,
    PAY_ENTRIES,
    PAY_INVOICES,
    SET_FEE,
    START,
    billing_world,
    gid,
    mutate,
    start_run,
)
from tests.conftest import Api
from tests.factories import World

ROLES = ["admin", "adv1", "adv2", "A", "B", "C"]
LISTS = """
query Lists {
  billingRuns(first: 100) { totalCount nodes { id } }
  payoutEntries(first: 100) {
    totalCount nodes { id net { amount } gross { amount } vat { rate }
                       lines { program { id } } partner { id } }
  }
  advertiserInvoices(first: 100) { totalCount nodes { id program { id } lines { kind } } }
}"""
NODE = """
query Node($id: ID!) {
  node(id: $id) {
    id
    ... on BillingRun { report { conversionCount } }
    ... on PayoutEntry { status lines { count } }
    ... on AdvertiserInvoice { status lines { kind } }
  }
}"""
BILLING_DATA = """
query Data($partner: ID!, $advertiser: ID!, $program: ID!, $conversion: ID!) {
  partner: node(id: $partner) { ... on Partner { billing { iban vatId } } }
  advertiser: node(id: $advertiser) { ... on Advertiser { billing { vatId country } } }
  program: node(id: $program) { ... on Program { networkFees { percentage } } }
  conversion: node(id: $conversion) { ... on Conversion { payoutEntry { id } } }
}"""
ISSUER = 'query { billingIssuer { legalName country } vatRates(country: "DE") { rate } }'


async def _world(api: Api, engine: AsyncEngine) -> tuple[World, dict[str, Any]]:
    w = await billing_world(engine)
    admin = w.tokens["admin"]
    fee = await mutate(
        api, SET_FEE, admin, programId=gid("Program", w.ids["p1"]),
        validFrom="2026-01-01T00:00:00+00:00", percentage="5",
    )  # fmt: skip
    assert fee["userErrors"] == []
    for partner in "AB":
        done = await mutate(
            api, PARTNER_BILLING, w.tokens[partner], partnerId=gid("Partner", w.ids[partner]),
            iban="DE89 3704 0044 0532 0130 00",
        )  # fmt: skip
        assert done["userErrors"] == []
    done = await mutate(
        api, ADVERTISER_BILLING, w.tokens["adv1"], advertiserId=gid("Advertiser", w.ids["adv1"]),
        country="AT", vatId="ATU13585627",
    )  # fmt: skip
    assert done["userErrors"] == []
    paid_run = await start_run(api, admin)
    dry_run = await start_run(api, w.tokens["adv1"], dryRun=True)
    data = await api.data(LISTS, token=admin)
    entries = {e["partner"]["id"]: e["id"] for e in data["payoutEntries"]["nodes"]}
    invoices = {i["program"]["id"]: i["id"] for i in data["advertiserInvoices"]["nodes"]}
    ids = {
        "run": paid_run["id"],
        "dry": dry_run["id"],
        **{f"entry{k}": entries[gid("Partner", w.ids[k])] for k in "ABC"},
        **{f"invoice{k}": invoices[gid("Program", w.ids[k])] for k in ("p1", "p2")},
    }
    return w, ids


VISIBLE = {
    "admin": {"run", "dry", "entryA", "entryB", "entryC", "invoicep1", "invoicep2"},
    "adv1": {"dry", "entryA", "entryB", "invoicep1"},
    "adv2": {"entryC", "invoicep2"},
    "A": {"entryA"},
    "B": {"entryB"},
    "C": {"entryC"},
}


async def test_every_billing_list_and_node_shows_each_role_exactly_its_part(
    api: Api, engine: AsyncEngine
) -> None:
    w, ids = await _world(api, engine)
    by_id = {v: k for k, v in ids.items()}
    for role in ROLES:
        token = w.tokens[role]
        data = await api.data(LISTS, token=token)
        listed = {
            by_id[n["id"]]
            for name in ("billingRuns", "payoutEntries", "advertiserInvoices")
            for n in data[name]["nodes"]
        }
        assert listed == VISIBLE[role], role
        for name in ("billingRuns", "payoutEntries", "advertiserInvoices"):
            assert data[name]["totalCount"] == len(data[name]["nodes"]), (role, name)
        for entry in data["payoutEntries"]["nodes"]:
            programs = {line["program"]["id"] for line in entry["lines"]}
            if role.startswith("adv"):
                # An advertiser sees its programs' lines, never the entry's totals.
                own = gid("Program", w.ids["p1" if role == "adv1" else "p2"])
                assert programs == {own} and entry["net"] is None and entry["gross"] is None
                assert entry["vat"] is None
            else:
                assert entry["net"] is not None and entry["vat"] is not None
        for name, pk in ids.items():
            found = (await api.data(NODE, {"id": pk}, token))["node"]
            assert (found is not None) == (name in VISIBLE[role]), (role, name)


@pytest.mark.parametrize("role", ROLES)
async def test_billing_data_is_its_owner_s_and_the_admins(
    api: Api, engine: AsyncEngine, role: str
) -> None:
    w, _ = await _world(api, engine)
    variables = {
        "partner": gid("Partner", w.ids["A"]),
        "advertiser": gid("Advertiser", w.ids["adv1"]),
        "program": gid("Program", w.ids["p1"]),
        "conversion": gid("Conversion", w.conversions["A"][0]),
    }
    data = await api.data(BILLING_DATA, variables, w.tokens[role])
    partner_billing = (data["partner"] or {}).get("billing")
    advertiser_billing = (data["advertiser"] or {}).get("billing")
    fees = (data["program"] or {}).get("networkFees") or []
    entry = (data["conversion"] or {}).get("payoutEntry")
    assert (partner_billing is not None) == (role in {"admin", "A"}), partner_billing
    if partner_billing:
        assert partner_billing["iban"] == "DE89370400440532013000"
    assert (advertiser_billing is not None) == (role in {"admin", "adv1"})
    assert bool(fees) == (role in {"admin", "adv1"})
    assert (entry is not None) == (role in {"admin", "adv1", "A"})
    issuer = await api.data(ISSUER, token=w.tokens[role])
    assert issuer["billingIssuer"]["country"] == "DE" and issuer["vatRates"]


def _codes(payload: dict[str, Any]) -> list[str]:
    errors = list(payload.get("userErrors") or [])
    for result in payload.get("results") or []:
        errors += result["userErrors"]
    return [e["code"] for e in errors]


@pytest.mark.parametrize("role", ["adv1", "adv2", "A", "C"])
async def test_only_admins_act_on_entries_and_invoices(
    api: Api, engine: AsyncEngine, role: str
) -> None:
    w, ids = await _world(api, engine)
    token = w.tokens[role]
    for document, input in (
        (CONFIRM_ENTRIES, {"ids": [ids["entryA"], ids["entryC"]]}),
        (PAY_ENTRIES, {"ids": [ids["entryA"]], "paymentReference": "X"}),
        (CANCEL_ENTRY, {"id": ids["entryA"]}),
        (CONFIRM_INVOICE, {"id": ids["invoicep1"]}),
        (PAY_INVOICES, {"ids": [ids["invoicep1"]], "paymentReference": "X"}),
        (CANCEL_INVOICE, {"id": ids["invoicep2"]}),
    ):
        payload = await mutate(api, document, token, **input)
        assert _codes(payload) and set(_codes(payload)) == {"PERMISSION_DENIED"}, (document, role)
    fee = await mutate(
        api, SET_FEE, token, programId=gid("Program", w.ids["p1"]),
        validFrom="2026-06-01T00:00:00+00:00", percentage="50",
    )  # fmt: skip
    assert _codes(fee) in (["PERMISSION_DENIED"], ["NOT_FOUND"])
    # Nothing moved.
    data = await api.data(LISTS, token=w.tokens["admin"])
    assert {n["id"] for n in data["payoutEntries"]["nodes"]} >= {ids["entryA"], ids["entryC"]}
    admin_view = await api.data(NODE, {"id": ids["entryA"]}, w.tokens["admin"])
    assert admin_view["node"]["status"] == "PREVIEW"


async def test_billing_data_mutations_across_the_lines(api: Api, engine: AsyncEngine) -> None:
    w, _ = await _world(api, engine)
    a, b = gid("Partner", w.ids["A"]), gid("Partner", w.ids["B"])
    adv1, adv2 = gid("Advertiser", w.ids["adv1"]), gid("Advertiser", w.ids["adv2"])
    checks = [
        ("A", PARTNER_BILLING, {"partnerId": b, "bic": "COBADEFFXXX"}, "NOT_FOUND"),
        ("adv1", PARTNER_BILLING, {"partnerId": a, "bic": "COBADEFFXXX"}, "PERMISSION_DENIED"),
        ("adv1", ADVERTISER_BILLING, {"advertiserId": adv2, "country": "DE"}, "NOT_FOUND"),
        ("A", ADVERTISER_BILLING, {"advertiserId": adv1, "country": "DE"}, "PERMISSION_DENIED"),
        ("A", START, {"periodEnd": "2026-03-31"}, "PERMISSION_DENIED"),
    ]
    for role, document, input, code in checks:
        payload = await mutate(api, document, w.tokens[role], **input)
        assert _codes(payload) == [code], (role, document)
    for document, input in (
        (
            "mutation($input: SetVatRateInput!) "
            "{ setVatRate(input: $input) { userErrors { code } } }",
            {"country": "DE", "validFrom": "2027-01-01", "rate": "21"},
        ),
        (
            "mutation($input: UpdateBillingIssuerInput!) { updateBillingIssuer(input: $input) "
            "{ userErrors { code } } }",
            {"legalName": "Someone Else"},
        ),
    ):
        for role in ("adv1", "A"):
            payload = await mutate(api, document, w.tokens[role], **input)
            assert _codes(payload) == ["PERMISSION_DENIED"], (role, document)
