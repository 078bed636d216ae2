"""Billing under real concurrency on PostgreSQL (issue 11): two runs at once over overlapping
programs bill every conversion once, to the partner and to the advertiser; confirmations at once
never share or skip a number; a run taken over after its worker died bills each conversion once;
runs go through a real arq worker.

Barriers hold every transaction after it has read and before it writes, so the transactions
truly overlap."""

from __future__ import annotations

import asyncio
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import (
    advertiser_invoices,
    billing_runs,
    conversions,
    invoice_items,
    jobs,
    payout_entries,
    payout_entry_lines,
    payout_items,
    users,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.billing.model import BillingAction
from portal.domain.errors import DomainError
from portal.jobs.queue import ArqQueue
from portal.services import billing_actions
from portal.services import billing_runs as runs
from tests.api.billing_helpers import billing_world
from tests.factories import World
from tests.integration.test_arq_worker import _run_worker, _test_settings

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("engine", ["postgres"], indirect=True)]
PERIOD_END = date(2026, 3, 31)


def _hold_after(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, parties: int) -> None:
    real = getattr(module, name)
    barrier = asyncio.Barrier(parties)

    async def held(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        await asyncio.wait_for(barrier.wait(), 10)
        return result

    monkeypatch.setattr(module, name, held)


async def _admin(engine: AsyncEngine) -> Viewer:
    async with engine.connect() as conn:
        user_id = await conn.scalar(select(users.c.id).where(users.c.role == "ADMIN"))
    return Viewer(user_id=user_id, role=Role.ADMIN)


async def _start(engine: AsyncEngine, program_ids: tuple[int, ...], queue: Any = None) -> int:
    admin = await _admin(engine)
    async with UnitOfWork(engine, queue=queue) as uow:
        run_id = await runs.start_billing_run(uow, admin, PERIOD_END, program_ids, False)
        await uow.commit()
    async with engine.connect() as conn:
        job_id: int = await conn.scalar(
            select(billing_runs.c.job_id).where(billing_runs.c.id == run_id)
        )
    return job_id


async def _scalar(engine: AsyncEngine, stmt: Any) -> Any:
    async with engine.connect() as conn:
        return await conn.scalar(stmt)


async def _assert_billed_once(engine: AsyncEngine, world: World) -> None:
    total = sum(len(ids) for ids in world.conversions.values())
    assert await _scalar(engine, select(func.count()).select_from(payout_items)) == total
    assert await _scalar(engine, select(func.count()).select_from(invoice_items)) == total
    # Every entry's lines count exactly its items, and every conversion points at its entry.
    lines = await _scalar(engine, select(func.sum(payout_entry_lines.c.count)))
    assert lines == total
    mismatched = await _scalar(
        engine,
        select(func.count())
        .select_from(conversions)
        .join(payout_items, payout_items.c.conversion_id == conversions.c.id)
        .where(conversions.c.payout_entry_id != payout_items.c.entry_id),
    )
    assert mismatched == 0


async def test_two_runs_at_once_over_overlapping_programs_bill_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await billing_world(engine)
    both = (w.ids["p1"], w.ids["p2"])
    first = await _start(engine, both)
    second = await _start(engine, (w.ids["p1"],))
    _hold_after(monkeypatch, runs, "load_issuer", 2)  # both have read before either writes

    outcomes = await asyncio.gather(
        runs.run_billing(engine, first), runs.run_billing(engine, second)
    )

    assert outcomes == ["succeeded", "succeeded"]
    await _assert_billed_once(engine, w)
    async with engine.connect() as conn:
        reports = list(await conn.scalars(select(billing_runs.c.report)))
    assert sum(r["conversionCount"] for r in reports) == 9
    assert sum(r["invoicedCount"] for r in reports) == 9


async def test_confirmations_at_once_get_consecutive_numbers(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await billing_world(engine)
    assert await runs.run_billing(engine, await _start(engine, ())) == "succeeded"
    async with engine.connect() as conn:
        entry_ids = list(
            await conn.scalars(select(payout_entries.c.id).order_by(payout_entries.c.id))
        )
    assert len(entry_ids) == 3
    admin = await _admin(engine)
    _hold_after(monkeypatch, billing_actions, "_locked", 3)  # each holds its entry's row lock

    async def confirm(pk: int, table: Any = payout_entries) -> Any:
        async with UnitOfWork(engine) as uow:
            try:
                entry = await billing_actions.act(uow, admin, table, pk, BillingAction.CONFIRM)
            except DomainError as error:
                return error.code
            await uow.commit()
            return entry.number

    # Three entries at once, each past its row lock before any takes a number.
    results = await asyncio.gather(*(confirm(pk) for pk in entry_ids))

    year = date.today().year
    assert sorted(results) == [f"GS-{year}-00000{i}" for i in (1, 2, 3)]

    # One invoice confirmed twice at once: the row lock lets one win, the other sees it.
    monkeypatch.undo()
    async with engine.connect() as conn:
        invoice_id = await conn.scalar(select(advertiser_invoices.c.id).limit(1))
    both = await asyncio.gather(*(confirm(invoice_id, advertiser_invoices) for _ in range(2)))
    assert sorted(both) == ["NOT_PREVIEW", f"RE-{year}-000001"]
    assert w.ids["p1"]


async def test_a_run_taken_over_after_its_worker_died_bills_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await billing_world(engine)
    job_id = await _start(engine, ())

    # The first worker dies after it claimed the conversions but before it committed.
    real = runs._bill_partners

    async def dies(*args: Any, **kwargs: Any) -> None:
        await real(*args, **kwargs)
        raise asyncio.CancelledError  # as the process ends: the transaction never commits

    monkeypatch.setattr(runs, "_bill_partners", dies)
    with pytest.raises(asyncio.CancelledError):
        await runs.run_billing(engine, job_id)
    monkeypatch.setattr(runs, "_bill_partners", real)
    assert await _scalar(engine, select(jobs.c.status).where(jobs.c.id == job_id)) == "RUNNING"
    assert await _scalar(engine, select(func.count()).select_from(payout_items)) == 0
    # Its heartbeat stops; a minute later another run takes the job over.
    async with engine.begin() as conn:
        await conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(heartbeat_at=func.now() - timedelta(minutes=2))
        )

    assert await runs.run_billing(engine, job_id) == "succeeded"

    await _assert_billed_once(engine, w)
    async with engine.connect() as conn:
        row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).one()
    assert (row.status, row.attempts, row.processed) == ("SUCCEEDED", 2, 9)


@pytest.mark.redis
async def test_runs_go_through_the_arq_worker_and_twice_bill_once(
    engine: AsyncEngine, arq_pool: ArqRedis, tmp_path: Path
) -> None:
    w = await billing_world(engine)
    async with engine.begin() as conn:  # job ids (arq job keys) no earlier run has used
        await conn.execute(
            text("SELECT setval(pg_get_serial_sequence('jobs', 'id'), :start)"),
            {"start": random.randrange(10**9, 10**15)},
        )
    queue = ArqQueue(arq_pool)
    await _start(engine, (), queue)
    await _start(engine, (), queue)

    worker = await _run_worker(arq_pool, engine, _test_settings(tmp_path))

    assert (worker.jobs_complete, worker.jobs_failed) == (2, 0)
    await _assert_billed_once(engine, w)
    statuses = await _scalar(
        engine,
        select(func.count()).where(jobs.c.status == "SUCCEEDED", jobs.c.kind == "BILLING_RUN"),
    )
    assert statuses == 2
