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
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.database import create_engine
from portal.adapters.tables import conversion_requests
from tests.conftest import POSTGRES_URL, REDIS_URL, unavailable


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


@pytest.fixture
async def own_database() -> AsyncIterator[tuple[str, AsyncEngine]]:
    """A PostgreSQL database of this test alone — its connections may be cut and refused —
    and an engine on the server's admin database to do that with."""
    if not POSTGRES_URL:
        unavailable("PostgreSQL (PORTAL_TEST_POSTGRES_URL)")
    assert POSTGRES_URL
    name = f"portal_faults_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        make_url(POSTGRES_URL).render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url, admin
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def cut_connections(admin: AsyncEngine, name: str) -> int:
    """Terminates every backend of the database `name` (as a restart or failover does)."""
    async with admin.connect() as conn:
        cut = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    return int(cut or 0)


async def allow_connections(admin: AsyncEngine, name: str, allowed: bool) -> None:
    """While not allowed, connecting to `name` fails: the database is down, for its clients."""
    async with admin.connect() as conn:
        await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {allowed}'))
