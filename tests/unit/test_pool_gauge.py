"""The connections-in-use gauge counts only the checkouts it saw (portal.observability.sql)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from portal.observability.metrics import DB_IN_USE
from portal.observability.sql import instrument_engine


def _in_use() -> float:
    return DB_IN_USE._value.get()  # type: ignore[attr-defined]


async def test_a_connection_taken_before_instrumenting_does_not_drive_the_gauge_below() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        start = _in_use()
        async with engine.connect() as early:
            instrument_engine(engine)  # as an app built on an engine already in use
            await early.execute(text("select 1"))
        assert _in_use() == start  # its check-in was not counted down

        async with engine.connect() as conn:
            await conn.execute(text("select 1"))
            assert _in_use() == start + 1
        assert _in_use() == start
    finally:
        await engine.dispose()
