"""Security headers (issue 10, finding 10) on API answers, errors, GraphiQL, its assets and
downloads: no sniffing, no referrer, no framing, a CSP on everything, no caching of data."""

from __future__ import annotations

import httpx

from portal.resolvers.imports import TEMPLATE_PATH
from tests.factories import World


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
    http_client: httpx.AsyncClient, sqlite_world: World
) -> None:
    answers = [
        await http_client.post(
            "/graphql",
            json={"query": "{ viewer { user { email } } }"},
            headers={"Authorization": f"Bearer {sqlite_world.tokens['A']}"},
        ),
        await http_client.post(
            "/graphql", content=b"null", headers={"Content-Type": "application/json"}
        ),
        await http_client.post("/graphql", json={"query": "{"}),
        await http_client.put("/graphql"),
        await http_client.post("/graphql", json={}, headers={"Authorization": "Bearer nope"}),
        await http_client.get("/csrf-token"),
        await http_client.get("/health"),
    ]
    for response in answers:
        assert_locked_down(response)


async def test_downloads_are_locked_down_attachments(
    http_client: httpx.AsyncClient, sqlite_world: World
) -> None:
    response = await http_client.get(
        f"{TEMPLATE_PATH}.csv", headers={"Authorization": f"Bearer {sqlite_world.tokens['A']}"}
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert_locked_down(response)
    assert_locked_down(await http_client.get(f"{TEMPLATE_PATH}.csv"))  # 401


async def test_graphiql_allows_its_own_assets_only(http_client: httpx.AsyncClient) -> None:
    response = await http_client.get("/graphql", headers={"Accept": "text/html"})
    assert response.headers["content-type"].startswith("text/html")
    assert_common(response)
    policy = directives(response)
    assert policy["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src"):
        assert policy[name] == "'self'", name  # no CDN, no inline script, no eval
    assert policy["base-uri"] == "'none'"
    assert response.headers["cache-control"] == "no-store"


async def test_graphiql_assets_keep_their_caching(http_client: httpx.AsyncClient) -> None:
    response = await http_client.get("/graphiql/vendor/react-18.3.1/react.production.min.js")
    assert_common(response)
    assert "immutable" in response.headers["cache-control"]
