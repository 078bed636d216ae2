"""Webhooks delivered by a real arq worker on Redis and PostgreSQL (issue 15): the events of a
request raised, accepted and processed reach the partner's receiver signed, queued after each
commit (the dispatcher, then one job per delivery), and nothing reaches another partner."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.event_store import register_dispatch_queue
from portal.adapters.unit_of_work import UnitOfWork
from portal.jobs.queue import ArqQueue
from portal.services import webhooks
from tests import request_factories as rf
from tests.factories import build_world
from tests.integration.test_arq_worker import _run_worker, _test_settings
from tests.webhook_receiver import Receiver, running_receiver

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.parametrize("engine", ["postgres"], indirect=True),
]


@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Receiver]:
    monkeypatch.setenv("PORTAL_WEBHOOKS_ALLOW_PRIVATE", "true")
    async with running_receiver() as running:
        yield running


async def test_the_worker_delivers_a_partners_request_events(
    engine: AsyncEngine, arq_pool: ArqRedis, receiver: Receiver, tmp_path: Path
) -> None:
    world = await build_world(engine)
    # Delivery ids (and so the job ids `webhook:<id>:<n>`) no earlier run has used.
    async with engine.begin() as conn:
        await conn.execute(
            text("SELECT setval(pg_get_serial_sequence('webhook_deliveries', 'id'), :start)"),
            {"start": random.randrange(10**9, 10**15)},
        )
    queue = ArqQueue(arq_pool)
    register_dispatch_queue(engine, queue)  # as the worker and the server do at start-up
    secrets = {}
    for who in ("A", "B"):
        async with UnitOfWork(engine) as uow:
            _, secrets[who] = await webhooks.create_endpoint(
                uow,
                await rf.viewer(engine, who),
                receiver.url(f"/{who}"),
                ["conversion_request.created", "conversion_request.decided",
                 "conversion_request.processed"],
                None,
            )  # fmt: skip
            await uow.commit()
    raised = await rf.raise_new_order(engine, world)
    await rf.accept(engine, raised.id, queue=queue)

    worker = await _run_worker(arq_pool, engine, _test_settings(tmp_path))
    assert worker.jobs_failed == 0
    # The processing job's event is dispatched by a job the processing queued: run the
    # worker until the queue stays empty.
    while await arq_pool.zcard(arq_pool.default_queue_name):
        await _run_worker(arq_pool, engine, _test_settings(tmp_path))

    received = receiver.verified("/A", secrets["A"])
    assert sorted(e["type"] for e in received) == [
        "conversion_request.created",
        "conversion_request.decided",
        "conversion_request.processed",
    ]
    assert {e["data"]["status"] for e in received} == {"INQUIRED", "ACCEPTED", "PROCESSED"}
    assert receiver.at("/B") == []
