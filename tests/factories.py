"""Builds test data through the real services (and, for conversions, the repository)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.unit_of_work import UnitOfWork
from portal.demo_data import add_model, insert_conversion, set_relationship
from portal.domain.access import Role, Viewer
from portal.services import access, setup

ADMIN = Viewer(user_id=0, role=Role.ADMIN)


@dataclass
class World:
    """Two advertisers with one program each; partners A and B in program 1, C in program 2."""

    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    conversions: dict[str, list[int]] = field(default_factory=dict)


async def token_for(uow: UnitOfWork, email: str, role: Role, **org: Any) -> str:
    user = await access.create_user(
        uow, None, email=email, name=email.split("@")[0], role=role, **org
    )
    return (
        await access.create_api_token(uow, user.as_viewer(), name="tests", expires_at=None)
    ).secret


async def build_world(engine: AsyncEngine, conversions_per_partner: int = 3) -> World:
    world = World()
    async with UnitOfWork(engine) as uow:
        adv1 = await setup.create_advertiser(uow, ADMIN, name="Nordwind Retail")
        adv2 = await setup.create_advertiser(uow, ADMIN, name="Kiko Japan")
        p1 = await setup.create_program(
            uow, ADMIN, advertiser_id=adv1.id, name="Nordwind DE", currency="EUR"
        )
        p2 = await setup.create_program(
            uow, ADMIN, advertiser_id=adv2.id, name="Kiko JP", currency="JPY"
        )
        partners = {}
        for key, name, cur, country in [
            ("A", "Cashback Club", "EUR", "DE"),
            ("B", "Coupon Corner", "EUR", "AT"),
            ("C", "Tech Blog", "USD", "US"),
        ]:
            partners[key] = await setup.create_partner(
                uow, ADMIN, name=name, payout_currency=cur, country=country
            )
        since = datetime(2026, 1, 1, tzinfo=UTC)
        m1 = await add_model(uow, p1.id, "default", since, Decimal("5"), None)
        m2 = await add_model(uow, p2.id, "default", since, Decimal("3"), Decimal("100"))
        await set_relationship(uow, partners["A"].id, p1.id, m1)
        await set_relationship(uow, partners["B"].id, p1.id, m1)
        await set_relationship(uow, partners["C"].id, p2.id, m2)
        world.ids.update(
            adv1=adv1.id,
            adv2=adv2.id,
            p1=p1.id,
            p2=p2.id,
            m1=m1,
            m2=m2,
            A=partners["A"].id,
            B=partners["B"].id,
            C=partners["C"].id,
        )
        start = datetime(2026, 3, 1, tzinfo=UTC)
        for key, program in (("A", p1), ("B", p1), ("C", p2)):
            ids = []
            for i in range(conversions_per_partner):
                ids.append(
                    await insert_conversion(
                        uow,
                        program,
                        partners[key].id,
                        f"{key}-{i}",
                        start + timedelta(hours=i),
                        Decimal("100.00") + i,
                    )
                )
            world.conversions[key] = ids
        world.tokens["admin"] = await token_for(uow, "admin@portal.test", Role.ADMIN)
        world.tokens["adv1"] = await token_for(
            uow, "adv1@portal.test", Role.ADVERTISER, advertiser_id=adv1.id
        )
        world.tokens["adv2"] = await token_for(
            uow, "adv2@portal.test", Role.ADVERTISER, advertiser_id=adv2.id
        )
        for key in "ABC":
            world.tokens[key] = await token_for(
                uow, f"{key.lower()}@partner.test", Role.PARTNER, partner_id=partners[key].id
            )
        await uow.commit()
    return world


async def add_partner_login(
    engine: AsyncEngine, world: World, email: str, password: str, partner: str = "A"
) -> None:
    """A user of one of the world's partners who signs in with a password (cookie sessions)."""
    async with UnitOfWork(engine) as uow:
        await access.create_user(
            uow,
            None,
            email=email,
            name=email.split("@")[0],
            role=Role.PARTNER,
            partner_id=world.ids[partner],
            password=password,
        )
        await uow.commit()
