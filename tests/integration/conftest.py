"""Fixtures of the integration tests that run a real arq worker on Redis."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from redis.exceptions import RedisError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests
from tests.conftest import REDIS_URL, unavailable


def redis_settings() -> RedisSettings:
    assert REDIS_URL
    return replace(RedisSettings.from_dsn(REDIS_URL), conn_retries=1, conn_retry_delay=0)


@pytest.fixture
async def arq_pool(engine: AsyncEngine) -> AsyncIterator[ArqRedis]:
    """A pool whose default queue is this test's own; at teardown it deletes the queue and every
    job key of this test's requests."""
    if not REDIS_URL:
        unavailable("Redis (PORTAL_TEST_REDIS_URL)")
    queue_name = f"portal-test:{uuid.uuid4().hex}"
    try:
        pool = await create_pool(redis_settings(), default_queue_name=queue_name)
        await pool.ping()
    except (OSError, RedisError) as error:
        unavailable(f"Redis at {REDIS_URL} ({error})")
    # Request ids (and so the job ids `request:<id>:<attempt>`) no earlier run has used.
    async with engine.begin() as conn:
        await conn.execute(
            text("SELECT setval(pg_get_serial_sequence('conversion_requests', 'id'), :start)"),
            {"start": random.randrange(10**9, 10**15)},
        )
    try:
        yield pool
    finally:
        async with engine.connect() as conn:
            ids = (await conn.scalars(select(conversion_requests.c.id))).all()
        keys = [queue_name, f"{queue_name}:health-check"]
        for request_id in ids:
            keys += [key async for key in pool.scan_iter(match=f"arq:*request:{request_id}:*")]
        await pool.delete(*keys)
        await pool.aclose()
