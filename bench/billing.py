"""A billing run over every program of the bench database (bench/generate.py): conversions
billed per second on PostgreSQL, SQL statements per run, peak memory (RSS).

    .venv/bin/python -m bench.billing \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/portal_bench [--dry-run]

Before it runs, it removes what earlier bench runs billed (so it can be repeated) and stores
exchange rates of today for every currency of the programs and partners (the run date's rates).
The run is the production job function (`billing_runs.run_billing`), in this process."""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import delete, event, func, select, text, union, update

from portal.adapters.database import create_engine
from portal.adapters.rate_store import upsert_rates
from portal.adapters.tables import (
    advertiser_invoices,
    billing_runs,
    conversions,
    document_counters,
    invoice_items,
    invoice_lines,
    jobs,
    partners,
    payout_entries,
    payout_entry_lines,
    payout_items,
    programs,
    users,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.exchange_rates import ReferenceRate
from portal.services.billing_runs import run_billing, start_billing_run


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(url: str, dry_run: bool) -> None:
    engine = create_engine(url)
    today = datetime.now(UTC).date()
    async with engine.begin() as conn:
        for table in (
            payout_items, payout_entry_lines, invoice_items, invoice_lines, payout_entries,
            advertiser_invoices, document_counters,
        ):  # fmt: skip
            await conn.execute(delete(table))
        await conn.execute(delete(billing_runs))
        await conn.execute(delete(jobs).where(jobs.c.kind == "BILLING_RUN"))
        await conn.execute(
            update(conversions)
            .where(conversions.c.payout_entry_id.is_not(None))
            .values(payout_entry_id=None, payout_reserved=False)
        )
        currencies = set(
            await conn.scalars(
                union(select(programs.c.currency), select(partners.c.payout_currency))
            )
        ) - {"EUR"}
        await upsert_rates(
            conn,
            [
                ReferenceRate("EUR", c, today, Decimal("1.0823") + i)
                for i, c in enumerate(sorted(currencies))
            ],
        )
        admin_id = await conn.scalar(select(users.c.id).where(users.c.role == Role.ADMIN.value))
        confirmed = await conn.scalar(
            select(func.count()).where(conversions.c.status == "CONFIRMED")
        )
    admin = Viewer(user_id=admin_id, role=Role.ADMIN)
    async with UnitOfWork(engine) as uow:
        run_id = await start_billing_run(uow, admin, today, (), dry_run)
        await uow.commit()
    async with engine.connect() as conn:
        job_id = await conn.scalar(select(billing_runs.c.job_id).where(billing_runs.c.id == run_id))
    statements = 0
    timings: list[tuple[float, str]] = []
    began: list[float] = []

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1
        began.append(time.perf_counter())

    def done(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        timings.append((time.perf_counter() - began.pop(), " ".join(statement.split())[:110]))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    event.listen(engine.sync_engine, "after_cursor_execute", done)
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    outcome = await run_billing(engine, job_id)
    elapsed = time.perf_counter() - started
    event.remove(engine.sync_engine, "before_cursor_execute", count)
    event.remove(engine.sync_engine, "after_cursor_execute", done)
    async with engine.connect() as conn:
        report = await conn.scalar(select(billing_runs.c.report).where(billing_runs.c.id == run_id))
        version = await conn.scalar(text("SHOW server_version"))
    await engine.dispose()
    billed = report["conversionCount"] if report else 0
    print(f"PostgreSQL {version}; run {run_id}: {outcome}{' (dry run)' if dry_run else ''}")
    print(f"confirmed conversions in the database: {confirmed:,}")
    print(
        f"billed to partners: {billed:,}; invoiced: {report['invoicedCount']:,}; "
        f"entries: {len(report['entries'])}, invoices: {len(report['invoices'])}, "
        f"carried over: {len(report['carriedOver'])}, failed: {len(report['failures'])}"
    )
    print(f"time: {elapsed:.2f} s — {report['invoicedCount'] / elapsed:,.0f} conversions billed/s")
    print(f"SQL statements in the run (job claim, heartbeat and finish included): {statements}")
    for seconds, statement in sorted(timings, reverse=True)[:6]:
        print(f"  {seconds:7.3f} s  {statement}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB (before the run: {rss_before:.0f} MB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/portal_bench"
    )
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.database_url, args.dry_run))
