"""Conversion requests for tests and benchmarks, raised and decided through the real services
over the world of tests.factories.build_world."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.request_store import load_request
from portal.adapters.tables import conversion_requests, conversion_revisions, conversions, users
from portal.adapters.unit_of_work import UnitOfWork
from portal.demo_data import set_relationship
from portal.domain.access import Role, Viewer
from portal.domain.requests import ConversionRequest, Decision, RequestedValues, RequestKind
from portal.services import access, setup
from portal.services.requests import Draft, create_request, decide_request
from tests.factories import ADMIN, World

# The world's users (tests.factories.build_world), by the names its tokens use.
EMAILS = {
    "admin": "admin@portal.test",
    "adv1": "adv1@portal.test",
    "adv2": "adv2@portal.test",
    "A": "a@partner.test",
    "B": "b@partner.test",
    "C": "c@partner.test",
}
# Within the open period of the world's models (valid from 2026-01-01) and in the past.
TRACKED_AT = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


async def viewer(engine: AsyncEngine, who: str) -> Viewer:
    """The Viewer of one of the world's users: admin, adv1, adv2, A, B or C."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(users.c.id, users.c.role, users.c.advertiser_id, users.c.partner_id).where(
                    users.c.email == EMAILS[who]
                )
            )
        ).one()
    return Viewer(row.id, Role(row.role), row.advertiser_id, row.partner_id)


async def viewers(engine: AsyncEngine) -> dict[str, Viewer]:
    return {who: await viewer(engine, who) for who in EMAILS}


async def another_user(engine: AsyncEngine, world: World, partner: str) -> Viewer:
    """A second user of one of the world's partners."""
    async with UnitOfWork(engine) as uow:
        user = await access.create_user(
            uow,
            None,
            email=f"{partner.lower()}-{uuid.uuid4().hex[:6]}@partner.test",
            name=f"second {partner}",
            role=Role.PARTNER,
            partner_id=world.ids[partner],
        )
        await uow.commit()
    return user.as_viewer()


async def partner_of_p1(engine: AsyncEngine, world: World) -> Viewer:
    """A user of a new partner D that promotes program p1 too (at the world's model m1)."""
    async with UnitOfWork(engine) as uow:
        d = await setup.create_partner(
            uow, ADMIN, name="Deal Hunter", payout_currency="EUR", country="DE"
        )
        await set_relationship(uow, d.id, world.ids["p1"], world.ids["m1"])
        user = await access.create_user(
            uow, None, email="d@partner.test", name="d", role=Role.PARTNER, partner_id=d.id
        )
        await uow.commit()
    return user.as_viewer()


def new_order_draft(
    world: World, order_id: str | None = None, order_value: str = "200.00"
) -> Draft:
    """CREATE_NEW for partner A in program p1: a SALE_NEW_CUSTOMER the tracking missed."""
    return Draft(
        kind=RequestKind.CREATE_NEW,
        program_id=world.ids["p1"],
        partner_id=None,
        conversion_id=None,
        requested=RequestedValues(
            order_id=order_id or f"MISSED-{uuid.uuid4().hex[:10]}",
            target="SALE_NEW_CUSTOMER",
            tracking_time=TRACKED_AT,
            order_value=Decimal(order_value),
        ),
        comment="the tracking missed this order",
    )


def change_draft(conversion_id: int, **requested: Any) -> Draft:
    """CHANGE_EXISTING of one conversion; by default the target → SALE_EXISTING_CUSTOMER and the
    order value → 300.00 (the commission is rated again: 5 % → 15.00)."""
    values = requested or {"target": "SALE_EXISTING_CUSTOMER", "order_value": Decimal("300.00")}
    return Draft(
        kind=RequestKind.CHANGE_EXISTING,
        program_id=None,
        partner_id=None,
        conversion_id=conversion_id,
        requested=RequestedValues(**values),
        comment="the customer had ordered before",
    )


async def raise_request(engine: AsyncEngine, who: Viewer, draft: Draft) -> ConversionRequest:
    async with UnitOfWork(engine) as uow:
        request = await create_request(uow, who, draft)
        await uow.commit()
    return request


async def raise_new_order(
    engine: AsyncEngine, world: World, order_id: str | None = None, order_value: str = "200.00"
) -> ConversionRequest:
    """Partner A raises a CREATE_NEW request in p1, committed."""
    return await raise_request(
        engine, await viewer(engine, "A"), new_order_draft(world, order_id, order_value)
    )


async def raise_change(engine: AsyncEngine, world: World, **requested: Any) -> ConversionRequest:
    """Partner A raises a CHANGE_EXISTING request for its first conversion, committed."""
    return await raise_request(
        engine, await viewer(engine, "A"), change_draft(world.conversions["A"][0], **requested)
    )


async def accept(
    engine: AsyncEngine, request_id: int, who: Viewer | None = None, queue: Any = None
) -> ConversionRequest:
    """adv1 (or `who`) accepts the request, committed; `queue` gets the processing job."""
    decider = who or await viewer(engine, "adv1")
    async with UnitOfWork(engine, queue=queue) as uow:
        decided = await decide_request(uow, decider, request_id, Decision.ACCEPT, None, None)
        await uow.commit()
    return decided


async def request(engine: AsyncEngine, request_id: int) -> ConversionRequest:
    async with UnitOfWork(engine) as uow:
        found = await load_request(uow, request_id)
    assert found is not None
    return found


async def count(engine: AsyncEngine, table: Any, *where: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def conversions_of_order(engine: AsyncEngine, order_id: str) -> int:
    return await count(engine, conversions, conversions.c.order_id == order_id)


async def revisions_of_request(engine: AsyncEngine, request_id: int) -> int:
    return await count(
        engine, conversion_revisions, conversion_revisions.c.request_id == request_id
    )


async def requests_in(engine: AsyncEngine, status: str) -> int:
    return await count(engine, conversion_requests, conversion_requests.c.status == status)
