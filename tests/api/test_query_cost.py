"""The query cost is computed with the values execution will use: the variables given (an
explicit null included), else the defaults the operation declares — so a page size written as
a variable default costs what the same literal costs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Api
from tests.factories import World, build_world

# Five nested connections per request: 2 + n × (5 × (2 + m × 1)) … see the README's cost table.
NESTED = """
query Costly($n: Int = 100, $m: Int = 100) {
  conversionRequests(first: $n) {
    nodes {
      a: comments(first: $m) { nodes { id } }
      b: comments(first: $m) { nodes { id } }
      c: comments(first: $m) { nodes { id } }
      d: comments(first: $m) { nodes { id } }
      e: comments(first: $m) { nodes { id } }
    }
  }
}"""
LITERAL = (
    NESTED.replace("($n: Int = 100, $m: Int = 100)", "").replace("$n", "100").replace("$m", "100")
)


def cost_of(n: int, m: int) -> int:
    return 2 + n * (5 * (2 + m * 1))


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    return await build_world(engine)


async def _cost(api: Api, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = await api.query(query, variables, token)
    return {"cost": body["extensions"]["cost"]["requestedQueryCost"], "errors": body.get("errors")}


async def test_variable_defaults_cost_what_the_same_literals_cost(api: Api, world: World) -> None:
    token = world.tokens["admin"]
    literal = await _cost(api, token, LITERAL, {})
    defaults = await _cost(api, token, NESTED, {})
    assert literal["cost"] == defaults["cost"] == cost_of(100, 100) > 50_000
    for refused in (literal, defaults):
        assert [e["extensions"]["code"] for e in refused["errors"]] == ["QUERY_TOO_COMPLEX"]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"n": 10}, cost_of(10, 100)),  # given beats the default
        ({"n": 10, "m": 3}, cost_of(10, 3)),
        ({"n": None, "m": None}, cost_of(50, 50)),  # explicit null: the list's default page size
    ],
)
async def test_given_variables_beat_the_defaults(
    api: Api, world: World, variables: dict[str, Any], expected: int
) -> None:
    result = await _cost(api, world.tokens["admin"], NESTED, variables)
    assert result["cost"] == expected
    assert result["errors"] is None


async def test_a_default_in_an_operation_not_chosen_does_not_count(api: Api, world: World) -> None:
    document = NESTED + "\nquery Cheap($n: Int = 1) { conversions(first: $n) { nodes { id } } }"
    body = await api.client.post(
        "/graphql",
        json={"query": document, "operationName": "Cheap"},
        headers={"Authorization": f"Bearer {world.tokens['admin']}"},
    )
    assert body.json()["extensions"]["cost"]["requestedQueryCost"] == 2 + 1
