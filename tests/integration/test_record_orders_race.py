"""Two sends of the same order collide on the unique constraint: the loser answers with the
existing conversion, and the rest of its batch is still written (savepoint per order)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import users
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.attribution import TouchpointKind
from portal.services import order_batch
from portal.services.order_batch import ExistingConversions
from portal.services.order_types import ALREADY_RECORDED, OrderInput, TouchpointInput
from portal.services.orders import record_orders
from tests.api.order_world import T0, build_order_world

SECRET = b"test-secret"


async def test_a_collision_on_the_unique_constraint_answers_with_the_existing_conversion(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_order_world(engine)
    async with engine.connect() as conn:
        user_id = await conn.scalar(select(users.c.id).where(users.c.email == "adv@portal.test"))
    viewer = Viewer(user_id, Role.ADVERTISER, advertiser_id=world.ids["adv"])
    cookie = (TouchpointInput(TouchpointKind.COOKIE, world.ids["A"], T0 - timedelta(hours=1)),)

    def order(order_id: str) -> OrderInput:
        return OrderInput(world.ids["P"], order_id, T0, Decimal("100"), touchpoints=cookie)

    async with UnitOfWork(engine) as uow:
        [first] = await record_orders(uow, viewer, [order("O-1")], SECRET)
        await uow.commit()
    assert first.created and first.conversion is not None

    # The second send loaded its batch before the first one committed: it knows nothing.
    async def nothing_known(uow: UnitOfWork, pairs: object) -> ExistingConversions:
        return ExistingConversions()

    monkeypatch.setattr(order_batch, "_existing", nothing_known)
    async with UnitOfWork(engine) as uow:
        again, other = await record_orders(uow, viewer, [order("O-1"), order("O-2")], SECRET)
        await uow.commit()
    assert again.errors == [] and not again.created
    assert again.conversion is not None and again.conversion.id == first.conversion.id
    assert again.attribution is not None and again.attribution.rule == ALREADY_RECORDED
    assert other.created, "the collision must not abort the rest of the batch"
    assert await world.count() == 2
    assert await world.revisions() == 2
