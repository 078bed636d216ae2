"""API tokens are authenticated from a short-lived cache of the app (issue 13): a warm token
costs no SQL statement; a token revoked on this instance is refused by the next request; a
failure, a session cookie and a token past its expiry are never answered from the cache.
Across instances (Redis): tests/integration/test_token_revocation.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.unit_of_work import UnitOfWork
from portal.config import Settings
from portal.domain.access import Role
from portal.schema.ids import encode_id
from portal.services import access
from tests.api.http_helpers import serve
from tests.api.test_sessions import EMAIL, PASSWORD, REVOKE_TOKEN, world_with_spa_user
from tests.conftest import Api, StatementCounter

VIEWER = "{ viewer { user { email } } }"


async def new_token(
    engine: AsyncEngine, email: str, expires_in: timedelta | None = None
) -> tuple[int, str]:
    async with UnitOfWork(engine) as uow:
        user = await access.find_user_by_email(uow, email) or await access.create_user(
            uow, None, email=email, name="script", role=Role.ADMIN
        )
        created = await access.create_api_token(
            uow,
            user.as_viewer(),
            name="script",
            expires_at=uow.now + expires_in if expires_in else None,
        )
        await uow.commit()
    return created.token.id, created.secret


def refused(response: httpx.Response, why: str) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert why in error["message"]


def token_reads(statements: StatementCounter) -> list[str]:
    """The lookups of a token by its secret's hash (not the update of its last use)."""
    return [s for s in statements.statements if "api_tokens.token_hash =" in s]


async def test_a_warm_token_costs_no_statement(
    api: Api, engine: AsyncEngine, statements: StatementCounter
) -> None:
    _, secret = await new_token(engine, "script@portal.test")
    statements.reset()
    assert (await api.data(VIEWER, token=secret))["viewer"]["user"]["email"] == "script@portal.test"
    assert token_reads(statements), "a cold token is read (and its last use recorded)"

    for _ in range(3):
        statements.reset()
        data = await api.data(VIEWER, token=secret)
        assert data["viewer"]["user"]["email"] == "script@portal.test"
        # Only the query's own statement (the user object): none for the token.
        assert [s for s in statements.statements if "api_tokens" in s] == []
        assert statements.count == 1, statements.statements


async def test_a_token_revoked_through_the_api_is_refused_by_the_next_request(
    api: Api, engine: AsyncEngine
) -> None:
    token_id, secret = await new_token(engine, "script@portal.test")
    _, other = await new_token(engine, "script@portal.test")
    await api.data(VIEWER, token=secret)  # cached
    await api.data(VIEWER, token=other)  # cached

    revoked = await api.data(
        REVOKE_TOKEN, {"input": {"tokenId": encode_id("ApiToken", token_id)}}, token=other
    )
    assert revoked["revokeApiToken"]["userErrors"] == []
    refused(await api.post(VIEWER, token=secret), "revoked")
    # The other token of the same user stays cached and works.
    assert (await api.data(VIEWER, token=other))["viewer"]["user"]["email"]


async def test_a_token_revoked_by_the_service_is_dropped_from_the_apps_cache(
    api: Api, engine: AsyncEngine
) -> None:
    """The service reaches the cache of every app on its engine, whoever calls it."""
    token_id, secret = await new_token(engine, "script@portal.test")
    await api.data(VIEWER, token=secret)
    async with UnitOfWork(engine) as uow:
        owner = await access.find_user_by_email(uow, "script@portal.test")
        assert owner is not None
        await access.revoke_api_token(uow, owner.as_viewer(), token_id)
        await uow.rollback()  # not committed: nothing is dropped, the token is valid
    assert (await api.data(VIEWER, token=secret))["viewer"]["user"]["email"]
    async with UnitOfWork(engine) as uow:
        await access.revoke_api_token(uow, owner.as_viewer(), token_id)
        await uow.commit()
    refused(await api.post(VIEWER, token=secret), "revoked")


async def test_a_refused_token_is_read_again_by_every_request(
    api: Api, engine: AsyncEngine, statements: StatementCounter
) -> None:
    token_id, secret = await new_token(engine, "script@portal.test")
    async with UnitOfWork(engine) as uow:
        owner = await access.find_user_by_email(uow, "script@portal.test")
        assert owner is not None
        await access.revoke_api_token(uow, owner.as_viewer(), token_id)
        await uow.commit()
    for credential, why in ((secret, "revoked"), ("ptk_unknown", "unknown")):
        for _ in range(2):
            statements.reset()
            refused(await api.post(VIEWER, token=credential), why)
            assert len(token_reads(statements)) == 1, statements.statements
    assert len(api.app.state.token_cache) == 0


async def test_a_cached_token_ends_at_its_expiry(api: Api, engine: AsyncEngine) -> None:
    _, secret = await new_token(engine, "script@portal.test", expires_in=timedelta(seconds=1.5))
    await api.data(VIEWER, token=secret)
    assert len(api.app.state.token_cache) == 1
    await asyncio.sleep(1.6)  # the cache would trust it for 30 s
    refused(await api.post(VIEWER, token=secret), "expired")


async def test_session_cookies_are_read_by_every_request(
    api: Api, engine: AsyncEngine, statements: StatementCounter
) -> None:
    await world_with_spa_user(engine)
    login = """mutation L($input: LoginInput!) { login(input: $input) { csrfToken } }"""
    response = await api.post(login, {"input": {"email": EMAIL, "password": PASSWORD}})
    assert response.status_code == 200 and "set-cookie" in response.headers
    for _ in range(2):
        statements.reset()
        got = await api.client.get("/graphql", params={"query": VIEWER})
        assert got.json()["data"]["viewer"]["user"]["email"] == EMAIL
        assert any("sessions" in s for s in statements.statements), statements.statements
    assert len(api.app.state.token_cache) == 0


async def test_zero_seconds_reads_the_token_on_every_request(
    engine: AsyncEngine, settings: Settings, statements: StatementCounter
) -> None:
    _, secret = await new_token(engine, "script@portal.test")
    async with serve(settings, engine, token_cache_seconds=0) as client:
        api = Api(client)
        for _ in range(3):
            statements.reset()
            await api.data(VIEWER, token=secret)
            assert len(token_reads(statements)) == 1, statements.statements
