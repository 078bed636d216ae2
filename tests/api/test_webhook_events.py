"""Who receives the job and billing events (issue 15), with the in-process queue: a job's
events go to its author's endpoints (and admins'), a payout entry's to its partner and the
advertisers of its programs (without the totals of other programs), an advertiser invoice's
to its advertiser only. Signatures are checked with the standardwebhooks package."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.billing_helpers import (
    CONFIRM_ENTRIES,
    CONFIRM_INVOICE,
    PAY_ENTRIES,
    billing_world,
    entries,
    gid,
    invoices,
    mutate,
    start_run,
)
from tests.api.test_webhooks import create_endpoint
from tests.conftest import Api
from tests.factories import build_world
from tests.import_files import upload
from tests.webhook_receiver import Receiver, running_receiver

BILLING_AND_JOBS = [
    "billing_run.finished",
    "payout_entry.confirmed",
    "payout_entry.paid",
    "advertiser_invoice.confirmed",
    "export.ready",
    "import.finished",
]
EXPORT = """
mutation($input: ExportConversionRequestsInput!) {
  exportConversionRequests(input: $input) { export { id status } userErrors { code } }
}"""
WHO = ("A", "B", "C", "adv1", "adv2", "admin")


@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Receiver]:
    monkeypatch.setenv("PORTAL_WEBHOOKS_ALLOW_PRIVATE", "true")
    async with running_receiver() as running:
        yield running


def by_type(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        out.setdefault(e["type"], []).append(e["data"])
    return out


async def test_billing_and_job_events_reach_only_those_who_may_see_them(
    api: Api, engine: AsyncEngine, receiver: Receiver
) -> None:
    w = await billing_world(engine)
    secrets = {}
    for who in WHO:
        _, secrets[who] = await create_endpoint(
            api, w.tokens[who], receiver.url(f"/{who}"), BILLING_AND_JOBS
        )
    run = await start_run(api, w.tokens["admin"])
    assert run["status"] == "SUCCEEDED"
    admin = w.tokens["admin"]
    entry_ids = [e["id"] for e in await entries(api, admin)]
    confirmed = await mutate(api, CONFIRM_ENTRIES, admin, ids=entry_ids)
    assert all(r["userErrors"] == [] for r in confirmed["results"]), confirmed
    a_entry = next(e["id"] for e in await entries(api, w.tokens["A"]))  # A sees its own only
    paid = await mutate(api, PAY_ENTRIES, admin, ids=[a_entry], paymentReference="SEPA-1")
    assert paid["results"][0]["userErrors"] == []
    adv1_invoice = next(i["id"] for i in await invoices(api, w.tokens["adv1"]))
    invoiced = await mutate(api, CONFIRM_INVOICE, admin, id=adv1_invoice)
    assert invoiced["userErrors"] == [], invoiced
    export = (await api.data(EXPORT, {"input": {"format": "CSV"}}, token=w.tokens["B"]))[
        "exportConversionRequests"
    ]
    assert export["userErrors"] == []
    await api.drain_jobs()

    got = {who: by_type(receiver.verified(f"/{who}", secrets[who])) for who in WHO}
    # The run's author (an admin; admins see every job) hears of it; no one else does.
    assert [d["id"] for d in got["admin"]["billing_run.finished"]] == [run["id"]]
    assert all("billing_run.finished" not in got[who] for who in ("A", "B", "C", "adv1", "adv2"))
    # Each partner hears of its own entry only, with its amounts.
    for who in ("A", "B", "C"):
        (own,) = got[who]["payout_entry.confirmed"]
        assert own["partnerId"] == gid("Partner", w.ids[who]) and own["gross"]
    assert [d["id"] for d in got["A"]["payout_entry.paid"]] == [a_entry]
    assert got["A"]["payout_entry.paid"][0]["paymentReference"] == "SEPA-1"
    assert "payout_entry.paid" not in got["B"]
    # An advertiser hears of the entries of its programs' partners, never their totals.
    adv1_entries = {d["partnerId"] for d in got["adv1"]["payout_entry.confirmed"]}
    assert adv1_entries == {gid("Partner", w.ids["A"]), gid("Partner", w.ids["B"])}
    assert all("gross" not in d and "net" not in d for d in got["adv1"]["payout_entry.confirmed"])
    assert {d["partnerId"] for d in got["adv2"]["payout_entry.confirmed"]} == {
        gid("Partner", w.ids["C"])
    }
    # The invoice: its advertiser (and admins), never a partner or the other advertiser.
    assert [d["id"] for d in got["adv1"]["advertiser_invoice.confirmed"]] == [adv1_invoice]
    for who in ("A", "B", "C", "adv2"):
        assert "advertiser_invoice.confirmed" not in got[who]
    assert len(got["admin"]["payout_entry.confirmed"]) == 3
    # The export is B's (and, as every job, the admins').
    (ready,) = got["B"]["export.ready"]
    assert ready["id"] == export["export"]["id"] and ready["status"] == "SUCCEEDED"
    assert got["admin"]["export.ready"] == [ready]
    for who in ("A", "C", "adv1", "adv2"):
        assert "export.ready" not in got[who], who


async def test_an_import_is_announced_to_its_author_only(
    api: Api, engine: AsyncEngine, receiver: Receiver
) -> None:
    world = await build_world(engine)
    secrets = {}
    for who in ("A", "B", "adv1", "adv2", "admin"):
        _, secrets[who] = await create_endpoint(
            api,
            world.tokens[who],
            receiver.url(f"/{who}"),
            ["import.finished", "conversion_request.created"],
        )
    content = (
        b"request_type;program;order_id;conversion_target;tracking_time;order_value\n"
        b"CREATE_NEW;Nordwind DE;F-1;SALE_NEW_CUSTOMER;01.06.2026 10:00;1.234,56\n"
        b"CREATE_NEW;Nordwind DE;F-2;SALE_NEW_CUSTOMER;2026-06-02T10:00:00Z;-5\n"
    )
    started = await upload(api, world.tokens["A"], "requests.csv", content)
    assert started["userErrors"] == [], started
    await api.drain_jobs()
    (finished,) = receiver.verified("/A", secrets["A"])  # one event for the file, not per row
    assert finished["type"] == "import.finished"
    assert finished["data"]["id"] == started["importJob"]["id"]
    assert (finished["data"]["created"], finished["data"]["errors"]) == (1, 1)
    for who in ("B", "adv1", "adv2"):  # not even the advertiser of the rows' program
        assert receiver.at(f"/{who}") == [], who
    (to_admin,) = receiver.verified("/admin", secrets["admin"])  # admins see every job
    assert to_admin["id"] == finished["id"] and to_admin["data"] == finished["data"]
