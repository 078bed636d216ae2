"""Demo data for the embedded mode (`make run`) and building blocks for tests and benchmarks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.commission_store import insert_model, insert_period, load_models
from portal.adapters.conversion_store import NewConversion
from portal.adapters.conversion_store import insert_conversion as store_conversion
from portal.adapters.tables import relationships, users
from portal.adapters.unit_of_work import UnitOfWork
from portal.demo import SAMPLE_RATES_XML, sample_file
from portal.domain.access import Role, Viewer
from portal.domain.commission import CommissionRate
from portal.domain.conversions import ConversionStatus, RevisionSource
from portal.domain.partners import RelationshipStatus
from portal.domain.programs import DEFAULT_CATEGORY, DEFAULT_TARGETS, Program
from portal.domain.rating import RatingInput, rate_conversion
from portal.services import access, rates, setup

SYSTEM = Viewer(user_id=0, role=Role.ADMIN)
DEMO_USERS = {
    "admin": "admin@portal.demo",
    "advertiser": "advertiser@nordwind.demo",
    "partner": "partner@cashback.demo",
}


async def add_model(
    uow: UnitOfWork,
    program_id: int,
    name: str,
    valid_from: datetime,
    percentage: Decimal | None,
    fixed_amount: Decimal | None,
) -> int:
    """A model with one open period and the same rate for every standard target × `default`."""
    model_id = await insert_model(uow, program_id, name, discount_rating=False)
    rates = [CommissionRate(t, DEFAULT_CATEGORY, percentage, fixed_amount) for t in DEFAULT_TARGETS]
    await insert_period(uow, model_id, valid_from, None, rates)
    return model_id


async def set_relationship(uow: UnitOfWork, partner_id: int, program_id: int, model_id: int) -> int:
    return await uow.insert(
        insert(relationships).values(
            partner_id=partner_id,
            program_id=program_id,
            status=RelationshipStatus.ACTIVE.value,
            commission_model_id=model_id,
            created_at=uow.now,
            updated_at=uow.now,
        )
    )


async def insert_conversion(
    uow: UnitOfWork,
    program: Program,
    partner_id: int,
    order_id: str,
    tracking_time: datetime,
    order_value: Decimal,
    target: str = "SALE_NEW_CUSTOMER",
    status: ConversionStatus = ConversionStatus.OPEN,
) -> int:
    """Rates the order with the partner's model and stores it as tracked."""
    model_id = await uow.conn.scalar(
        select(relationships.c.commission_model_id).where(
            relationships.c.partner_id == partner_id, relationships.c.program_id == program.id
        )
    )
    model = (await load_models(uow, [model_id]))[model_id]
    rating = rate_conversion(
        model,
        RatingInput(target, DEFAULT_CATEGORY, tracking_time, program.currency, order_value),
    )
    return await store_conversion(
        uow,
        NewConversion(
            program_id=program.id,
            partner_id=partner_id,
            order_id=order_id,
            target=target,
            category=DEFAULT_CATEGORY,
            tracking_time=tracking_time,
            currency=program.currency,
            order_value=order_value,
            commission=rating.commission.amount,
            status=status,
            commission_model_name=rating.model_name,
            commission_breakdown=rating.breakdown,
        ),
        RevisionSource.TRACKING,
        None,
    )


async def has_users(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return bool(await conn.scalar(select(func.count()).select_from(users)))


async def load_demo(engine: AsyncEngine, conversions: int = 300, seed: int = 7) -> None:
    """Two advertisers, three programs, five partners, commission models and some conversions."""
    rng = random.Random(seed)
    async with UnitOfWork(engine) as uow:
        await rates.import_exchange_rates(uow, SYSTEM, sample_file(SAMPLE_RATES_XML), None)
        nordwind = await setup.create_advertiser(uow, SYSTEM, name="Nordwind Retail")
        kiko = await setup.create_advertiser(uow, SYSTEM, name="Kiko Japan")
        fashion = await setup.create_program(
            uow, SYSTEM, advertiser_id=nordwind.id, name="Nordwind Fashion DE", currency="EUR"
        )
        tech = await setup.create_program(
            uow, SYSTEM, advertiser_id=nordwind.id, name="Nordwind Tech AT", currency="EUR"
        )
        japan = await setup.create_program(
            uow, SYSTEM, advertiser_id=kiko.id, name="Kiko Cosmetics JP", currency="JPY"
        )
        partners = [
            await setup.create_partner(uow, SYSTEM, name=name, payout_currency=cur, country=country)
            for name, cur, country in [
                ("Cashback Club", "EUR", "DE"),
                ("Coupon Corner", "EUR", "AT"),
                ("Tech Blog", "USD", "US"),
                ("Sparfuchs Portal", "CHF", "CH"),
                ("Beauty Insider", "JPY", "JP"),
            ]
        ]
        since = datetime(2026, 1, 1, tzinfo=UTC)
        models = {
            fashion.id: [
                await add_model(uow, fashion.id, "default", since, Decimal("6"), None),
                await add_model(uow, fashion.id, "premium", since, Decimal("9"), Decimal("1.50")),
            ],
            tech.id: [await add_model(uow, tech.id, "default", since, Decimal("3.5"), None)],
            japan.id: [
                await add_model(uow, japan.id, "default", since, Decimal("4"), Decimal("50"))
            ],
        }
        pairs = [
            (0, fashion, 1),
            (1, fashion, 0),
            (2, tech, 0),
            (3, fashion, 0),
            (3, tech, 0),
            (4, japan, 0),
        ]
        for partner_index, program, model_index in pairs:
            await set_relationship(
                uow, partners[partner_index].id, program.id, models[program.id][model_index]
            )
        start = datetime(2026, 9, 1, tzinfo=UTC)
        for n in range(conversions):
            partner_index, program, _ = pairs[n % len(pairs)]
            value = Decimal(rng.randint(1500, 40000)) / (1 if program.currency == "JPY" else 100)
            status = rng.choice(
                [ConversionStatus.OPEN] * 3
                + [ConversionStatus.CONFIRMED, ConversionStatus.REJECTED]
            )
            await insert_conversion(
                uow,
                program,
                partners[partner_index].id,
                f"DEMO-{n:05d}",
                start + timedelta(minutes=rng.randint(0, 80 * 24 * 60)),
                value,
                target=rng.choice(["SALE_NEW_CUSTOMER", "SALE_EXISTING_CUSTOMER"]),
                status=status,
            )
        await access.create_user(
            uow, None, email=DEMO_USERS["admin"], name="Demo Admin", role=Role.ADMIN
        )
        await access.create_user(
            uow,
            None,
            email=DEMO_USERS["advertiser"],
            name="Nordwind Manager",
            role=Role.ADVERTISER,
            advertiser_id=nordwind.id,
        )
        await access.create_user(
            uow,
            None,
            email=DEMO_USERS["partner"],
            name="Cashback Club Team",
            role=Role.PARTNER,
            partner_id=partners[0].id,
        )
        await uow.commit()
