"""Security headers (issue 10, finding 10) on API answers, errors, GraphiQL, its assets and
downloads: no sniffing, no referrer, no framing, a CSP on everything, no caching of data."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.config import Settings
from portal.resolvers.imports import TEMPLATE_PATH
from tests.api.http_helpers import serve
from tests.factories import World, build_world


@pytest.fixture
async def client(
    sqlite_engine: AsyncEngine, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings, sqlite_engine) as client:
        yield client


@pytest.fixture
async def world(sqlite_engine: AsyncEngine) -> World:
    return await build_world(sqlite_engine)


def directives(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {d.split(" ")[0]: d.partition(" ")[2] for d in (p.strip() for p in policy.split(";"))}


def assert_common(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert directives(response)["frame-ancestors"] == "'none'"


def assert_locked_down(response: httpx.Response) -> None:
    assert_common(response)
    policy = directives(response)
    assert policy["default-src"] == "'none'"
    assert "sandbox" in policy
    assert response.headers["cache-control"] == "no-store"


async def test_api_answers_and_errors_are_locked_down(
    client: httpx.AsyncClient, world: World
) -> None:
    answers = [
        await client.post(
            "/graphql",
            json={"query": "{ viewer { user { email } } }"},
            headers={"Authorization": f"Bearer {world.tokens['A']}"},
        ),
        await client.post(
            "/graphql", content=b"null", headers={"Content-Type": "application/json"}
        ),
        await client.post("/graphql", json={"query": "{"}),
        await client.put("/graphql"),
        await client.post("/graphql", json={}, headers={"Authorization": "Bearer nope"}),
        await client.get("/csrf-token"),
        await client.get("/health"),
    ]
    for response in answers:
        assert_locked_down(response)


async def test_downloads_are_locked_down_attachments(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get(
        f"{TEMPLATE_PATH}.csv", headers={"Authorization": f"Bearer {world.tokens['A']}"}
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert_locked_down(response)
    assert_locked_down(await client.get(f"{TEMPLATE_PATH}.csv"))  # 401


async def test_graphiql_allows_its_own_assets_only(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.headers["content-type"].startswith("text/html")
    assert_common(response)
    policy = directives(response)
    assert policy["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src"):
        assert policy[name] == "'self'", name  # no CDN, no inline script, no eval
    assert policy["base-uri"] == "'none'"
    assert response.headers["cache-control"] == "no-store"


async def test_graphiql_assets_keep_their_caching(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphiql/vendor/react-18.3.1/react.production.min.js")
    assert_common(response)
    assert "immutable" in response.headers["cache-control"]
