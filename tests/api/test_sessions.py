"""SPEC §2 authentication: sessions for SPAs (HttpOnly SameSite cookie + CSRF header), API
tokens for scripts (created, used, revoked through the API), and configurable CORS."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import api_tokens
from portal.config import Settings
from portal.schema.ids import decode_typed, encode_id
from portal.web.app import create_app
from portal.web.auth import SESSION_COOKIE
from tests.conftest import Api
from tests.factories import World, add_partner_login, build_world

PASSWORD = "correct horse battery"
EMAIL = "spa@partner.test"
LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { user { email role } csrfToken expiresAt userErrors { field code message } }
}
"""
LOGOUT = "mutation { logout { ok userErrors { code } } }"
VIEWER = "{ viewer { user { email } } }"
CREATE_TOKEN = """
mutation Create($input: CreateApiTokenInput!) {
  createApiToken(input: $input) {
    apiToken { id name prefix lastUsedAt revokedAt } secret userErrors { field code message }
  }
}
"""
REVOKE_TOKEN = """
mutation Revoke($input: RevokeApiTokenInput!) {
  revokeApiToken(input: $input) { apiToken { id revokedAt } userErrors { field code message } }
}
"""


async def world_with_spa_user(engine: AsyncEngine) -> World:
    world = await build_world(engine)
    await add_partner_login(engine, world, EMAIL, PASSWORD)
    return world


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    return await world_with_spa_user(engine)


async def login(api: Api) -> tuple[httpx.Response, dict[str, Any]]:
    response = await api.post(LOGIN, {"input": {"email": EMAIL, "password": PASSWORD}})
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["login"]
    assert payload["userErrors"] == []
    return response, payload


async def test_login_sets_an_httponly_samesite_session_cookie(api: Api, world: World) -> None:
    response, payload = await login(api)
    assert payload["user"] == {"email": EMAIL, "role": "PARTNER"}
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "samesite=lax" in cookie.lower()
    # The CSRF token is for the header; it is not the cookie's secret.
    assert payload["csrfToken"] and payload["csrfToken"] not in cookie
    assert datetime.fromisoformat(payload["expiresAt"]) > datetime.now(UTC) + timedelta(hours=11)


async def test_cookie_request_needs_the_csrf_token(api: Api, world: World) -> None:
    _, payload = await login(api)

    without = await api.post(VIEWER)  # the client sends the cookie it was given
    assert without.status_code == 403
    assert without.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    wrong = await api.post(VIEWER, headers={"X-CSRF-Token": "csrf_guessed"})
    assert wrong.status_code == 403

    with_token = await api.post(VIEWER, headers={"X-CSRF-Token": payload["csrfToken"]})
    assert with_token.status_code == 200
    assert with_token.json()["data"]["viewer"]["user"]["email"] == EMAIL


async def test_cookie_get_may_query_but_never_mutate(api: Api, world: World) -> None:
    await login(api)
    query = await api.client.get("/graphql", params={"query": VIEWER})
    assert query.status_code == 200
    assert query.json()["data"]["viewer"]["user"]["email"] == EMAIL

    mutation = await api.client.get(
        "/graphql",
        params={"query": 'mutation { createApiToken(input: {name: "via get"}) { secret } }'},
    )
    assert mutation.status_code in (400, 405)
    assert "via get" not in mutation.text


async def test_logout_ends_the_session(api: Api, world: World) -> None:
    response, payload = await login(api)
    secret = response.cookies[SESSION_COOKIE]
    csrf = {"X-CSRF-Token": payload["csrfToken"]}

    out = await api.post(LOGOUT, headers=csrf)
    assert out.status_code == 200
    assert out.json()["data"]["logout"] == {"ok": True, "userErrors": []}
    assert SESSION_COOKIE not in api.client.cookies  # the browser is told to drop it

    # The old cookie (kept by an attacker or another tab) no longer authenticates.
    replay = await api.post(VIEWER, headers={**csrf, "Cookie": f"{SESSION_COOKIE}={secret}"})
    assert replay.status_code == 401
    assert replay.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    # Without the cookie the request is anonymous.
    anonymous = (await api.post(VIEWER)).json()
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_wrong_password_is_invalid_credentials_like_an_unknown_email(
    api: Api, world: World
) -> None:
    wrong = await api.post(LOGIN, {"input": {"email": EMAIL, "password": "wrong password!"}})
    unknown = await api.post(
        LOGIN, {"input": {"email": "nobody@partner.test", "password": PASSWORD}}
    )
    for response in (wrong, unknown):
        assert response.status_code == 200
        assert "set-cookie" not in response.headers
        payload = response.json()["data"]["login"]
        assert payload["user"] is None and payload["csrfToken"] is None
        assert [e["code"] for e in payload["userErrors"]] == ["INVALID_CREDENTIALS"]

    # No user enumeration: both answers are the same, apart from the address's rate-limit bucket,
    # which refills with time between the two requests.
    def without_bucket_level(body: dict[str, Any]) -> dict[str, Any]:
        del body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
        return body

    assert without_bucket_level(wrong.json()) == without_bucket_level(unknown.json())


async def _token_row(engine: AsyncEngine, token_id: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                select(api_tokens).where(api_tokens.c.id == decode_typed(token_id, "ApiToken"))
            )
        ).one()


async def test_api_token_created_used_and_revoked_through_the_api(
    api: Api, engine: AsyncEngine, world: World
) -> None:
    created = await api.data(
        CREATE_TOKEN, {"input": {"name": "nightly export"}}, token=world.tokens["A"]
    )
    payload = created["createApiToken"]
    assert payload["userErrors"] == []
    secret, token_id = payload["secret"], payload["apiToken"]["id"]
    assert secret.startswith(payload["apiToken"]["prefix"])
    assert payload["apiToken"]["lastUsedAt"] is None

    # Stored hashed, never the secret.
    row = await _token_row(engine, token_id)
    assert row.token_hash != secret and secret not in row.token_hash
    assert row.last_used_at is None

    data = await api.data(VIEWER, token=secret)
    assert data["viewer"]["user"]["email"] == "a@partner.test"
    row = await _token_row(engine, token_id)
    assert row.last_used_at is not None
    last_used = (
        row.last_used_at if row.last_used_at.tzinfo else row.last_used_at.replace(tzinfo=UTC)
    )
    assert abs(datetime.now(UTC) - last_used) < timedelta(minutes=1)

    revoked = await api.data(
        REVOKE_TOKEN, {"input": {"tokenId": token_id}}, token=world.tokens["A"]
    )
    assert revoked["revokeApiToken"]["userErrors"] == []
    assert revoked["revokeApiToken"]["apiToken"]["revokedAt"] is not None

    after = await api.post(VIEWER, token=secret)
    assert after.status_code == 401
    assert after.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # The token that revoked it still works.
    assert (await api.data(VIEWER, token=world.tokens["A"]))["viewer"]["user"][
        "email"
    ] == "a@partner.test"


async def test_partner_cannot_revoke_another_users_token(
    api: Api, engine: AsyncEngine, world: World
) -> None:
    created = await api.data(CREATE_TOKEN, {"input": {"name": "mine"}}, token=world.tokens["A"])
    token_id, secret = (
        created["createApiToken"]["apiToken"]["id"],
        created["createApiToken"]["secret"],
    )

    foreign = await api.post(
        REVOKE_TOKEN, {"input": {"tokenId": token_id}}, token=world.tokens["B"]
    )
    missing = await api.post(
        REVOKE_TOKEN,
        {"input": {"tokenId": encode_id("ApiToken", 987_654)}},
        token=world.tokens["B"],
    )
    payload = foreign.json()["data"]["revokeApiToken"]
    assert payload["apiToken"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", ["input", "tokenId"])
    ]
    assert foreign.json() == missing.json()  # another user's token reads like a missing one

    assert (await _token_row(engine, token_id)).revoked_at is None
    assert (await api.post(VIEWER, token=secret)).status_code == 200

    # An admin may revoke any token.
    by_admin = await api.data(
        REVOKE_TOKEN, {"input": {"tokenId": token_id}}, token=world.tokens["admin"]
    )
    assert by_admin["revokeApiToken"]["userErrors"] == []
    assert (await api.post(VIEWER, token=secret)).status_code == 401


async def test_partner_cannot_create_a_token_for_another_user(api: Api, world: World) -> None:
    admin_user = (await api.data("{ viewer { user { id } } }", token=world.tokens["admin"]))[
        "viewer"
    ]["user"]["id"]
    data = await api.data(
        CREATE_TOKEN, {"input": {"name": "escalate", "userId": admin_user}}, token=world.tokens["A"]
    )
    payload = data["createApiToken"]
    assert payload["secret"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["PERMISSION_DENIED"]


ALLOWED = "https://app.portal.example"


@pytest.fixture
async def cors_api(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Api]:
    app = create_app(dataclasses.replace(settings, cors_origins=(ALLOWED,)), engine=engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
        ) as client,
    ):
        yield Api(client)


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-csrf-token",
    }


async def test_cors_preflight_allows_only_configured_origins(cors_api: Api, world: World) -> None:
    allowed = await cors_api.client.options("/graphql", headers=preflight(ALLOWED))
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "x-csrf-token" in allowed.headers["access-control-allow-headers"].lower()
    assert "POST" in allowed.headers["access-control-allow-methods"]

    foreign = await cors_api.client.options("/graphql", headers=preflight("https://evil.example"))
    assert foreign.status_code == 400
    assert "access-control-allow-origin" not in foreign.headers

    # Actual requests: the browser may read the answer only for the allowed origin.
    for origin, readable in ((ALLOWED, True), ("https://evil.example", False)):
        response = await cors_api.post(VIEWER, token=world.tokens["A"], headers={"Origin": origin})
        assert response.status_code == 200
        assert (response.headers.get("access-control-allow-origin") == origin) is readable


async def test_without_cors_origins_no_cross_origin_access(api: Api, world: World) -> None:
    response = await api.client.options("/graphql", headers=preflight(ALLOWED))
    assert "access-control-allow-origin" not in response.headers
    answer = await api.post(VIEWER, token=world.tokens["A"], headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in answer.headers
