"""A real `portal worker` process SIGKILLed in the middle of a billing run, on PostgreSQL and
Redis (issue 11): another `portal worker` takes the job over once the lease has expired, and
every CONFIRMED conversion ends in exactly one payout item and one invoice item.

Deterministic without a hook in the product: the test holds a row lock (FOR NO KEY UPDATE) on
one conversion, which the run needs for its last statement (marking the conversions reserved).
The first worker is killed while PostgreSQL shows it waiting for that lock — after it has
written the invoices, the payout entries and all their items in its transaction, before it
commits. Real processes with the production settings (lease 60 s), so this takes a minute and
a half."""

from __future__ import annotations

import asyncio
import signal

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import billing_runs, conversions, invoice_items, payout_items
from portal.jobs.queue import ArqQueue
from tests.api.billing_helpers import billing_world
from tests.conftest import REDIS_URL
from tests.integration.test_billing_concurrency import _start
from tests.integration.test_worker_takeover import (  # noqa: F401 (fixtures)
    Workers,
    _forget_deployment,
    _job,
    _now,
    engine,
    pytestmark,
    workers,
)

WAITING = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND query ILIKE 'UPDATE conversions%'
  AND (:waiting = false OR wait_event_type = 'Lock')
"""


async def _scalar(db: AsyncEngine, stmt: object) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(stmt))  # type: ignore[arg-type]


async def _backends(db: AsyncEngine, *, waiting: bool) -> int:
    return await _scalar(db, text(WAITING).bindparams(waiting=waiting))


async def test_a_killed_worker_s_billing_run_is_taken_over_and_bills_each_conversion_once(
    engine: AsyncEngine,  # noqa: F811
    workers: Workers,  # noqa: F811
) -> None:
    assert REDIS_URL
    w = await billing_world(engine)
    total = sum(len(ids) for ids in w.conversions.values())
    confirmed = await _scalar(
        engine, select(func.count()).where(conversions.c.status == "CONFIRMED")
    )
    assert confirmed == total > 1
    url = engine.url.render_as_string(hide_password=False)
    queue = await ArqQueue.connect(REDIS_URL, url)
    blocker = await engine.connect()
    held = await blocker.begin()
    try:
        await blocker.execute(
            select(conversions.c.id)
            .order_by(conversions.c.id.desc())
            .limit(1)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE: FK checks still pass
        )
        job_id = await _start(engine, (), queue)
        first = workers.start("first")

        # The first worker has billed everything in its transaction and waits for the lock.
        for _ in range(1200):
            if await _backends(engine, waiting=True) or first.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert first.poll() is None, workers.log("first")
        assert await _backends(engine, waiting=True) == 1, workers.log("first")
        status, _, attempts, _ = await _job(engine, job_id)
        assert (status, attempts) == ("RUNNING", 1)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        await held.rollback()
    finally:
        if held.is_active:
            await held.rollback()
        await blocker.close()

    try:
        # Its backend finds its client gone and rolls everything back.
        for _ in range(200):
            if not await _backends(engine, waiting=False):
                break
            await asyncio.sleep(0.05)
        assert await _backends(engine, waiting=False) == 0
        assert await _scalar(engine, select(func.count()).select_from(payout_items)) == 0
        assert await _scalar(engine, select(func.count()).select_from(invoice_items)) == 0
        status, _, attempts, last_beat = await _job(engine, job_id)
        assert (status, attempts) == ("RUNNING", 1) and last_beat

        workers.start("second")
        taken_after = None
        for _ in range(240):  # 2 minutes at most
            await asyncio.sleep(0.5)
            _, _, attempts, _ = await _job(engine, job_id)
            if attempts >= 2:
                taken_after = (await _now(engine) - last_beat).total_seconds()
                break
        assert taken_after is not None, workers.log("second")
        assert 60 <= taken_after <= 80, taken_after
        for _ in range(600):
            status, processed, attempts, _ = await _job(engine, job_id)
            if status != "RUNNING":
                break
            await asyncio.sleep(0.2)
        assert (status, processed, attempts) == ("SUCCEEDED", total, 2), workers.log("second")
    finally:
        workers.stop_all()
        await queue.close()
        await _forget_deployment(url)

    async with engine.connect() as conn:
        once = (
            await conn.execute(
                select(
                    func.count(),
                    func.count(payout_items.c.conversion_id),
                    func.count(invoice_items.c.conversion_id),
                )
                .select_from(conversions)
                .outerjoin(payout_items, payout_items.c.conversion_id == conversions.c.id)
                .outerjoin(invoice_items, invoice_items.c.conversion_id == conversions.c.id)
                .where(conversions.c.status == "CONFIRMED")
            )
        ).one()
        report = await conn.scalar(select(billing_runs.c.report))
        reserved = await conn.scalar(
            select(func.count()).where(
                conversions.c.payout_reserved, conversions.c.payout_entry_id.is_not(None)
            )
        )
    # One row per conversion (the primary keys allow no second item) and every one billed.
    assert tuple(once) == (total, total, total)
    assert await _scalar(engine, select(func.count()).select_from(payout_items)) == total
    assert await _scalar(engine, select(func.count()).select_from(invoice_items)) == total
    assert report["conversionCount"] == report["invoicedCount"] == total
    assert reserved == total
