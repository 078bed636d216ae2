"""GET /csrf-token gives a page that holds the session cookie its CSRF token again (after a
reload), and nothing to anyone else: not without the cookie, not for an ended session, not to a
foreign origin (CORS), never cached."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.config import Settings
from portal.web.auth import SESSION_COOKIE
from tests.api.http_helpers import coded_error, serve
from tests.factories import World, add_partner_login, build_world

LOGIN = """mutation($input: LoginInput!) {
  login(input: $input) { csrfToken userErrors { code } } }"""
LOGOUT = "mutation { logout { ok } }"
TOKEN = 'mutation { createApiToken(input: {name: "after reload"}) { secret userErrors { code } } }'
SPA = "https://partners.example.com"
PASSWORD = "correct horse battery"


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    world = await build_world(engine)
    await add_partner_login(engine, world, "a@spa.test", PASSWORD, partner="A")
    await add_partner_login(engine, world, "b@spa.test", PASSWORD, partner="B")
    return world


@pytest.fixture
async def client(engine: AsyncEngine, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings, engine, cors_origins=(SPA,)) as client:
        yield client


async def login(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"input": {"email": email, "password": PASSWORD}}},
    )
    token: str = response.json()["data"]["login"]["csrfToken"]
    return token


async def test_the_session_gets_its_csrf_token_back(
    client: httpx.AsyncClient, world: World
) -> None:
    csrf = await login(client, "a@spa.test")

    response = await client.get("/csrf-token")  # the client sends the cookie, as a browser
    assert response.status_code == 200
    assert response.json() == {
        "csrfToken": csrf,
        "user": {"email": "a@spa.test", "role": "PARTNER"},
    }
    assert response.headers["cache-control"] == "no-store"

    mutation = await client.post(
        "/graphql", json={"query": TOKEN}, headers={"X-CSRF-Token": response.json()["csrfToken"]}
    )
    assert mutation.json()["data"]["createApiToken"]["secret"].startswith("ptk_")


async def test_without_a_cookie_there_is_no_token(client: httpx.AsyncClient, world: World) -> None:
    for headers in ({}, {"Authorization": f"Bearer {world.tokens['A']}"}):
        response = await client.get("/csrf-token", headers=headers)
        assert response.status_code == 200
        assert response.json() == {"csrfToken": None, "user": None}


async def test_an_ended_session_is_401_and_its_cookie_is_dropped(
    client: httpx.AsyncClient, world: World
) -> None:
    csrf = await login(client, "a@spa.test")
    secret = client.cookies[SESSION_COOKIE]
    await client.post("/graphql", json={"query": LOGOUT}, headers={"X-CSRF-Token": csrf})

    client.cookies.set(SESSION_COOKIE, secret)  # a browser that kept the cookie
    response = await client.get("/csrf-token")
    coded_error(response, 401, "UNAUTHENTICATED")
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]
    assert "max-age=0" in response.headers["set-cookie"].lower()


async def test_one_sessions_token_does_not_open_another_session(
    client: httpx.AsyncClient, world: World
) -> None:
    csrf_a = await login(client, "a@spa.test")
    cookie_a = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    csrf_b = await login(client, "b@spa.test")
    assert csrf_a != csrf_b
    assert (await client.get("/csrf-token")).json()["csrfToken"] == csrf_b

    forged = await client.post("/graphql", json={"query": TOKEN}, headers={"X-CSRF-Token": csrf_a})
    coded_error(forged, 403, "FORBIDDEN")
    client.cookies.set(SESSION_COOKIE, cookie_a)
    assert (await client.get("/csrf-token")).json()["user"]["email"] == "a@spa.test"


async def test_only_allowed_origins_may_read_the_token(
    client: httpx.AsyncClient, world: World
) -> None:
    await login(client, "a@spa.test")
    allowed = await client.get("/csrf-token", headers={"Origin": SPA})
    assert allowed.headers["access-control-allow-origin"] == SPA
    assert allowed.headers["access-control-allow-credentials"] == "true"
    foreign = await client.get("/csrf-token", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers  # the browser hides the answer


async def test_without_cors_origins_no_origin_may_read_it(
    engine: AsyncEngine, settings: Settings, world: World
) -> None:
    async with serve(settings, engine) as client:
        await login(client, "a@spa.test")
        response = await client.get("/csrf-token", headers={"Origin": SPA})
    assert "access-control-allow-origin" not in response.headers
