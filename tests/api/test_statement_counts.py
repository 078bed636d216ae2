"""The dashboard's conversions query runs a fixed number of SQL statements, whatever the page
size: nested objects are batched (no N+1). The exact number is asserted so growth is noticed,
on both execution paths (the compiled one joins the nested objects into the page)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.config import Settings
from portal.web.app import create_app
from tests.conftest import Api, StatementCounter
from tests.factories import build_world

DASHBOARD = """
query Dashboard($first: Int!, $after: String) {
  conversions(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges {
      cursor
      node {
        id orderId trackingTime status
        orderValue { amount currency }
        commission { amount currency }
        partner { id name }
        program { id name currency advertiser { id name } }
      }
    }
  }
}
"""

# General path: the page, the count, partners, programs, advertisers: one statement each.
# Compiled path: the page (joining the objects), the count. A warm token costs none (its
# authentication is cached: portal.adapters.token_cache).
STATEMENTS_PER_REQUEST = {"general": 5, "compiled": 2}


@pytest.fixture(params=["general", "compiled"])
async def path_api(
    request: pytest.FixtureRequest, engine: AsyncEngine, settings: Settings
) -> AsyncIterator[tuple[str, Api]]:
    path = request.param
    app = create_app(replace(settings, compiled_reads=path == "compiled"), engine=engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
        ) as client,
    ):
        yield path, Api(client, app)


@pytest.mark.parametrize("viewer", ["A", "adv1"])
async def test_dashboard_statement_count_does_not_grow_with_page_size(
    path_api: tuple[str, Api], engine: AsyncEngine, statements: StatementCounter, viewer: str
) -> None:
    path, api = path_api
    expected = STATEMENTS_PER_REQUEST[path]
    world = await build_world(engine, conversions_per_partner=120)
    await api.drain_jobs()  # the webhook dispatcher of the world's events runs before measuring
    token = world.tokens[viewer]
    # The first request of a token reads it and records its last use (one UPDATE, at most once
    # a minute), and caches it; measure the steady state.
    await api.data(DASHBOARD, {"first": 1}, token=token)

    counts = {}
    for first in (10, 100):
        statements.reset()
        data = await api.data(DASHBOARD, {"first": first}, token=token)
        counts[first] = statements.count
        page = data["conversions"]
        assert len(page["edges"]) == first
        assert page["pageInfo"]["hasNextPage"] is True
        assert page["totalCount"] == (120 if viewer == "A" else 240)
        assert all(
            e["node"]["partner"] and e["node"]["program"]["advertiser"] for e in page["edges"]
        )

    assert counts[10] == counts[100] == expected, statements.statements
    assert not any("api_tokens" in s for s in statements.statements)

    # The next page costs the same.
    statements.reset()
    await api.data(DASHBOARD, {"first": 100, "after": page["pageInfo"]["endCursor"]}, token=token)
    assert statements.count == expected, statements.statements
