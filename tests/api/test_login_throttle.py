"""Sign-in abuse over HTTP: failed attempts are throttled per account and per client address
(TOO_MANY_ATTEMPTS, Retry-After, the password not even checked), a browser that signed in
before is not kept waiting by someone else's failures, and only a JSON body may sign in (a
form on a foreign page cannot: login CSRF). Anonymous requests are charged to their address."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from portal.config import Settings
from portal.domain import login_backoff
from portal.domain.login_backoff import Backoff
from portal.web.app import create_app
from portal.web.auth import DEVICE_COOKIE, SESSION_COOKIE
from portal.web.throttles import redis_prefix
from tests.api.test_sessions import EMAIL, PASSWORD, world_with_spa_user
from tests.conftest import REDIS_URL, unavailable
from tests.factories import World

LOGIN = """mutation($input: LoginInput!) {
  login(input: $input) { user { email } retryAfterSeconds userErrors { field code message } }
}"""
Client = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    """The test world with test_sessions' SPA user (a partner user with a password)."""
    return await world_with_spa_user(engine)


@pytest.fixture
async def client(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Client]:
    """Clients of apps: `client(address, **settings changes)`; one app per settings."""
    apps: dict[str, Starlette] = {}
    lifespans: list[Any] = []
    clients: list[httpx.AsyncClient] = []

    async def make(address: str = "192.0.2.1", **changes: Any) -> httpx.AsyncClient:
        key = repr(sorted(changes.items()))
        if key not in apps:
            app = create_app(dataclasses.replace(settings, **changes), engine=engine)
            lifespan = app.router.lifespan_context(app)
            await lifespan.__aenter__()
            apps[key] = app
            lifespans.append(lifespan)
        transport = httpx.ASGITransport(app=apps[key], client=(address, 40000))
        made = httpx.AsyncClient(transport=transport, base_url="http://portal.test")
        clients.append(made)
        return made

    yield make
    for made in clients:
        await made.aclose()
    for lifespan in lifespans:
        await lifespan.__aexit__(None, None, None)


async def login(
    client: httpx.AsyncClient, password: str, email: str = EMAIL
) -> tuple[httpx.Response, dict[str, Any]]:
    response = await client.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"input": {"email": email, "password": password}}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("errors") is None, body
    payload: dict[str, Any] = body["data"]["login"]
    return response, payload


def code(payload: dict[str, Any]) -> str | None:
    return payload["userErrors"][0]["code"] if payload["userErrors"] else None


async def test_an_account_waits_after_five_failures_even_with_the_right_password(
    client: Client, world: World
) -> None:
    browser = await client()
    for _ in range(5):
        _, failed = await login(browser, "wrong password!")
        assert code(failed) == "INVALID_CREDENTIALS"
    response, refused = await login(browser, PASSWORD)
    assert code(refused) == "TOO_MANY_ATTEMPTS"
    assert refused["user"] is None
    assert refused["retryAfterSeconds"] == 1 == int(response.headers["Retry-After"])
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert refused["userErrors"][0]["field"] is None


async def test_the_wait_ends_and_the_right_password_works_again(
    client: Client, world: World
) -> None:
    browser = await client()
    for _ in range(5):
        await login(browser, "wrong password!")
    _, refused = await login(browser, PASSWORD)
    await asyncio.sleep(refused["retryAfterSeconds"] + 0.1)
    response, signed_in = await login(browser, PASSWORD)
    assert signed_in["user"] == {"email": EMAIL}
    assert SESSION_COOKIE in response.headers["set-cookie"]
    # Signed in: the account's failures are forgotten, five are free again.
    browser.cookies.delete(SESSION_COOKIE)
    for _ in range(5):
        assert code((await login(browser, "wrong password!"))[1]) == "INVALID_CREDENTIALS"


async def test_an_unknown_address_is_throttled_exactly_like_a_known_one(
    client: Client, world: World
) -> None:
    browser = await client()
    answers = []
    for email in (EMAIL, "nobody@partner.test"):
        for _ in range(5):
            await login(browser, "wrong password!", email)
        answers.append((await login(browser, "wrong password!", email))[1])
    assert answers[0] == answers[1]
    assert code(answers[0]) == "TOO_MANY_ATTEMPTS"


async def test_a_browser_that_signed_in_before_is_not_kept_waiting_by_an_attacker(
    client: Client, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wait of 30 s after the 5th failure: the lock outlasts the test, however slow it runs.
    monkeypatch.setattr(login_backoff, "ACCOUNT", Backoff(5, 30, 60, 900))
    user = await client("198.51.100.7")
    response, _ = await login(user, PASSWORD)
    assert DEVICE_COOKIE in response.headers["set-cookie"]
    attacker = await client("203.0.113.66")
    for _ in range(6):
        await login(attacker, "guess")
    assert code((await login(attacker, PASSWORD))[1]) == "TOO_MANY_ATTEMPTS"
    # The user's browser shows its device cookie: its own count, untouched by the attack.
    user.cookies.delete(SESSION_COOKIE)
    _, again = await login(user, PASSWORD)
    assert again["user"] == {"email": EMAIL}
    # A forged or foreign device cookie is worth nothing.
    forged = await client("203.0.113.66")
    forged.cookies.set(DEVICE_COOKIE, "abc.0123456789abcdef0123456789abcdef")
    assert code((await login(forged, PASSWORD))[1]) == "TOO_MANY_ATTEMPTS"


async def test_one_address_trying_many_accounts_waits_and_others_do_not(
    client: Client, world: World
) -> None:
    attacker = await client("203.0.113.66")
    for i in range(20):  # 4 accounts × 5: no account is throttled on its own
        _, failed = await login(attacker, "guess", f"user{i // 5}@partner.test")
        assert code(failed) == "INVALID_CREDENTIALS"
    _, refused = await login(attacker, "guess", "fresh@partner.test")
    assert code(refused) == "TOO_MANY_ATTEMPTS"
    _, from_elsewhere = await login(await client("198.51.100.7"), PASSWORD)
    assert from_elsewhere["user"] == {"email": EMAIL}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (
            "multipart/form-data; boundary=X",
            '--X\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{operations}\r\n'
            '--X\r\nContent-Disposition: form-data; name="map"\r\n\r\n{{}}\r\n--X--\r\n',
        ),
        ("application/x-www-form-urlencoded", "query={query}"),
        ("text/plain", "{operations}"),
    ],
)
async def test_only_a_json_body_may_sign_in(
    client: Client, world: World, content_type: str, body: str
) -> None:
    operations = json.dumps(
        {"query": LOGIN, "variables": {"input": {"email": EMAIL, "password": PASSWORD}}}
    )
    browser = await client()
    response = await browser.post(
        "/graphql",
        content=body.format(operations=operations, query=LOGIN),
        headers={"Content-Type": content_type},
    )
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert "user" not in response.text
    if content_type.startswith("multipart"):  # strawberry runs it: the resolver refuses
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # The same login as JSON works.
    assert (await login(browser, PASSWORD))[1]["user"] == {"email": EMAIL}


async def test_anonymous_requests_are_charged_to_their_client_address(
    client: Client, world: World
) -> None:
    tight = {"anonymous_rate_limit_capacity": 3, "anonymous_rate_limit_restore_rate": 1}
    first = await client("203.0.113.66", **tight)
    answers = [await first.post("/graphql", json={"query": "{ __typename }"}) for _ in range(4)]
    assert [a.json().get("errors") for a in answers[:3]] == [None, None, None]
    refused = answers[3]
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert int(refused.headers["Retry-After"]) >= 1
    other = await client("198.51.100.7", **tight)
    assert (await other.post("/graphql", json={"query": "{ __typename }"})).json().get(
        "errors"
    ) is None


@pytest.mark.redis
async def test_counters_live_in_redis_per_deployment_and_every_instance_shares_them(
    client: Client, world: World
) -> None:
    if not REDIS_URL:
        unavailable("Redis (PORTAL_TEST_REDIS_URL)")
    deployment = f"postgresql+asyncpg://db/{uuid.uuid4().hex}"
    one = await client(redis_url=REDIS_URL, database_url=deployment)
    for _ in range(5):
        await login(one, "guess")
    # Another instance of the same deployment (same database, same Redis): same counters.
    two = await client(redis_url=REDIS_URL, database_url=deployment, cors_origins=("x",))
    assert code((await login(two, PASSWORD))[1]) == "TOO_MANY_ATTEMPTS"
    # Another deployment sharing the Redis: its own counters.
    other = await client(redis_url=REDIS_URL, database_url=deployment + "-staging")
    assert (await login(other, PASSWORD))[1]["user"] == {"email": EMAIL}
    redis = Redis.from_url(REDIS_URL)
    try:
        login_keys = redis_prefix(_settings(deployment), "login") + "*"
        keys = [k async for k in redis.scan_iter(match=login_keys)]
        assert len(keys) == 2  # the account and the address
        cost_keys = redis_prefix(_settings(deployment), "cost") + "address:*"
        assert [k async for k in redis.scan_iter(match=cost_keys)]
    finally:
        for url in (deployment, deployment + "-staging"):
            pattern = redis_prefix(_settings(url), "").removesuffix(":") + "*"
            stale = [k async for k in redis.scan_iter(match=pattern)]
            if stale:
                await redis.delete(*stale)
        await redis.aclose()


def _settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, redis_url=None, secret_key="k", data_dir=Path("."))
