"""Two uploads of the same new order-book period at once (issue 12): they take turns on the
program's row, so the second replaces the first instead of colliding on the unique period (a
500), and the book ends up as exactly one of them."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import order_book_lines, order_books, users
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.order_books import BookLine, Period
from portal.services.order_books import upload_order_book
from tests.api.order_world import build_order_world

PERIOD = Period(date(2024, 6, 1), date(2024, 6, 30))


async def test_two_uploads_of_one_new_period_take_turns(engine: AsyncEngine) -> None:
    world = await build_order_world(engine)
    async with engine.connect() as conn:
        user_id = await conn.scalar(select(users.c.id).where(users.c.email == "adv@portal.test"))
    viewer = Viewer(user_id, Role.ADVERTISER, advertiser_id=world.ids["adv"])
    moment = datetime(2024, 6, 5, 10, tzinfo=UTC)

    async def upload(prefix: str, count: int) -> bool:
        lines = [BookLine(f"{prefix}{i}", moment, Decimal("1.50")) for i in range(count)]
        async with UnitOfWork(engine) as uow:
            head = await upload_order_book(uow, viewer, world.ids["P"], PERIOD, lines)
            await asyncio.sleep(0.2)  # hold the turn: the other upload must wait for it
            await uow.commit()
        return head.replaced

    replaced = await asyncio.gather(upload("A", 30), upload("B", 20))
    assert sorted(replaced) == [False, True]
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(order_books)) == 1
        count = await conn.scalar(select(func.count()).select_from(order_book_lines))
        stored = await conn.scalar(select(order_books.c.line_count))
    assert count == stored and count in (20, 30)
