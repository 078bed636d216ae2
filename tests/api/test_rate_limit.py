"""Query cost is charged to the viewer's bucket (Shopify style); an empty bucket answers
RATE_LIMITED with Retry-After. Introspection can be switched off for production."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.config import Settings
from portal.jobs.queue import namespace_of
from portal.web.app import create_app
from tests.conftest import REDIS_URL, unavailable
from tests.factories import build_world

LIST = "{ conversions(first: 20) { nodes { id partner { name } } } }"  # costs 22


@pytest.fixture
async def client_with(engine: AsyncEngine, settings: Settings) -> AsyncIterator[object]:
    opened: list[httpx.AsyncClient] = []

    async def make(**changes: object) -> httpx.AsyncClient:
        app = create_app(dataclasses.replace(settings, **changes), engine=engine)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
        )
        opened.append(client)
        client.lifespan = lifespan  # type: ignore[attr-defined]
        return client

    yield make
    for client in opened:
        await client.aclose()
        await client.lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def test_an_empty_bucket_answers_rate_limited_with_retry_after(
    client_with, engine: AsyncEngine
) -> None:  # type: ignore[no-untyped-def]
    world = await build_world(engine)
    client = await client_with(
        rate_limit_capacity=30, rate_limit_restore_rate=1
    )  # one list fits, two do not
    headers = {"Authorization": f"Bearer {world.tokens['A']}"}

    first = (await client.post("/graphql", json={"query": LIST}, headers=headers)).json()
    second = await client.post("/graphql", json={"query": LIST}, headers=headers)
    other_user = (
        await client.post(
            "/graphql",
            json={"query": LIST},
            headers={"Authorization": f"Bearer {world.tokens['B']}"},
        )
    ).json()

    assert first.get("errors") is None
    assert first["extensions"]["cost"]["requestedQueryCost"] == 22
    assert first["extensions"]["cost"]["throttleStatus"] == {
        "maximumAvailable": 30,
        "currentlyAvailable": 8,
        "restoreRate": 1,
    }
    body = second.json()
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert int(second.headers["Retry-After"]) >= 1
    assert other_user.get("errors") is None  # buckets are per viewer


async def test_introspection_can_be_switched_off(client_with, engine: AsyncEngine) -> None:  # type: ignore[no-untyped-def]
    world = await build_world(engine)
    client = await client_with(introspection=False)
    headers = {"Authorization": f"Bearer {world.tokens['admin']}"}
    body = (
        await client.post(
            "/graphql", json={"query": "{ __schema { types { name } } }"}, headers=headers
        )
    ).json()
    assert "data" not in body and body["errors"]
    assert (
        await client.post(
            "/graphql", json={"query": "{ viewer { user { role } } }"}, headers=headers
        )
    ).json()["data"] == {"viewer": {"user": {"role": "ADMIN"}}}


@pytest.mark.redis
async def test_buckets_in_redis_are_namespaced_per_deployment(
    client_with, engine: AsyncEngine
) -> None:  # type: ignore[no-untyped-def]
    """Two deployments sharing a Redis (production and staging, or two test runs) have users
    with the same ids: each keeps its own buckets, under its own key prefix."""
    if not REDIS_URL:
        unavailable("Redis (PORTAL_TEST_REDIS_URL)")
    world = await build_world(engine)
    headers = {"Authorization": f"Bearer {world.tokens['A']}"}
    deployment = f"postgresql+asyncpg://db/{uuid.uuid4().hex}"
    tight = {"redis_url": REDIS_URL, "rate_limit_capacity": 30, "rate_limit_restore_rate": 1}
    production = await client_with(database_url=deployment, **tight)
    staging = await client_with(database_url=deployment + "-staging", **tight)
    redis = Redis.from_url(REDIS_URL)
    try:
        assert (await production.post("/graphql", json={"query": LIST}, headers=headers)).json()[
            "extensions"
        ]["cost"]["throttleStatus"]["currentlyAvailable"] == 8
        assert (await staging.post("/graphql", json={"query": LIST}, headers=headers)).json()[
            "extensions"
        ]["cost"]["throttleStatus"]["currentlyAvailable"] == 8
        for url in (deployment, deployment + "-staging"):
            prefix = f"portal:{namespace_of(url)}:cost:"
            assert [k async for k in redis.scan_iter(match=prefix + "user:*")]
    finally:
        for url in (deployment, deployment + "-staging"):
            stale = [k async for k in redis.scan_iter(match=f"portal:{namespace_of(url)}:*")]
            if stale:
                await redis.delete(*stale)
        await redis.aclose()
