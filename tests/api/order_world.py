"""A small world for recordOrder tests, built through services and, where the setup mutations
do not exist yet, direct SQL: one EUR program with partners A and B (ACTIVE) and C (PAUSED), a
second program of another advertiser, and tokens for every role."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.commission_store import insert_model, insert_period
from portal.adapters.rate_store import upsert_rates
from portal.adapters.tables import (
    conversion_revisions,
    conversions,
    programs,
    relationships,
    tracking_categories,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.demo_data import set_relationship
from portal.domain.access import Role
from portal.domain.commission import CommissionRate
from portal.domain.exchange_rates import ReferenceRate
from portal.domain.partners import RelationshipStatus
from portal.domain.programs import DEFAULT_TARGETS
from portal.schema.ids import encode_id
from portal.services import setup, vocabulary
from tests.conftest import Api
from tests.factories import ADMIN, token_for

Period = tuple[datetime, datetime | None, list[CommissionRate]]
SINCE = datetime(2024, 1, 1, tzinfo=UTC)
T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

RECORD_ORDER = """
mutation Record($input: RecordOrderInput!) {
  recordOrder(input: $input) {
    created
    conversion {
      id orderId conversionTarget trackingCategory status commissionModelName
      commissionBreakdown commissionOverridden exchangeRate subIds device
      orderValue { amount currency } originalOrderValue { amount currency }
      commission { amount currency } partner { id }
      basket { position trackingCategory orderValue commission status }
      history { number source }
    }
    attribution {
      rule reason returningCustomer partner { id }
      touchpoint { kind reference at partner { id } }
    }
    userErrors { field code message }
  }
}
"""

RECORD_ORDERS = """
mutation RecordMany($input: RecordOrdersInput!) {
  recordOrders(input: $input) {
    createdCount errorCount
    userErrors { field code message }
    results {
      index orderId created
      conversion { id orderId conversionTarget trackingCategory commission { amount } }
      attribution { rule partner { id } }
      userErrors { field code message }
    }
  }
}
"""


def rates(
    target: str,
    percentage: str | None,
    fixed: str | None = None,
    categories: tuple[str, ...] = ("default",),
) -> list[CommissionRate]:
    pct = Decimal(percentage) if percentage is not None else None
    amount = Decimal(fixed) if fixed is not None else None
    return [CommissionRate(target, c, pct, amount) for c in categories]


def all_targets(
    percentage: str | None, fixed: str | None = None, category: str = "default"
) -> list[CommissionRate]:
    return [r for t in DEFAULT_TARGETS for r in rates(t, percentage, fixed, (category,))]


@dataclass
class OrderWorld:
    engine: AsyncEngine
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def gid(self, kind: str, key: str) -> str:
        return encode_id(kind, self.ids[key])

    def partner(self, key: str) -> str:
        return encode_id("Partner", self.ids[key])

    def order(
        self,
        order_id: str,
        *,
        program: str = "P",
        at: datetime = T0,
        value: str = "100.00",
        **extra: Any,
    ) -> dict[str, Any]:
        return {
            "programId": self.gid("Program", program),
            "orderId": order_id,
            "trackingTime": at.isoformat(),
            "orderValue": value,
            **extra,
        }

    def cookie(self, key: str, at: datetime, **extra: Any) -> dict[str, Any]:
        return {"kind": "COOKIE", "partnerId": self.partner(key), "at": at.isoformat(), **extra}

    def coupon(self, key: str, at: datetime, **extra: Any) -> dict[str, Any]:
        return {"kind": "COUPON", "partnerId": self.partner(key), "at": at.isoformat(), **extra}

    async def program_settings(self, program: str = "P", **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(programs).where(programs.c.id == self.ids[program]).values(**values)
            )

    async def relationship_override(
        self, partner: str, policy: str | None, window: int | None = None
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(relationships)
                .where(
                    relationships.c.partner_id == self.ids[partner],
                    relationships.c.program_id == self.ids["P"],
                )
                .values(follow_up_policy=policy, follow_up_window_days=window)
            )

    async def add_model(
        self, program: str, name: str, periods: list[Period], discount_rating: bool = False
    ) -> int:
        async with UnitOfWork(self.engine) as uow:
            model_id = await insert_model(uow, self.ids[program], name, discount_rating)
            for valid_from, valid_to, period_rates in periods:
                await insert_period(uow, model_id, valid_from, valid_to, period_rates)
            await uow.commit()
        return model_id

    async def use_model(self, partner: str, model_id: int, program: str = "P") -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(relationships)
                .where(
                    relationships.c.partner_id == self.ids[partner],
                    relationships.c.program_id == self.ids[program],
                )
                .values(commission_model_id=model_id)
            )

    async def add_rate(self, currency: str, day: datetime, rate: str) -> None:
        """An ECB reference rate (EUR-based) of `currency` on the day of `day`."""
        async with self.engine.begin() as conn:
            await upsert_rates(conn, [ReferenceRate("EUR", currency, day.date(), Decimal(rate))])

    async def count(self, table: Any = conversions) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)

    async def revisions(self) -> int:
        return await self.count(conversion_revisions)


async def build_order_world(engine: AsyncEngine) -> OrderWorld:
    world = OrderWorld(engine)
    async with UnitOfWork(engine) as uow:
        adv = await setup.create_advertiser(uow, ADMIN, name="Nordwind Retail")
        other = await setup.create_advertiser(uow, ADMIN, name="Other Shop")
        p = await setup.create_program(
            uow, ADMIN, advertiser_id=adv.id, name="Nordwind DE", currency="EUR"
        )
        q = await setup.create_program(
            uow, ADMIN, advertiser_id=other.id, name="Other DE", currency="EUR"
        )
        await uow.execute(
            insert(tracking_categories),
            [
                {"program_id": p.id, "key": "fashion", "name": "Fashion", "active": True},
                {"program_id": p.id, "key": "outlet", "name": "Outlet", "active": False},
                {"program_id": q.id, "key": "electronics", "name": "Electronics", "active": True},
            ],
        )
        await vocabulary.create_conversion_target(
            uow, ADMIN, program_id=p.id, key="NEWSLETTER", name="Newsletter", active=False
        )
        partners = {}
        for key, name in (("A", "Cashback Club"), ("B", "Coupon Corner"), ("C", "Tech Blog")):
            partners[key] = await setup.create_partner(
                uow, ADMIN, name=name, payout_currency="EUR", country="DE"
            )
        model = await insert_model(uow, p.id, "default", discount_rating=False)
        await insert_period(
            uow, model, SINCE, None, [*all_targets("10"), *all_targets("20", category="fashion")]
        )
        q_model = await insert_model(uow, q.id, "default", discount_rating=False)
        await insert_period(uow, q_model, SINCE, None, all_targets("5"))
        for key in "AB":
            await set_relationship(uow, partners[key].id, p.id, model)
        paused = await set_relationship(uow, partners["C"].id, p.id, model)
        await uow.execute(
            update(relationships)
            .where(relationships.c.id == paused)
            .values(status=RelationshipStatus.PAUSED.value)
        )
        await set_relationship(uow, partners["A"].id, q.id, q_model)
        world.ids.update(
            adv=adv.id,
            other=other.id,
            P=p.id,
            Q=q.id,
            model=model,
            **{k: v.id for k, v in partners.items()},
        )
        world.tokens["admin"] = await token_for(uow, "admin@portal.test", Role.ADMIN)
        world.tokens["adv"] = await token_for(
            uow, "adv@portal.test", Role.ADVERTISER, advertiser_id=adv.id
        )
        world.tokens["other"] = await token_for(
            uow, "other@portal.test", Role.ADVERTISER, advertiser_id=other.id
        )
        world.tokens["A"] = await token_for(
            uow, "a@partner.test", Role.PARTNER, partner_id=partners["A"].id
        )
        await uow.commit()
    return world


async def record(
    api: Api, world: OrderWorld, order: dict[str, Any], token: str = "adv"
) -> dict[str, Any]:
    data = await api.data(RECORD_ORDER, {"input": order}, token=world.tokens[token])
    payload: dict[str, Any] = data["recordOrder"]
    return payload


async def record_many(
    api: Api, world: OrderWorld, orders: list[dict[str, Any]], token: str = "adv"
) -> dict[str, Any]:
    data = await api.data(RECORD_ORDERS, {"input": {"orders": orders}}, token=world.tokens[token])
    payload: dict[str, Any] = data["recordOrders"]
    return payload
