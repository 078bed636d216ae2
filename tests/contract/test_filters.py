"""Every filter field of every connection works: none is accepted and silently ignored.

The schema is walked: each field returning a connection with a `filter:` argument, and each
field of that filter input, must have a probe below. A probe picks a value from the data the
admin sees and says which objects the filter must return, a non-empty proper subset of the
list; the filtered list must be exactly those. A filter field added later without a probe
fails this test, and one with a probe but without an implementation returns too much."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from graphql import GraphQLInputObjectType, GraphQLObjectType, get_named_type
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

import portal.schema
from portal.adapters.tables import conversion_reassignments, conversion_requests, conversions
from portal.adapters.unit_of_work import UnitOfWork
from portal.demo_data import add_model
from portal.domain.requests import Decision
from portal.schema.ids import encode_id
from portal.services import relationships, setup
from portal.services.requests import decide_request
from tests import request_factories as rf
from tests.conftest import Api
from tests.factories import ADMIN, World, build_world

# What each list's probes read of its objects.
SELECTIONS = {
    "advertisers": "id name",
    "programs": "id name advertiser { id }",
    "partners": "id name",
    "relationships": "id status program { id } partner { id }",
    "commissionModels": "id name program { id }",
    "conversions": """id orderId status trackingTime trackingCategory conversionTarget
        program { id } partner { id }""",
    "conversionRequests": """id kind status createdAt program { id advertiser { id } }
        partner { id } createdBy { id } requested { orderId trackingTime }
        conversion { orderId trackingTime } commissionModelName decision { decidedAt }""",
    "conversionReassignments": "id program { id }",
    "payoutEntries": "id status currency periodEnd partner { id } lines { program { id } } "
    "run { id }",
    "advertiserInvoices": "id status currency periodEnd program { id } run { id }",
}
PAGING = {"first", "after", "last", "before", "orderBy", "direction"}
# Connection arguments that are filters without a `filter:` input, tested where they live.
OTHER_ARGUMENTS = {
    ("exchangeRates", "currency"),  # tests/api/test_exchange_rates_api.py
    ("exchangeRates", "from"),
    ("exchangeRates", "to"),
    ("exchangeRates", "base"),
    ("apiTokens", "userId"),  # tests/api/test_api_token_listing.py
}

Nodes = list[dict[str, Any]]
Snapshot = dict[str, Nodes]
# (the filter value, the ids the filtered list must hold)
Probe = Callable[[Snapshot], tuple[Any, set[str]]]


def _ids(nodes: Iterable[dict[str, Any]]) -> set[str]:
    return {n["id"] for n in nodes}


def _proper(
    candidates: Iterable[tuple[Any, set[str]]], everything: set[str]
) -> tuple[Any, set[str]]:
    """The first candidate that selects a non-empty proper subset (the world must have one)."""
    for value, expected in candidates:
        if expected and expected != everything:
            return value, expected
    raise AssertionError("the test world has no value that narrows this list")


def equal_to(connection: str, read: Callable[[dict[str, Any]], Any], as_list: bool = True) -> Probe:
    """Objects whose attribute equals the value (given as a one-element list, or alone)."""

    def probe(snapshot: Snapshot) -> tuple[Any, set[str]]:
        nodes = snapshot[connection]
        value, expected = _proper(
            ((read(n), _ids(m for m in nodes if read(m) == read(n))) for n in nodes),
            _ids(nodes),
        )
        return ([value] if as_list else value), expected

    return probe


def since(connection: str, attribute: str, inclusive: bool) -> Probe:
    """`…From` (at or after) and `…To` (before) over a time attribute."""

    def probe(snapshot: Snapshot) -> tuple[Any, set[str]]:
        nodes = snapshot[connection]
        times = sorted({n[attribute] for n in nodes})
        candidates = [
            (t, _ids(n for n in nodes if (n[attribute] >= t) == inclusive)) for t in times[1:]
        ]
        return _proper(candidates, _ids(nodes))

    return probe


def name_search(connection: str) -> Probe:
    def probe(snapshot: Snapshot) -> tuple[Any, set[str]]:
        nodes = snapshot[connection]
        candidates = []
        for n in nodes:
            part = n["name"][1:4].upper()
            candidates.append((part, _ids(m for m in nodes if part.lower() in m["name"].lower())))
        return _proper(candidates, _ids(nodes))

    return probe


def related(connection: str, pairs: Callable[[Snapshot], set[tuple[str, str]]]) -> Probe:
    """Objects related to a chosen id through (object id, related id) pairs."""

    def probe(snapshot: Snapshot) -> tuple[Any, set[str]]:
        found = pairs(snapshot)
        everything = _ids(snapshot[connection])
        candidates = [
            ([other], {o for o, r in found if r == other})
            for other in sorted({r for _, r in found})
        ]
        return _proper(candidates, everything)

    return probe


def _program_advertiser(snapshot: Snapshot) -> dict[str, str]:
    return {p["id"]: p["advertiser"]["id"] for p in snapshot["programs"]}


def _partner_programs(snapshot: Snapshot) -> set[tuple[str, str]]:
    return {(r["partner"]["id"], r["program"]["id"]) for r in snapshot["relationships"]}


def _partner_advertisers(snapshot: Snapshot) -> set[tuple[str, str]]:
    owner = _program_advertiser(snapshot)
    return {(partner, owner[program]) for partner, program in _partner_programs(snapshot)}


def _model_advertisers(snapshot: Snapshot) -> set[tuple[str, str]]:
    owner = _program_advertiser(snapshot)
    return {(m["id"], owner[m["program"]["id"]]) for m in snapshot["commissionModels"]}


def _request_orders(snapshot: Snapshot) -> tuple[Any, set[str]]:
    nodes = snapshot["conversionRequests"]

    def order(n: dict[str, Any]) -> str | None:
        return n["requested"]["orderId"] or (n["conversion"] or {}).get("orderId")

    return _proper(
        ((order(n), _ids(m for m in nodes if order(m) == order(n))) for n in nodes),
        _ids(nodes),
    )


def _request_tracked(n: dict[str, Any]) -> str:
    """The tracking time a request asks for, else its conversion's (a change leaving it)."""
    return str(n["requested"]["trackingTime"] or n["conversion"]["trackingTime"])


def _decided(n: dict[str, Any]) -> str | None:
    return n["decision"]["decidedAt"] if n["decision"] else None


def request_times(read: Callable[[dict[str, Any]], str | None], inclusive: bool) -> Probe:
    """`…From` / `…To` over a request time that may be missing (never matched then)."""

    def probe(snapshot: Snapshot) -> tuple[Any, set[str]]:
        nodes = snapshot["conversionRequests"]
        times = sorted({t for n in nodes if (t := read(n)) is not None})
        candidates = [
            (t, _ids(n for n in nodes if (v := read(n)) is not None and (v >= t) == inclusive))
            for t in (times if inclusive else times[1:]) + ([] if inclusive else times[:1])
        ]
        return _proper(candidates, _ids(nodes))

    return probe


def _request_models(snapshot: Snapshot) -> tuple[Any, set[str]]:
    """Requests rated with a model: by (program, model name), as the snapshot names it."""
    nodes = snapshot["conversionRequests"]
    candidates = []
    for model in snapshot["commissionModels"]:
        key = (model["program"]["id"], model["name"])
        chosen = _ids(n for n in nodes if (n["program"]["id"], n["commissionModelName"]) == key)
        candidates.append(([model["id"]], chosen))
    return _proper(candidates, _ids(nodes))


def until(connection: str, attribute: str) -> Probe:
    """`…To` that includes its day (on or before)."""

    def probe(snapshot: Snapshot) -> tuple[Any, set[str]]:
        nodes = snapshot[connection]
        days = sorted({n[attribute] for n in nodes})
        return _proper(
            ((d, _ids(n for n in nodes if n[attribute] <= d)) for d in days), _ids(nodes)
        )

    return probe


def _entry_programs(snapshot: Snapshot) -> set[tuple[str, str]]:
    return {
        (e["id"], line["program"]["id"]) for e in snapshot["payoutEntries"] for line in e["lines"]
    }


def _invoice_partners(snapshot: Snapshot) -> set[tuple[str, str]]:
    """An invoice holds the conversions of the partners paid for its program in its run."""
    return {
        (i["id"], e["partner"]["id"])
        for i in snapshot["advertiserInvoices"]
        for e in snapshot["payoutEntries"]
        if e["run"]["id"] == i["run"]["id"]
        and i["program"]["id"] in {line["program"]["id"] for line in e["lines"]}
    }


def _billing_probes(connection: str) -> dict[tuple[str, str], Probe]:
    probes: dict[tuple[str, str], Probe] = {
        (connection, "statuses"): equal_to(connection, lambda n: n["status"]),
        (connection, "currencies"): equal_to(connection, lambda n: n["currency"]),
        (connection, "billingRunIds"): equal_to(connection, lambda n: n["run"]["id"]),
        (connection, "periodEndFrom"): since(connection, "periodEnd", inclusive=True),
        (connection, "periodEndTo"): until(connection, "periodEnd"),
    }
    if connection == "payoutEntries":
        probes[(connection, "partnerIds")] = equal_to(connection, lambda n: n["partner"]["id"])
        probes[(connection, "programIds")] = related(connection, _entry_programs)
    else:
        probes[(connection, "programIds")] = equal_to(connection, lambda n: n["program"]["id"])
        probes[(connection, "partnerIds")] = related(connection, _invoice_partners)
    return probes


PROBES: dict[tuple[str, str], Probe] = {
    **_billing_probes("payoutEntries"),
    **_billing_probes("advertiserInvoices"),
    ("advertisers", "search"): name_search("advertisers"),
    ("advertisers", "programIds"): related(
        "advertisers", lambda s: {(a, p) for p, a in _program_advertiser(s).items()}
    ),
    ("advertisers", "advertiserIds"): equal_to("advertisers", lambda n: n["id"]),
    ("programs", "search"): name_search("programs"),
    ("programs", "programIds"): equal_to("programs", lambda n: n["id"]),
    ("programs", "advertiserIds"): equal_to("programs", lambda n: n["advertiser"]["id"]),
    ("partners", "search"): name_search("partners"),
    ("partners", "programIds"): related("partners", _partner_programs),
    ("partners", "advertiserIds"): related("partners", _partner_advertisers),
    ("commissionModels", "search"): name_search("commissionModels"),
    ("commissionModels", "programIds"): equal_to("commissionModels", lambda n: n["program"]["id"]),
    ("commissionModels", "advertiserIds"): related("commissionModels", _model_advertisers),
    ("relationships", "programIds"): equal_to("relationships", lambda n: n["program"]["id"]),
    ("relationships", "partnerIds"): equal_to("relationships", lambda n: n["partner"]["id"]),
    ("relationships", "statuses"): equal_to("relationships", lambda n: n["status"]),
    ("conversions", "programIds"): equal_to("conversions", lambda n: n["program"]["id"]),
    ("conversions", "partnerIds"): equal_to("conversions", lambda n: n["partner"]["id"]),
    ("conversions", "statuses"): equal_to("conversions", lambda n: n["status"]),
    ("conversions", "trackedFrom"): since("conversions", "trackingTime", inclusive=True),
    ("conversions", "trackedTo"): since("conversions", "trackingTime", inclusive=False),
    ("conversions", "orderId"): equal_to("conversions", lambda n: n["orderId"], as_list=False),
    ("conversions", "trackingCategories"): equal_to("conversions", lambda n: n["trackingCategory"]),
    ("conversions", "conversionTargets"): equal_to("conversions", lambda n: n["conversionTarget"]),
    ("conversionRequests", "statuses"): equal_to("conversionRequests", lambda n: n["status"]),
    ("conversionRequests", "kinds"): equal_to("conversionRequests", lambda n: n["kind"]),
    ("conversionRequests", "programIds"): equal_to(
        "conversionRequests", lambda n: n["program"]["id"]
    ),
    ("conversionRequests", "partnerIds"): equal_to(
        "conversionRequests", lambda n: n["partner"]["id"]
    ),
    ("conversionRequests", "createdByIds"): equal_to(
        "conversionRequests", lambda n: n["createdBy"]["id"]
    ),
    ("conversionRequests", "createdFrom"): since("conversionRequests", "createdAt", inclusive=True),
    ("conversionRequests", "createdTo"): since("conversionRequests", "createdAt", inclusive=False),
    ("conversionRequests", "orderId"): _request_orders,
    ("conversionRequests", "advertiserIds"): equal_to(
        "conversionRequests", lambda n: n["program"]["advertiser"]["id"]
    ),
    ("conversionRequests", "trackedFrom"): request_times(_request_tracked, inclusive=True),
    ("conversionRequests", "trackedTo"): request_times(_request_tracked, inclusive=False),
    ("conversionRequests", "commissionModelIds"): _request_models,
    ("conversionRequests", "decidedFrom"): request_times(_decided, inclusive=True),
    ("conversionRequests", "decidedTo"): request_times(_decided, inclusive=False),
    ("conversionReassignments", "programIds"): equal_to(
        "conversionReassignments", lambda n: n["program"]["id"]
    ),
}


def filter_fields() -> list[tuple[str, str]]:
    """(connection field, filter field) for every filter field of every connection of the
    schema; other filter-like arguments must be listed in OTHER_ARGUMENTS."""
    found = []
    for type_name, kind in portal.schema.schema._schema.type_map.items():
        if type_name.startswith("__") or not isinstance(kind, GraphQLObjectType):
            continue
        for name, field in kind.fields.items():
            if not get_named_type(field.type).name.endswith("Connection"):
                continue
            for argument, definition in field.args.items():
                filter_type = get_named_type(definition.type)
                if argument == "filter":
                    assert isinstance(filter_type, GraphQLInputObjectType)
                    found += [(name, f) for f in filter_type.fields]
                elif argument not in PAGING:
                    assert (name, argument) in OTHER_ARGUMENTS, (
                        f"{type_name}.{name}({argument}:) filters without a `filter:` input"
                    )
    return sorted(found)


def test_every_filter_field_of_the_schema_has_a_probe() -> None:
    missing = [pair for pair in filter_fields() if pair not in PROBES]
    assert missing == [], "add a probe (and the filter's implementation) for these"
    assert len(filter_fields()) == len(PROBES)


async def _varied_world(engine: AsyncEngine) -> World:
    """The test world, with something to tell apart in every filtered attribute."""
    world = await build_world(engine)
    async with UnitOfWork(engine) as uow:
        await setup.create_program(
            uow, ADMIN, advertiser_id=world.ids["adv1"], name="Nordwind AT", currency="EUR"
        )
        await add_model(uow, world.ids["p1"], "premium", rf.TRACKED_AT, None, None)
        # B applies to Kiko JP as well: an APPLIED relationship next to the ACTIVE ones.
        await relationships.apply_to_program(
            uow, ADMIN, program_id=world.ids["p2"], partner_id=world.ids["B"]
        )
        await uow.commit()
    first, second = world.conversions["A"][:2]
    async with engine.begin() as conn:
        await conn.execute(
            update(conversions)
            .where(conversions.c.id == first)
            .values(status="CONFIRMED", category="fashion", target="LEAD")
        )
        await conn.execute(
            update(conversions).where(conversions.c.id == second).values(status="REJECTED")
        )
    a = await rf.raise_new_order(engine, world, order_id="MISSED-1")
    await rf.raise_change(engine, world)
    b_user = await rf.another_user(engine, world, "B")
    b = await rf.raise_request(engine, b_user, rf.new_order_draft(world, "MISSED-2"))
    in_kiko = rf.new_order_draft(world, "MISSED-3", order_value="200")
    await rf.raise_request(
        engine, await rf.viewer(engine, "C"), replace(in_kiko, program_id=world.ids["p2"])
    )
    for request in (a, b):
        async with UnitOfWork(engine) as uow:
            await decide_request(
                uow, await rf.viewer(engine, "adv1"), request.id, Decision.REJECT, None, "no"
            )
            await uow.commit()
    async with engine.begin() as conn:
        await conn.execute(
            update(conversion_requests)
            .where(conversion_requests.c.id == a.id)
            .values(
                created_at=rf.TRACKED_AT - timedelta(days=3),
                decided_at=rf.TRACKED_AT - timedelta(days=2),
            )
        )
        # Two past reassignments (as accepted claims leave them), in two programs.
        for partner, other, program in (("A", "B", "p1"), ("C", "C", "p2")):
            conversion = world.conversions[partner][-1]
            await conn.execute(
                insert(conversion_reassignments).values(
                    conversion_id=conversion,
                    program_id=world.ids[program],
                    from_partner_id=world.ids[partner],
                    to_partner_id=world.ids[other],
                    request_id=None,
                    revision=2,
                    order_id=f"{partner}-moved",
                    target="SALE_NEW_CUSTOMER",
                    category="default",
                    tracking_time=rf.TRACKED_AT,
                    previous_commission=Decimal("5.00"),
                    currency="EUR",
                    reassigned_at=rf.TRACKED_AT,
                )
            )
    await _billed(engine, world)
    return world


async def _billed(engine: AsyncEngine, world: World) -> None:
    """Two billing runs: on Mar 1, A's confirmed conversion and C's (entries in EUR and USD,
    invoices in EUR and JPY); on Mar 31, B's in program 1. A's entry and the JPY invoice are
    confirmed."""
    from datetime import date

    from sqlalchemy import select

    from portal.adapters.tables import advertiser_invoices, billing_runs, payout_entries, users
    from portal.domain.access import Role, Viewer
    from portal.domain.billing.model import BillingAction
    from portal.services import billing_actions
    from portal.services import billing_runs as runs
    from tests.api.billing_helpers import confirm_conversions, set_rates

    await set_rates(engine, USD="1.1", JPY="160")
    await confirm_conversions(engine, conversions.c.partner_id == world.ids["C"])
    async with engine.connect() as conn:
        admin_id = await conn.scalar(select(users.c.id).where(users.c.role == "ADMIN"))
    admin = Viewer(user_id=admin_id, role=Role.ADMIN)

    async def run(period_end: date, programs: tuple[int, ...]) -> None:
        async with UnitOfWork(engine) as uow:
            run_id = await runs.start_billing_run(uow, admin, period_end, programs, False)
            await uow.commit()
        async with engine.connect() as conn:
            job_id = await conn.scalar(
                select(billing_runs.c.job_id).where(billing_runs.c.id == run_id)
            )
        assert await runs.run_billing(engine, job_id) == "succeeded"

    await run(date(2026, 3, 1), ())
    await confirm_conversions(engine, conversions.c.partner_id == world.ids["B"])
    await run(date(2026, 3, 31), (world.ids["p1"],))
    async with UnitOfWork(engine) as uow:
        entry = await uow.conn.scalar(
            select(payout_entries.c.id).where(payout_entries.c.partner_id == world.ids["A"])
        )
        invoice = await uow.conn.scalar(
            select(advertiser_invoices.c.id).where(
                advertiser_invoices.c.program_id == world.ids["p2"]
            )
        )
        await billing_actions.act(uow, admin, payout_entries, entry, BillingAction.CONFIRM)
        await billing_actions.act(uow, admin, advertiser_invoices, invoice, BillingAction.CONFIRM)
        await uow.commit()


def _query(connection: str, filter_field: str | None) -> str:
    variable = f"($value: {_filter_type(connection, filter_field)})" if filter_field else ""
    argument = f", filter: {{{filter_field}: $value}}" if filter_field else ""
    return f"""query{variable} {{
      {connection}(first: 100{argument}) {{ totalCount nodes {{ {SELECTIONS[connection]} }} }}
    }}"""


def _filter_type(connection: str, filter_field: str | None) -> str:
    field = portal.schema.schema._schema.query_type.fields[connection]
    filter_type = get_named_type(field.args["filter"].type)
    assert isinstance(filter_type, GraphQLInputObjectType)
    return str(filter_type.fields[filter_field].type)


async def test_every_filter_field_narrows_its_list_to_exactly_what_it_names(
    api: Api, engine: AsyncEngine
) -> None:
    world = await _varied_world(engine)
    token = world.tokens["admin"]
    snapshot: Snapshot = {}
    for connection in SELECTIONS:
        data = await api.data(_query(connection, None), token=token)
        snapshot[connection] = data[connection]["nodes"]
    wrong = {}
    for connection, filter_field in filter_fields():
        try:
            value, expected = PROBES[(connection, filter_field)](snapshot)
        except AssertionError as error:
            raise AssertionError(f"{connection}.{filter_field}: {error}") from None
        data = await api.data(_query(connection, filter_field), {"value": value}, token=token)
        got = _ids(data[connection]["nodes"])
        if got != expected or data[connection]["totalCount"] != len(expected):
            wrong[f"{connection}.{filter_field}={value!r}"] = (len(got), len(expected))
    assert wrong == {}


@pytest.mark.parametrize("field", ["programIds", "advertiserIds"])
async def test_filters_through_relationships_see_only_what_the_viewer_sees(
    api: Api, engine: AsyncEngine, field: str
) -> None:
    """adv1 sees partner B (it works in adv1's program); that B also applied to adv2's program
    is not adv1's to know, so filtering adv1's partners by adv2's program finds nobody."""
    world = await _varied_world(engine)
    value = (
        [encode_id("Program", world.ids["p2"])]
        if field == "programIds"
        else [encode_id("Advertiser", world.ids["adv2"])]
    )
    query = f"""query($value: [ID!]) {{
      partners(first: 10, filter: {{{field}: $value}}) {{ nodes {{ name }} }}
    }}"""
    admin = await api.data(query, {"value": value}, world.tokens["admin"])
    adv1 = await api.data(query, {"value": value}, world.tokens["adv1"])
    assert {n["name"] for n in admin["partners"]["nodes"]} == {"Coupon Corner", "Tech Blog"}
    assert adv1["partners"]["nodes"] == []
