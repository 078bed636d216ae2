"""`requestStatistics`: requests by status and kind, acceptance rate and median time to a
decision per partner and program, scoped like the request explorer, bad input coded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests
from portal.schema.ids import encode_id
from tests import request_factories as rf
from tests.conftest import Api, StatementCounter
from tests.factories import World, build_world

REQUEST_STATISTICS = """
query($filter: RequestStatisticsFilterInput!, $groupBy: [RequestStatisticsGroupBy!]) {
  requestStatistics(filter: $filter, groupBy: $groupBy) {
    rows {
      partner { id name } program { id name }
      requestCount inquired accepted processed rejected failed withdrawn
      createNew changeExisting acceptanceRate medianHoursToDecision
    }
    totals { requestCount accepted inquired acceptanceRate medianHoursToDecision }
    userErrors { field code message }
  }
}
"""


def period(days: int = 1) -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"from": str(today - timedelta(days=days)), "to": str(today + timedelta(days=1))}


async def _requests(engine: AsyncEngine, world: World) -> None:
    """A: two requests, one accepted 3 hours after it was raised; B: one, inquired."""
    first = await rf.raise_new_order(engine, world)
    await rf.raise_new_order(engine, world)
    await rf.raise_request(engine, await rf.viewer(engine, "B"), rf.new_order_draft(world))
    await rf.accept(engine, first.id)
    async with engine.begin() as conn:
        r = conversion_requests.c
        decided = await conn.scalar(select(r.decided_at).where(r.id == first.id))
        await conn.execute(
            update(conversion_requests)
            .where(r.id == first.id)
            .values(created_at=decided - timedelta(hours=3))
        )


async def ask(api: Api, token: str, **variables: Any) -> dict[str, Any]:
    variables.setdefault("filter", {"period": period()})
    return (await api.data(REQUEST_STATISTICS, variables, token=token))["requestStatistics"]  # type: ignore[no-any-return]


async def test_per_partner_counts_rate_and_median(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    await _requests(engine, world)
    answer = await ask(api, world.tokens["adv1"], groupBy=["PARTNER", "PROGRAM"])
    assert answer["userErrors"] == []
    a, b = answer["rows"]
    assert a["partner"]["id"] == encode_id("Partner", world.ids["A"])
    assert a["program"]["name"] == "Nordwind DE"
    assert (a["requestCount"], a["accepted"], a["inquired"], a["createNew"]) == (2, 1, 1, 2)
    assert a["acceptanceRate"] == "1.0000"
    assert a["medianHoursToDecision"] == "3.00"
    assert (b["requestCount"], b["inquired"], b["acceptanceRate"]) == (1, 1, None)
    assert answer["totals"]["requestCount"] == 3


@pytest.mark.parametrize(
    ("who", "count"), [("A", 2), ("B", 1), ("C", 0), ("adv2", 0), ("admin", 3)]
)
async def test_each_role_counts_only_the_requests_it_may_see(
    api: Api, engine: AsyncEngine, who: str, count: int
) -> None:
    world = await build_world(engine)
    await _requests(engine, world)
    answer = await ask(api, world.tokens[who], groupBy=["PARTNER"])
    assert answer["totals"]["requestCount"] == count
    assert sum(r["requestCount"] for r in answer["rows"]) == count


@pytest.mark.parametrize(
    ("who", "filter", "code", "field"),
    [
        ("adv2", {"programIds": ["p1"]}, "NOT_FOUND", ["filter", "programIds", "0"]),
        ("A", {"partnerIds": ["B"]}, "NOT_FOUND", ["filter", "partnerIds", "0"]),
        ("adv1", {"period": period(2000)}, "PERIOD_TOO_LONG", ["filter", "period"]),
        (
            "adv1",
            {"period": {"from": "2026-02-02", "to": "2026-02-01"}},
            "INVALID_PERIOD",
            ["filter", "period"],
        ),
    ],
)
async def test_bad_input_is_coded(
    api: Api, engine: AsyncEngine, who: str, filter: dict[str, Any], code: str, field: list[str]
) -> None:
    world = await build_world(engine)
    full = {"period": period(), **filter}
    for key, kind in (("programIds", "Program"), ("partnerIds", "Partner")):
        if key in full:
            full[key] = [encode_id(kind, world.ids[n]) for n in full[key]]
    answer = await ask(api, world.tokens[who], filter=full)
    [error] = answer["userErrors"]
    assert (error["code"], error["field"]) == (code, field)
    assert answer["rows"] == [] and answer["totals"] is None


async def test_statements_do_not_grow_with_rows(
    api: Api, engine: AsyncEngine, statements: StatementCounter
) -> None:
    world = await build_world(engine)
    await _requests(engine, world)
    token = world.tokens["admin"]
    await ask(api, token)
    statements.reset()
    answer = await ask(api, token, groupBy=["PARTNER", "PROGRAM"])
    assert len(answer["rows"]) == 2
    # the requests, partners, programs (the warm token costs none).
    assert statements.count == 3, statements.statements
