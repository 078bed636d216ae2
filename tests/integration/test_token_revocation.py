"""A token revoked on one instance stops working on the others (issue 13). Two apps on the
same database, each with its own engine and token cache, like two servers: with Redis the
revocation reaches the other instance within about a second (asserted: 2 s) although its cache
would trust the token for 30 s; without Redis only the cache's seconds bound it."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.database import create_engine
from portal.config import Settings
from portal.schema.ids import encode_id
from portal.web.app import create_app
from tests.api.test_sessions import REVOKE_TOKEN
from tests.api.test_token_cache import VIEWER, new_token
from tests.conftest import REDIS_URL, Api, StatementCounter, unavailable


@asynccontextmanager
async def instance(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Api]:
    app = create_app(settings, engine=engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
        ) as client,
    ):
        yield Api(client, app)


@asynccontextmanager
async def second_engine(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """An engine of its own on the same database: the other server's connections."""
    other = create_engine(engine.url.render_as_string(hide_password=False))
    try:
        yield other
    finally:
        await other.dispose()


async def redis_url() -> str:
    if not REDIS_URL:
        unavailable("Redis (PORTAL_TEST_REDIS_URL)")
    assert REDIS_URL
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as error:
        unavailable(f"Redis at {REDIS_URL} ({error})")
    finally:
        await client.aclose()
    return REDIS_URL


def deployment(tmp_path: Path, redis: str | None, seconds: int) -> Settings:
    return Settings(
        # Both instances: one deployment, one namespace of Redis keys and channels.
        database_url=f"the engine is passed in {uuid.uuid4().hex}",
        redis_url=redis,
        secret_key="test",
        data_dir=tmp_path,
        token_cache_seconds=seconds,
    )


async def seconds_until_refused(api: Api, secret: str, limit: float) -> float:
    started = time.monotonic()
    while True:
        response = await api.post(VIEWER, token=secret)
        elapsed = time.monotonic() - started
        if response.status_code == 401:
            assert "revoked" in response.json()["errors"][0]["message"]
            return elapsed
        assert response.status_code == 200, response.text
        assert elapsed < limit, f"still authenticated {elapsed:.1f}s after the revocation"
        await asyncio.sleep(0.05)


async def revoke(api: Api, token_id: int, by: str) -> None:
    revoked = await api.data(
        REVOKE_TOKEN, {"input": {"tokenId": encode_id("ApiToken", token_id)}}, token=by
    )
    assert revoked["revokeApiToken"]["userErrors"] == []


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_a_token_revoked_on_one_instance_is_refused_by_another_within_2_seconds(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = deployment(tmp_path, await redis_url(), seconds=30)
    token_id, secret = await new_token(engine, "script@portal.test")
    _, admin = await new_token(engine, "script@portal.test")
    async with (
        second_engine(engine) as other_engine,
        instance(settings, engine) as a,
        instance(settings, other_engine) as b,
    ):
        for api in (a, b):
            await api.data(VIEWER, token=secret)
            await api.data(VIEWER, token=admin)
        statements = StatementCounter(other_engine)
        try:
            await b.data(VIEWER, token=secret)
        finally:
            statements.close()
        assert not any("api_tokens" in s for s in statements.statements), "B has it cached"

        await revoke(a, token_id, by=admin)
        assert (await a.post(VIEWER, token=secret)).status_code == 401  # at once on A
        elapsed = await seconds_until_refused(b, secret, limit=2.0)
        assert elapsed < 2.0
        # The other token, cached on B too, still works there.
        assert (await b.data(VIEWER, token=admin))["viewer"]["user"]["email"]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_an_instance_without_a_cache_still_tells_the_others(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A deployment whose instances differ in PORTAL_TOKEN_CACHE_SECONDS (say, mid-rollout):
    the one that caches nothing still publishes its revocations."""
    caching = deployment(tmp_path, await redis_url(), seconds=30)
    token_id, secret = await new_token(engine, "script@portal.test")
    _, admin = await new_token(engine, "script@portal.test")
    async with (
        second_engine(engine) as other_engine,
        instance(dataclasses.replace(caching, token_cache_seconds=0), engine) as a,
        instance(caching, other_engine) as b,
    ):
        await b.data(VIEWER, token=secret)  # cached on B
        await revoke(a, token_id, by=admin)
        assert await seconds_until_refused(b, secret, limit=2.0) < 2.0


@pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_without_redis_another_instance_refuses_it_when_its_cache_entry_ends(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The bound that holds when Redis is absent or its subscription lost."""
    settings = deployment(tmp_path, None, seconds=2)
    token_id, secret = await new_token(engine, "script@portal.test")
    _, admin = await new_token(engine, "script@portal.test")
    async with (
        second_engine(engine) as other_engine,
        instance(settings, engine) as a,
        instance(settings, other_engine) as b,
    ):
        await a.data(VIEWER, token=admin)
        await b.data(VIEWER, token=secret)
        cached_at = time.monotonic()
        await revoke(a, token_id, by=admin)
        assert (await a.post(VIEWER, token=secret)).status_code == 401
        # B was not told: it trusts its entry until the entry's 2 seconds are over.
        assert (await b.post(VIEWER, token=secret)).status_code == 200
        await seconds_until_refused(b, secret, limit=2.0 + 1.0)
        assert time.monotonic() - cached_at >= 2.0 - 0.1
