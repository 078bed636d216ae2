"""Fixtures of the HTTP-layer tests, which need the database only for credentials: SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.config import Settings
from tests.api.http_helpers import serve
from tests.factories import World, build_world


@pytest.fixture
async def http_client(
    sqlite_engine: AsyncEngine, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with default settings on SQLite, behind an ASGI client."""
    async with serve(settings, sqlite_engine) as client:
        yield client


@pytest.fixture
async def sqlite_world(sqlite_engine: AsyncEngine) -> World:
    return await build_world(sqlite_engine)
