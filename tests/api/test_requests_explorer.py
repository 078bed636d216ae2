"""SPEC §6 explorer: `conversionRequests` filters, orderings with stable cursor paging,
totalCount, and a statement count that does not grow with the page size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.requests import RequestedValues, RequestKind
from portal.schema.ids import decode_id
from portal.services.requests import Draft, create_request
from tests.api.request_helpers import (
    WITHDRAW,
    RequestWorld,
    change_input,
    create_input,
    decide,
    execute,
    mutate,
    new_order,
    raise_request,
    request_world,
    user_pk,
)
from tests.conftest import Api, StatementCounter

LIST = """
query Explorer($filter: ConversionRequestFilterInput, $orderBy: ConversionRequestOrder,
               $first: Int, $after: String, $last: Int, $before: String) {
  conversionRequests(
    filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before
  ) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { id createdAt commission { amount } }
  }
}"""
DASHBOARD = """
query Dashboard($first: Int!) {
  conversionRequests(first: $first) {
    totalCount
    nodes {
      id kind status createdAt
      commission { amount currency } commissionModelName
      requested { orderId orderValue }
      program { id name currency }
      partner { id name }
      createdBy { id name }
    }
  }
}"""


@dataclass
class Explorer:
    w: RequestWorld
    r: dict[str, str]  # name → request id
    commission: dict[str, Decimal]
    created: dict[str, datetime]
    admin_user: str


async def explorer(api: Api, engine: AsyncEngine) -> Explorer:
    """Seven requests with known creation times (1–7 Oct 2026) and commissions."""
    w = await request_world(engine)
    specs: list[tuple[str, str, dict[str, Any]]] = [
        ("r1", "A", create_input(w.program(), new_order("E-1", orderValue="100.00"))),  # 5.00
        ("r2", "A", change_input(w.conversion("A", 1), {"orderValue": "300.00"})),  # 15.00
        ("r3", "B", create_input(w.program(), new_order("E-3", orderValue="400.00"))),  # 20.00
        (
            "r4",
            "admin",
            create_input(
                w.program(), new_order("E-4", orderValue="20.00"), partnerId=w.partner("B")
            ),
        ),  # 1.00
        ("r5", "A", create_input(w.program(), new_order("E-5", orderValue="60.00"))),  # 3.00
        ("r6", "C", create_input(w.program("p2"), new_order("E-6", orderValue="10000"))),  # 400 JPY
        (
            "r7",
            "A",
            create_input(w.program(), new_order("E-7", orderValue="100.00")),
        ),  # 5.00 (a tie with r1)
    ]
    r: dict[str, str] = {}
    commission: dict[str, Decimal] = {}
    admin_user = ""
    for name, token, input in specs:
        request = await raise_request(api, w.token(token), input)
        r[name] = request["id"]
        commission[name] = Decimal(request["commission"]["amount"])
        if token == "admin":
            admin_user = request["createdBy"]["id"]
    assert (await decide(api, w.token("adv1"), r["r4"], "REJECT", note="INVALID_ORDER"))[
        "userErrors"
    ] == []
    assert (
        await mutate(
            api, WITHDRAW, "withdrawConversionRequest", {"requestId": r["r5"]}, w.token("A")
        )
    )["userErrors"] == []
    created = {name: datetime(2026, 10, i + 1, 12, tzinfo=UTC) for i, name in enumerate(sorted(r))}
    await execute(
        engine,
        *(
            update(conversion_requests)
            .where(conversion_requests.c.id == decode_id(r[name])[1])
            .values(created_at=at)
            for name, at in created.items()
        ),
    )
    return Explorer(w, r, commission, created, admin_user)


async def listed(api: Api, token: str, **variables: Any) -> dict[str, Any]:
    variables.setdefault("first", 100)
    page: dict[str, Any] = (await api.data(LIST, variables, token=token))["conversionRequests"]
    return page


def names(e: Explorer, page: dict[str, Any]) -> list[str]:
    by_id = {v: k for k, v in e.r.items()}
    return [by_id[n["id"]] for n in page["nodes"]]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({}, {"r1", "r2", "r3", "r4", "r5", "r6", "r7"}),
        ({"statuses": ["INQUIRED"]}, {"r1", "r2", "r3", "r6", "r7"}),
        ({"statuses": ["REJECTED", "WITHDRAWN"]}, {"r4", "r5"}),
        ({"statuses": ["PROCESSED"]}, set()),
        ({"kinds": ["CHANGE_EXISTING"]}, {"r2"}),
        ({"kinds": ["CREATE_NEW"]}, {"r1", "r3", "r4", "r5", "r6", "r7"}),
        ({"programIds": ["p2"]}, {"r6"}),
        ({"partnerIds": ["B"]}, {"r3", "r4"}),
        ({"partnerIds": ["A", "C"]}, {"r1", "r2", "r5", "r6", "r7"}),
        ({"createdByIds": ["admin"]}, {"r4"}),
        (
            {"createdFrom": "2026-10-02T12:00:00Z", "createdTo": "2026-10-04T12:00:00Z"},
            {"r2", "r3"},
        ),
        ({"createdFrom": "2026-10-06T14:00:00+02:00"}, {"r6", "r7"}),
        ({"createdTo": "2026-10-01T12:00:00.000001Z"}, {"r1"}),
        ({"orderId": "E-3"}, {"r3"}),
        ({"orderId": "A-1"}, {"r2"}),
        ({"orderId": "nope"}, set()),
        ({"partnerIds": ["A"], "statuses": ["INQUIRED"], "kinds": ["CREATE_NEW"]}, {"r1", "r7"}),
    ],
)
async def test_each_filter_narrows(
    api: Api, engine: AsyncEngine, filter: dict[str, Any], expected: set[str]
) -> None:
    # given
    e = await explorer(api, engine)
    resolved = dict(filter)
    if "programIds" in resolved:
        resolved["programIds"] = [e.w.program(p) for p in resolved["programIds"]]
    if "partnerIds" in resolved:
        resolved["partnerIds"] = [e.w.partner(p) for p in resolved["partnerIds"]]
    if "createdByIds" in resolved:
        resolved["createdByIds"] = [e.admin_user]

    # when
    page = await listed(api, e.w.token("admin"), filter=resolved)

    # then
    assert set(names(e, page)) == expected
    assert page["totalCount"] == len(expected)


async def test_advertiser_filter_stays_in_scope(api: Api, engine: AsyncEngine) -> None:
    e = await explorer(api, engine)

    page = await listed(api, e.w.token("adv1"), filter={"statuses": ["INQUIRED"]})

    assert set(names(e, page)) == {"r1", "r2", "r3", "r7"} and page["totalCount"] == 4


def expected_order(e: Explorer, field: str, direction: str) -> list[str]:
    values: dict[str, Any] = e.created if field == "CREATED_AT" else e.commission
    # The tie-breaker is the id, in the same direction.
    keyed = sorted(e.r, key=lambda n: (values[n], decode_id(e.r[n])[1]))
    return keyed if direction == "ASC" else keyed[::-1]


@pytest.mark.parametrize("field", ["CREATED_AT", "COMMISSION"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_ordering_with_cursor_paging(
    api: Api, engine: AsyncEngine, field: str, direction: str
) -> None:
    # given (program 1 only, so commissions share a currency)
    e = await explorer(api, engine)
    del e.r["r6"]
    order_by = {"field": field, "direction": direction}
    token = e.w.token("adv1")
    whole = await listed(api, token, orderBy=order_by)

    # when paging forward by 2
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await listed(api, token, orderBy=order_by, first=2, after=after)
        pages += 1
        assert page["totalCount"] == 6
        seen += names(e, page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert pages < 10

    # then the pages put together are the whole list in the expected order
    assert names(e, whole) == expected_order(e, field, direction)
    assert seen == names(e, whole)
    assert pages == 3

    # and paging back from the end gives the same order
    back = await listed(
        api, token, orderBy=order_by, first=None, last=2, before=page["pageInfo"]["startCursor"]
    )
    assert names(e, back) == seen[2:4]
    assert back["pageInfo"]["hasPreviousPage"] is True


async def test_default_order_is_newest_first(api: Api, engine: AsyncEngine) -> None:
    e = await explorer(api, engine)

    page = await listed(api, e.w.token("admin"))

    assert names(e, page) == ["r7", "r6", "r5", "r4", "r3", "r2", "r1"]


async def test_cursor_is_stable_under_inserts(api: Api, engine: AsyncEngine) -> None:
    # given the first page, oldest first
    e = await explorer(api, engine)
    token = e.w.token("adv1")
    order_by = {"field": "CREATED_AT", "direction": "ASC"}
    first = await listed(api, token, orderBy=order_by, first=3)
    assert names(e, first) == ["r1", "r2", "r3"]

    # when a request is raised (newest of all) before the next page is read
    await raise_request(api, e.w.token("B"), create_input(e.w.program(), new_order("E-8")))
    second = await listed(
        api, token, orderBy=order_by, first=3, after=first["pageInfo"]["endCursor"]
    )

    # then the next page continues where the first ended
    assert names(e, second) == ["r4", "r5", "r7"]
    assert second["totalCount"] == 7


async def seed_requests(engine: AsyncEngine, rw: RequestWorld, count: int) -> None:
    """`count` CREATE_NEW requests by partner A, raised through the service in one go."""
    user = await user_pk(engine, "a@partner.test")
    viewer = Viewer(user_id=user, role=Role.PARTNER, partner_id=rw.world.ids["A"])
    start = datetime(2026, 7, 1, tzinfo=UTC)
    async with UnitOfWork(engine) as uow:
        for i in range(count):
            await create_request(
                uow,
                viewer,
                Draft(
                    kind=RequestKind.CREATE_NEW,
                    program_id=rw.world.ids["p1"],
                    partner_id=None,
                    conversion_id=None,
                    requested=RequestedValues(
                        order_id=f"SEED-{i}",
                        target="SALE_NEW_CUSTOMER",
                        tracking_time=start + timedelta(hours=i),
                        order_value=Decimal(10 + i),
                    ),
                ),
            )
        await uow.commit()


@pytest.mark.parametrize("viewer", ["A", "adv1", "admin"])
async def test_statement_count_does_not_grow_with_the_page_size(
    api: Api, engine: AsyncEngine, statements: StatementCounter, viewer: str
) -> None:
    # given 55 requests; the first call records the token's use
    rw = await request_world(engine)
    await seed_requests(engine, rw, 55)
    token = rw.token(viewer)
    await api.data(DASHBOARD, {"first": 1}, token=token)

    # when the dashboard list is read with 5 and with 50 rows
    counts = {}
    for first in (5, 50):
        statements.reset()
        page = (await api.data(DASHBOARD, {"first": first}, token=token))["conversionRequests"]
        counts[first] = statements.count
        assert len(page["nodes"]) == first and page["totalCount"] == 55
        assert all(
            n["program"]["name"] == "Nordwind DE"
            and n["partner"]["name"] == "Cashback Club"
            and n["createdBy"]["name"] == "a"
            and n["commission"]["currency"] == "EUR"
            for n in page["nodes"]
        )

    # then both cost the same number of statements
    assert counts[5] == counts[50], statements.statements
