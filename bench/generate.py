"""Benchmark data: advertisers, programs, partners, relationships, commission models and (by
default) 1,000,000 conversions, loaded into a fresh PostgreSQL database with COPY.

    .venv/bin/python -m bench.generate \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/portal_bench \
        --conversions 1000000

The database is dropped and created again, migrated, filled, vacuumed and analysed. Tokens of
an admin, an advertiser user and a PARTNER user of the biggest partner go to --tokens
(bench/out/tokens.json, git-ignored), which `python -m bench.serve_list` reads.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from portal.adapters import statistics_rollup
from portal.adapters.commission_store import insert_model, insert_period
from portal.adapters.database import create_engine, migrate
from portal.adapters.tables import partners, relationships
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.commission import CommissionRate
from portal.domain.partners import RelationshipStatus
from portal.domain.programs import DEFAULT_CATEGORY, DEFAULT_TARGETS
from portal.schema.ids import encode_id
from portal.services import access, setup

SYSTEM = Viewer(user_id=0, role=Role.ADMIN)
OUT_DIR = Path(__file__).resolve().parent / "out"
END = datetime(2026, 6, 1, tzinfo=UTC)
START = END - timedelta(days=365)
PERIOD_SPLIT = END - timedelta(days=182)  # the models have two periods, both at 5 %
RATE = Decimal(5)
ADVERTISERS = 5
PROGRAMS = 20
PARTNERS = 2000
BIG_PARTNERS = 5  # cashback portals: ~10 % of all conversions each
BIG_SHARE = 0.5
CHUNK = 50_000
CURRENCIES = ("EUR", "EUR", "EUR", "USD", "GBP")

COPY_COLUMNS = (
    "program_id", "partner_id", "order_id", "target", "target_kind", "category", "tracking_time",
    "currency",
    "order_value", "commission", "status", "commission_model_name", "commission_breakdown",
    "commission_overridden", "sub_id_1", "device", "basket", "created_at", "updated_at",
)  # fmt: skip


@dataclass(frozen=True)
class Program:
    id: int
    advertiser_id: int
    currency: str
    model_id: int
    period_ids: tuple[int, int]  # before / from PERIOD_SPLIT


@dataclass(frozen=True)
class World:
    programs: list[Program]
    partner_ids: list[int]
    pairs: dict[int, list[Program]]  # partner id → programs it has an ACTIVE relationship with


async def recreate_database(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database
    assert name and name.isidentifier(), f"unexpected database name {name!r}"
    maintenance = parsed.set(database="postgres").render_as_string(hide_password=False)
    admin = create_engine(maintenance, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()


async def build_world(engine: AsyncEngine, rng: random.Random) -> World:
    """Advertisers, programs (each with a 5 % model of two periods), partners, relationships."""
    async with UnitOfWork(engine) as uow:
        advertiser_ids = [
            (await setup.create_advertiser(uow, SYSTEM, name=f"Advertiser {a + 1}")).id
            for a in range(ADVERTISERS)
        ]
        programs: list[Program] = []
        for p in range(PROGRAMS):
            advertiser_id = advertiser_ids[p % ADVERTISERS]
            currency = CURRENCIES[p % len(CURRENCIES)]
            program = await setup.create_program(
                uow, SYSTEM, advertiser_id=advertiser_id, name=f"Program {p + 1}", currency=currency
            )
            model_id = await insert_model(uow, program.id, "standard", discount_rating=False)
            rates = [CommissionRate(t, DEFAULT_CATEGORY, RATE, None) for t in DEFAULT_TARGETS]
            first = await insert_period(uow, model_id, START, PERIOD_SPLIT, rates)
            second = await insert_period(uow, model_id, PERIOD_SPLIT, None, rates)
            programs.append(Program(program.id, advertiser_id, currency, model_id, (first, second)))

        result = await uow.execute(
            insert(partners).returning(partners.c.id),
            [
                {"name": f"Partner {n + 1}", "payout_currency": "EUR", "country": "DE",
                 "created_at": uow.now}
                for n in range(PARTNERS)
            ],
        )  # fmt: skip
        partner_ids = sorted(result.scalars().all())
        pairs: dict[int, list[Program]] = {}
        for index, partner_id in enumerate(partner_ids):
            # Big partners promote every program; the others one to four.
            pairs[partner_id] = (
                programs if index < BIG_PARTNERS else rng.sample(programs, rng.randint(1, 4))
            )
        await uow.execute(
            insert(relationships),
            [
                {"partner_id": partner_id, "program_id": program.id,
                 "status": RelationshipStatus.ACTIVE.value, "commission_model_id": program.model_id,
                 "created_at": uow.now, "updated_at": uow.now}
                for partner_id, joined in pairs.items()
                for program in joined
            ],
        )  # fmt: skip
        await uow.commit()
    return World(programs, partner_ids, pairs)


def pick_partners(world: World, rng: random.Random, count: int) -> list[int]:
    """Half the conversions go to the big partners, the rest Zipf-like to the long tail."""
    big = world.partner_ids[:BIG_PARTNERS]
    tail = world.partner_ids[BIG_PARTNERS:]
    cumulative = list(itertools.accumulate(1 / (rank + 1) ** 0.8 for rank in range(len(tail))))
    from_tail = rng.choices(tail, cum_weights=cumulative, k=count)
    return [rng.choice(big) if rng.random() < BIG_SHARE else t for t in from_tail]


def conversion_rows(
    world: World, rng: random.Random, start: int, count: int, total: int
) -> list[tuple[Any, ...]]:
    """Rows `start … start + count` of `total`, in tracking-time order (ids follow time)."""
    span = (END - START).total_seconds()
    lo = START.timestamp() + span * start / total
    hi = START.timestamp() + span * (start + count) / total
    out: list[tuple[Any, ...]] = []
    stamps = sorted(rng.uniform(lo, hi) for _ in range(count))
    chosen = pick_partners(world, rng, count)
    for n, (stamp, partner_id) in enumerate(zip(stamps, chosen, strict=True), start=start):
        tracked = datetime.fromtimestamp(stamp, UTC)
        program = rng.choice(world.pairs[partner_id])
        cents = int(rng.lognormvariate(8.5, 0.8)) + 100  # median ~50, long tail
        commission_cents = (cents * int(RATE) + 50) // 100  # 5 %, rounded half-up
        age = (END - tracked).days
        roll = rng.random()
        if age < 45:
            status = "OPEN" if roll < 0.85 else "REJECTED"
        else:
            status = "CONFIRMED" if roll < 0.8 else "REJECTED" if roll < 0.95 else "OPEN"
        period_id = program.period_ids[tracked >= PERIOD_SPLIT]
        order_value = Decimal(cents).scaleb(-2)
        commission = Decimal(commission_cents).scaleb(-2)
        target = DEFAULT_TARGETS[0] if rng.random() < 0.6 else DEFAULT_TARGETS[1]
        breakdown = json.dumps({
            "modelId": program.model_id, "modelName": "standard", "periodId": period_id,
            "target": target, "category": DEFAULT_CATEGORY, "percentage": str(RATE),
            "orderValue": str(order_value), "commission": str(commission),
        })  # fmt: skip
        out.append((
            program.id, partner_id, f"B{n:09d}", target, "SALE", DEFAULT_CATEGORY, tracked,
            program.currency, order_value, commission, status, "standard", breakdown, False,
            f"click-{rng.randrange(10**8)}", rng.choice(("desktop", "mobile", "tablet")), "[]",
            tracked, tracked,
        ))  # fmt: skip
    return out


async def drop_secondary_indexes(conn: AsyncConnection) -> list[str]:
    """Drops the unique and foreign key constraints and the indexes of `conversions` (not the
    primary key, which other tables reference) and returns the statements that recreate them
    exactly as the migrations made them: building them after the COPY is much faster than
    maintaining them row by row."""
    constraints = (
        await conn.execute(text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'conversions'::regclass AND contype IN ('u', 'f')"
        ))
    ).all()  # fmt: skip
    indexes = (
        await conn.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'conversions'"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint"
            " WHERE conrelid = 'conversions'::regclass)"
        ))
    ).all()  # fmt: skip
    for name, _ in constraints:
        await conn.execute(text(f'ALTER TABLE conversions DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        await conn.execute(text(f'DROP INDEX "{name}"'))
    return [f'ALTER TABLE conversions ADD CONSTRAINT "{n}" {d}' for n, d in constraints] + [
        d for _, d in indexes
    ]


async def copy_conversions(
    engine: AsyncEngine, world: World, rng: random.Random, total: int
) -> None:
    copied = 0
    copy_seconds = 0.0
    async with engine.connect() as conn:
        recreate = await drop_secondary_indexes(conn)
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        started = time.perf_counter()
        while copied < total:
            count = min(CHUNK, total - copied)
            records = conversion_rows(world, rng, copied, count, total)
            began = time.perf_counter()
            await raw.copy_records_to_table("conversions", records=records, columns=COPY_COLUMNS)
            copy_seconds += time.perf_counter() - began
            copied += count
            elapsed = time.perf_counter() - started
            print(f"  {copied:>9,} conversions  {copied / elapsed:>8,.0f} rows/s", flush=True)
        elapsed = time.perf_counter() - started
        print(
            f"COPY: {total:,} rows in {elapsed:.1f} s = {total / elapsed:,.0f} rows/s including "
            f"generation; COPY alone {copy_seconds:.1f} s = {total / copy_seconds:,.0f} rows/s"
        )
        began = time.perf_counter()
        await conn.execute(text("SET maintenance_work_mem = '512MB'"))
        for statement in recreate:
            await conn.execute(text(statement))
        await conn.commit()
        print(f"{len(recreate)} constraints, indexes rebuilt: {time.perf_counter() - began:.1f} s")


async def create_users(engine: AsyncEngine, world: World) -> dict[str, Any]:
    async with engine.connect() as conn:
        biggest = await conn.scalar(
            text("SELECT partner_id FROM conversions GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        )
    advertiser_id = world.programs[0].advertiser_id
    users = {
        "admin": dict(email="admin@bench.test", role=Role.ADMIN),
        "advertiser": dict(email="advertiser@bench.test", role=Role.ADVERTISER,
                           advertiser_id=advertiser_id),
        "partner": dict(email="partner@bench.test", role=Role.PARTNER, partner_id=biggest),
    }  # fmt: skip
    tokens: dict[str, str] = {}
    async with UnitOfWork(engine) as uow:
        for role, values in users.items():
            user = await access.create_user(uow, None, name=f"Bench {role}", **values)
            created = await access.create_api_token(
                uow, user.as_viewer(), name="bench", expires_at=None
            )
            tokens[role] = created.secret
        await uow.commit()
    return {
        "tokens": tokens,
        "partner_id": encode_id("Partner", biggest),
        "advertiser_program_ids": [
            encode_id("Program", p.id) for p in world.programs if p.advertiser_id == advertiser_id
        ],
    }


async def generate(url: str, total: int, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    rng = random.Random(seed)
    await recreate_database(url)
    engine = create_engine(url)
    try:
        await migrate(engine)
        world = await build_world(engine, rng)
        print(f"{len(world.programs)} programs, {len(world.partner_ids)} partners, "
              f"{sum(map(len, world.pairs.values()))} relationships")  # fmt: skip
        await copy_conversions(engine, world, rng, total)
        began = time.perf_counter()
        # COPY bypassed the conversion stores, which keep the statistics rollup: count it once.
        async with engine.begin() as conn:
            rollup_rows = await statistics_rollup.rebuild(conn)
        print(f"statistics rollup: {rollup_rows:,} rows in {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        # Outside a transaction: VACUUM requires it, and ANALYZE's statistics would be rolled
        # back with one. VACUUM sets the visibility map as autovacuum eventually would.
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM (ANALYZE)"))
        print(f"VACUUM (ANALYZE): {time.perf_counter() - began:.1f} s")
        users = await create_users(engine, world)
    finally:
        await engine.dispose()
    print(f"total: {time.perf_counter() - started:.1f} s")
    return {"database_url": url, **users}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/portal_bench"
    )
    parser.add_argument("--conversions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--tokens", type=Path, default=OUT_DIR / "tokens.json")
    args = parser.parse_args()
    setup = asyncio.run(generate(args.database_url, args.conversions, args.seed))
    args.tokens.parent.mkdir(parents=True, exist_ok=True)
    args.tokens.write_text(json.dumps(setup, indent=2))
    print(f"tokens and ids written to {args.tokens}")


if __name__ == "__main__":
    main()
