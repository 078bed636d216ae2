"""Migration 0008 (issue 16): programs that exist keep today's behaviour (an unknown tracking
category books as `default`), while programs created afterwards are strict."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.database import migrate
from portal.adapters.tables import advertisers, programs
from portal.adapters.unit_of_work import UnitOfWork
from portal.services import setup
from tests.factories import ADMIN
from tests.integration.test_migrations import fresh_engine  # noqa: F401

NOW = datetime(2026, 12, 1, tzinfo=UTC)


async def test_existing_programs_stay_lenient_new_ones_are_strict(
    fresh_engine: AsyncEngine,  # noqa: F811
) -> None:
    await migrate(fresh_engine, "0007")
    async with fresh_engine.begin() as conn:
        advertiser = (
            await conn.execute(
                insert(advertisers)
                .values(name="Old Shop", created_at=NOW)
                .returning(advertisers.c.id)
            )
        ).scalar_one()
        values = {
            "advertiser_id": advertiser,
            "name": "Old program",
            "currency": "EUR",
            "cookie_lifetime_days": 30,
            "consent_mode": "RELAXED",
            "follow_up_policy": "WHENEVER_TRACKED",
            "follow_up_window_days": 30,
            "allow_self_acceptance": False,
            "created_at": NOW,
            "publicly_listed": False,
        }
        old = (
            await conn.execute(insert(programs).values(values).returning(programs.c.id))
        ).scalar_one()
    await migrate(fresh_engine)
    async with UnitOfWork(fresh_engine) as uow:
        new = await setup.create_program(
            uow, ADMIN, advertiser_id=advertiser, name="New program", currency="EUR"
        )
        await uow.commit()
    async with fresh_engine.connect() as conn:
        strict = dict(
            (await conn.execute(select(programs.c.id, programs.c.strict_tracking_categories))).all()
        )
    assert strict == {old: False, new.id: True}
