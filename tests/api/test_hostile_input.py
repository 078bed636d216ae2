"""Hostile input at the GraphQL level is refused with a code, on SQLite and PostgreSQL, before
anything runs: NUL characters in any string (PostgreSQL cannot store them), spreads of
undefined fragments (also for anonymous callers), searches longer than a name can be (SQLite
refuses LIKE patterns over 50,000 bytes), and values that are not files as an `Upload`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.named_filters import MAX_SEARCH_LENGTH
from portal.adapters.tables import api_tokens
from tests.conftest import Api
from tests.factories import World, build_world

NUL = "\u0000"
CONVERSIONS = """query($f: ConversionFilterInput) {
  conversions(first: 10, filter: $f) { totalCount nodes { id } }
}"""
CREATE_TOKEN = """mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) { secret userErrors { field code } }
}"""
PROGRAMS = """query($f: NamedFilterInput) {
  programs(first: 10, filter: $f) { nodes { name } }
}"""
IMPORT = """mutation($file: Upload!) {
  importConversionRequests(input: {file: $file}) { importJob { id } userErrors { code } }
}"""


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    return await build_world(engine)


def single_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("data") is None, body  # refused: no `data` (or null when execution began)
    errors = body["errors"]
    assert len(errors) == 1, body
    error: dict[str, Any] = errors[0]
    return error


async def _tokens(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(api_tokens)) or 0)


@pytest.mark.parametrize(
    ("variables", "path"),
    [
        ({"f": {"orderId": f"a{NUL}b"}}, ["f", "orderId"]),
        ({"f": {"trackingCategories": ["default", f"{NUL}"]}}, ["f", "trackingCategories", "1"]),
        ({"f": {"programIds": [f"UHJvZ3JhbTox{NUL}"]}}, ["f", "programIds", "0"]),
    ],
)
async def test_a_nul_character_in_a_variable_is_refused_with_a_code(
    api: Api, world: World, variables: dict[str, Any], path: list[str]
) -> None:
    response = await api.post(CONVERSIONS, variables, world.tokens["A"])
    assert response.status_code == 200
    error = single_error(response.json())
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "reason": "NUL_CHARACTER",
        "variable": path,
    }
    assert "$" + ".".join(path) in error["message"]


async def test_a_nul_character_in_a_mutation_input_writes_nothing(
    api: Api, world: World, engine: AsyncEngine
) -> None:
    before = await _tokens(engine)
    body = await api.query(CREATE_TOKEN, {"input": {"name": f"ci{NUL}"}}, world.tokens["A"])
    assert single_error(body)["extensions"]["reason"] == "NUL_CHARACTER"
    # The same string as a literal in the document.
    literal = 'mutation { createApiToken(input: {name: "ci\\u0000"}) { secret } }'
    error = single_error(await api.query(literal, token=world.tokens["A"]))
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "reason": "NUL_CHARACTER",
        "argument": ["input", "name"],
    }
    assert await _tokens(engine) == before
    # Without the NUL, the same mutation works (the check is not a blanket refusal).
    ok = await api.data(CREATE_TOKEN, {"input": {"name": "ci"}}, world.tokens["A"])
    assert ok["createApiToken"]["secret"]


async def test_a_refused_request_is_not_charged_to_the_bucket(api: Api, world: World) -> None:
    body = await api.query(CONVERSIONS, {"f": {"orderId": NUL}}, world.tokens["A"])
    assert single_error(body)["extensions"]["reason"] == "NUL_CHARACTER"
    assert "throttleStatus" not in body["extensions"]["cost"]


@pytest.mark.parametrize("who", [None, "A", "admin"])
@pytest.mark.parametrize(
    "document",
    [
        "{ ...Missing }",
        "query { viewer { ...Missing } }",
        "query { viewer { ...Known } } fragment Known on Viewer { ...Missing }",
    ],
)
async def test_an_undefined_fragment_is_a_validation_error(
    api: Api, world: World, who: str | None, document: str
) -> None:
    response = await api.post(document, token=world.tokens[who] if who else None)
    assert response.status_code == 200
    error = single_error(response.json())
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Unknown fragment 'Missing'" in error["message"]


@pytest.mark.parametrize("length", [MAX_SEARCH_LENGTH + 1, 60_000])
async def test_a_search_longer_than_a_name_is_refused(api: Api, world: World, length: int) -> None:
    body = await api.query(PROGRAMS, {"f": {"search": "x" * length}}, world.tokens["admin"])
    error = single_error(body)
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "reason": "TOO_LONG",
        "argument": ["filter", "search"],
    }


async def test_a_search_matches_literally_and_up_to_its_limit(api: Api, world: World) -> None:
    async def names(search: str) -> list[str]:
        data = await api.data(PROGRAMS, {"f": {"search": search}}, world.tokens["admin"])
        return [n["name"] for n in data["programs"]["nodes"]]

    assert await names("NORDWIND") == ["Nordwind DE"]
    assert await names("x" * MAX_SEARCH_LENGTH) == []
    for wildcard in ("%", "_", "\\", "%_\\"):
        assert await names(wildcard) == []


@pytest.mark.parametrize("value", [["a", "b"], "a file", {"name": "x.csv"}, 42])
async def test_a_value_that_is_not_a_file_is_refused_as_an_upload(
    api: Api, world: World, value: Any
) -> None:
    response = await api.post(IMPORT, {"file": value}, world.tokens["A"])
    assert response.status_code == 200
    error = single_error(response.json())
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "multipart" in error["message"]


@pytest.mark.parametrize("way", ["json body", "query string", "multipart"])
async def test_a_nul_in_the_variables_is_refused_however_they_come(
    api: Api, world: World, way: str
) -> None:
    """A JSON body without a `\\u0000` escape skips the NUL walk over its variables: each way of
    sending them still finds the NUL (the body written by hand, escape in the middle)."""
    headers = {"Authorization": f"Bearer {world.tokens['A']}"}
    variables = '{"f": {"orderId": "ab\\u0000cd"}}'
    if way == "json body":
        body = f'{{"query": {json.dumps(CONVERSIONS)}, "variables": {variables}}}'
        response = await api.client.post(
            "/graphql", content=body, headers=headers | {"Content-Type": "application/json"}
        )
    elif way == "query string":
        response = await api.client.get(
            "/graphql", params={"query": CONVERSIONS, "variables": variables}, headers=headers
        )
    else:
        spare = variables[:-1] + ', "spare": null}'  # where the file goes (not declared)
        operations = f'{{"query": {json.dumps(CONVERSIONS)}, "variables": {spare}}}'
        response = await api.client.post(
            "/graphql",
            data={"operations": operations, "map": '{"unused": ["variables.spare"]}'},
            files={"unused": ("x.txt", b"x")},
            headers=headers | {"X-Requested-With": "portal"},
        )
    error = single_error(response.json())
    assert error["extensions"]["reason"] == "NUL_CHARACTER", error


async def test_text_that_only_looks_like_the_escape_is_no_nul(api: Api, world: World) -> None:
    """An escaped backslash before `u0000` is the text `\\u0000`, not a NUL: the body has the
    bytes of the escape, so its variables are walked, and nothing is refused."""
    body = (
        f'{{"query": {json.dumps(CONVERSIONS)}, "variables": {{"f": {{"orderId": "a\\\\u0000"}}}}}}'
    )
    assert "\\\\u0000" in body
    response = await api.client.post(
        "/graphql",
        content=body,
        headers={
            "Authorization": f"Bearer {world.tokens['A']}",
            "Content-Type": "application/json",
        },
    )
    answer = response.json()
    assert "errors" not in answer, answer
    assert answer["data"]["conversions"]["totalCount"] == 0
