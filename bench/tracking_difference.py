"""Order book and tracking difference (issue 12) on PostgreSQL: a program with `--orders`
conversions over a year (written directly), a book of the same size — 90 % of the conversions'
order ids (one in five with another value) and 10 % orders tracking missed — uploaded through
the service (twice: the second replaces), then the report (each of its queries timed) and the
whole report as CSV. In a database of its own.

    PORTAL_BENCH_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/tracking_difference.py [--orders 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from portal.adapters.bulk_insert import insert_rows
from portal.adapters.database import create_engine, migrate
from portal.adapters.order_book_store import TrackingDifferenceSql, find_book
from portal.adapters.spreadsheets import TableFormat
from portal.adapters.tables import conversions, users
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.order_books import BookLine, Period
from portal.services.order_book_files import report_bytes
from portal.services.order_books import tracking_difference, upload_order_book
from tests.api.order_world import build_order_world

COLUMNS = (
    "program_id",
    "partner_id",
    "order_id",
    "target",
    "target_kind",
    "category",
    "tracking_time",
    "currency",
    "order_value",
    "commission",
    "status",
    "commission_breakdown",
    "commission_overridden",
    "basket",
    "created_at",
    "updated_at",
    "payout_reserved",
)
START = datetime(2024, 1, 1, tzinfo=UTC)
PERIOD = Period(date(2024, 1, 1), date(2024, 12, 31))


async def run(url: str, count: int) -> None:
    name = f"portal_bench_td_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(make_url(url).set(database=name).render_as_string(hide_password=False))
    try:
        await migrate(engine)
        world = await build_order_world(engine)
        program, partner = world.ids["P"], world.ids["A"]
        step = timedelta(seconds=365 * 86400 // count)
        rows = []
        for i in range(count):
            t = START + i * step
            value = Decimal("100.00") + i % 7
            head = [program, partner, f"ORD{i}", "SALE_NEW_CUSTOMER", "SALE", "default", t]
            rows.append([*head, "EUR", value, Decimal(10), "OPEN", {}, False, [], t, t, False])
        async with engine.begin() as conn:
            for start in range(0, count, 10_000):
                await insert_rows(
                    conn, conversions, COLUMNS, rows[start : start + 10_000], ids=False
                )
            await conn.execute(text("ANALYZE"))
            user_id = await conn.scalar(
                select(users.c.id).where(users.c.email == "adv@portal.test")
            )
        viewer = Viewer(user_id, Role.ADVERTISER, advertiser_id=world.ids["adv"])
        lines = [
            BookLine(
                f"ORD{i}",
                START + i * step,
                Decimal("100.00") + i % 7 + (Decimal("0.01") if i % 5 == 0 else 0),
            )
            for i in range(count)
            if i % 10
        ]
        lines += [
            BookLine(f"SHOP{j}", START + j * 10 * step, Decimal("42.00"))
            for j in range(count // 10)
        ]
        for _ in range(2):
            began = time.perf_counter()
            async with UnitOfWork(engine) as uow:
                head = await upload_order_book(
                    uow, viewer, program, PERIOD, lines, limit=len(lines)
                )
                await uow.commit()
            took = time.perf_counter() - began
            print(f"upload {len(lines)} lines (replaced={head.replaced}): {took:.2f} s")
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
        for _ in range(3):
            began = time.perf_counter()
            async with UnitOfWork(engine, writes=False) as uow:
                report = await tracking_difference(uow, viewer, program, PERIOD, 100)
            print(
                f"report: {time.perf_counter() - began:.3f} s (book {report.book_orders.count}, "
                f"matched {report.matched.count}, untracked {report.untracked.count}, not in "
                f"book {report.not_in_book.count}, value differences "
                f"{report.value_differences.count}, {report.percent} %)"
            )
        async with UnitOfWork(engine, writes=False) as uow:
            book = await find_book(uow, program, PERIOD)
            assert book is not None
            sql = TrackingDifferenceSql(uow, book)
            for query in ("months", "value_differences", "not_in_book"):
                began = time.perf_counter()
                await getattr(sql, query)()
                print(f"  {query}: {time.perf_counter() - began:.3f} s")
            for query in ("matched_rows", "untracked_rows", "not_in_book_rows"):
                began = time.perf_counter()
                await getattr(sql, query)(100)
                print(f"  {query} (100): {time.perf_counter() - began:.3f} s")
        began = time.perf_counter()
        async with UnitOfWork(engine, writes=False) as uow:
            body = await report_bytes(uow, viewer, program, PERIOD, TableFormat.CSV)
        print(f"CSV of the whole report: {time.perf_counter() - began:.2f} s, {len(body)} bytes")
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=100_000)
    args = parser.parse_args()
    url = os.environ.get("PORTAL_BENCH_POSTGRES_URL")
    if not url:
        raise SystemExit("set PORTAL_BENCH_POSTGRES_URL")
    asyncio.run(run(url, args.orders))


if __name__ == "__main__":
    main()
