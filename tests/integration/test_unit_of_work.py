"""A unit of work is all or nothing, savepoints included, on SQLite as on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import advertisers
from portal.adapters.unit_of_work import UnitOfWork


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(advertisers)) or 0)


async def test_a_savepoint_released_before_any_other_write_is_still_rolled_back(
    engine: AsyncEngine,
) -> None:
    async with UnitOfWork(engine) as uow:
        await uow.conn.execute(select(advertisers.c.id))  # reads only, so far
        async with uow.conn.begin_nested():
            await uow.conn.execute(
                insert(advertisers).values(name="kept?", created_at=datetime.now(UTC))
            )
        await uow.rollback()
    assert await _count(engine) == 0


async def test_a_failed_savepoint_keeps_the_rest_of_the_unit(engine: AsyncEngine) -> None:
    async with UnitOfWork(engine) as uow:
        await uow.conn.execute(insert(advertisers).values(name="one", created_at=datetime.now(UTC)))
        try:
            async with uow.conn.begin_nested():
                await uow.conn.execute(
                    insert(advertisers).values(name="two", created_at=datetime.now(UTC))
                )
                raise RuntimeError("undo two")
        except RuntimeError:
            pass
        await uow.commit()
    assert await _count(engine) == 1
