"""The request paths that need a job, run by a real arq worker on Redis against PostgreSQL:
change-existing with a revised commission, and failure → FAILED → retry → PROCESSED."""

from __future__ import annotations

from pathlib import Path

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversions
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.requests import RequestStatus
from portal.jobs.queue import ArqQueue
from portal.services.requests import retry_request
from tests import request_factories as rf
from tests.factories import build_world
from tests.integration.test_arq_worker import _run_worker, _test_settings

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.parametrize("engine", ["postgres"], indirect=True),
]


async def _commission_of(engine: AsyncEngine, conversion_id: int) -> tuple[str, str]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(conversions.c.target, conversions.c.commission).where(
                    conversions.c.id == conversion_id
                )
            )
        ).one()
    return row.target, format(row.commission.normalize(), "f")


async def test_a_change_request_is_applied_by_the_worker(
    engine: AsyncEngine,
    arq_pool: ArqRedis,
    tmp_path: Path,
) -> None:
    world = await build_world(engine)
    raised = await rf.raise_change(engine, world)
    await rf.accept(engine, raised.id, queue=ArqQueue(arq_pool))

    worker = await _run_worker(arq_pool, engine, _test_settings(tmp_path))

    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
    done = await rf.request(engine, raised.id)
    assert done.status is RequestStatus.PROCESSED
    target, commission = await _commission_of(engine, world.conversions["A"][0])
    assert target == "SALE_EXISTING_CUSTOMER"
    assert commission == format(
        done.commission.normalize(), "f"
    )  # the accepted, revised commission
    assert await rf.revisions_of_request(engine, raised.id) == 1


async def test_a_failed_request_is_retried_and_processed_by_the_worker(
    engine: AsyncEngine,
    arq_pool: ArqRedis,
    tmp_path: Path,
) -> None:
    world = await build_world(engine)
    raised = await rf.raise_new_order(engine, world)
    await rf.accept(engine, raised.id, queue=ArqQueue(arq_pool))
    async with engine.begin() as conn:  # a cause validation could not see at acceptance
        await conn.execute(
            text("UPDATE conversion_targets SET active = false WHERE key = 'SALE_NEW_CUSTOMER'")
        )

    await _run_worker(arq_pool, engine, _test_settings(tmp_path))
    failed = await rf.request(engine, raised.id)
    assert failed.status is RequestStatus.FAILED and "INACTIVE_TARGET" in (failed.failure or "")

    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE conversion_targets SET active = true WHERE key = 'SALE_NEW_CUSTOMER'")
        )
    async with UnitOfWork(engine, queue=ArqQueue(arq_pool)) as uow:
        await retry_request(uow, await rf.viewer(engine, "adv1"), raised.id)
        await uow.commit()
    await _run_worker(arq_pool, engine, _test_settings(tmp_path))

    done = await rf.request(engine, raised.id)
    assert done.status is RequestStatus.PROCESSED and done.failure is None
    assert done.requested.order_id is not None
    assert await rf.conversions_of_order(engine, done.requested.order_id) == 1
