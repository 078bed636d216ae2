"""Subscriptions fed through Redis pub/sub (issue 15): with PORTAL_REDIS_URL every committed
event goes through the deployment's channel, so a request processed by an arq worker reaches
the server's subscribers; the partner sees INQUIRED → ACCEPTED → PROCESSED, and the request
and the conversion its processing recorded through the filtered and per-program fields."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq import create_pool
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.live_events import HUB
from portal.config import Settings
from portal.jobs.queue import queue_name_of
from tests.api.request_helpers import CREATE, DECIDE, create_input, new_order, request_world
from tests.api.test_subscription_streams import (
    RECORDED,
    STREAM,
    WAIT,
    _accept,
    _create,
    _listening,
    _ready,
    _start,
)
from tests.api.test_subscriptions import _graphql, _message, _open, _subscribe, live_app
from tests.conftest import REDIS_URL
from tests.integration.conftest import redis_settings
from tests.integration.test_arq_worker import _run_worker

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.parametrize("engine", ["postgres"], indirect=True),
]


# The server shares the test's event loop: on a loaded machine httpx's default 5 s cut off a
# first request once (a full run on 2 CPUs); the test is about delivery, not latency.
_TIMEOUT = 30


async def test_updates_committed_by_an_arq_worker_reach_the_subscriber(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    if not REDIS_URL:
        pytest.skip("Redis (PORTAL_TEST_REDIS_URL) not configured")
    settings = Settings(
        database_url=f"the engine is passed in {uuid.uuid4().hex}",  # its own queue and channel
        redis_url=REDIS_URL,
        secret_key="test",
        data_dir=tmp_path,
    )
    rw = await request_world(engine)
    pool = await create_pool(
        redis_settings(), default_queue_name=queue_name_of(settings.database_url)
    )
    try:
        async with (
            live_app(engine, settings) as address,
            httpx.AsyncClient(base_url=f"http://{address}", timeout=_TIMEOUT) as client,
        ):
            created = await _graphql(
                client, CREATE, {"input": create_input(rw.program(), new_order())}, rw.token("A")
            )
            request_id = created["createConversionRequest"]["conversionRequest"]["id"]
            own = await _open(address, rw.token("A"))
            await _subscribe(own, request_id)
            first = await _message(own)
            assert first["payload"]["data"]["conversionRequestChanged"]["status"] == "INQUIRED"
            await _graphql(
                client,
                DECIDE,
                {"input": {"requestId": request_id, "decision": "ACCEPT"}},
                rw.token("adv1"),
            )
            accepted = await _message(own)
            assert accepted["payload"]["data"]["conversionRequestChanged"]["status"] == "ACCEPTED"
            # Processing is the worker's; its commit is published on Redis.
            await _run_worker(pool, engine, settings)
            statuses = []
            while not statuses or statuses[-1] != "PROCESSED":
                message = await _message(own)
                statuses.append(message["payload"]["data"]["conversionRequestChanged"]["status"])
            assert statuses[-1] == "PROCESSED", json.dumps(statuses)
            await own.close()
    finally:
        await pool.delete(pool.default_queue_name)
        await pool.aclose()


async def test_the_new_conversion_and_the_processed_request_of_a_worker_reach_the_partner(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """conversionRequestsChanged and conversionRecorded through Redis: the worker's commit."""
    if not REDIS_URL:
        pytest.skip("Redis (PORTAL_TEST_REDIS_URL) not configured")
    settings = Settings(
        database_url=f"the engine is passed in {uuid.uuid4().hex}",
        redis_url=REDIS_URL,
        secret_key="test",
        data_dir=tmp_path,
    )
    rw = await request_world(engine)
    pool = await create_pool(
        redis_settings(), default_queue_name=queue_name_of(settings.database_url)
    )
    try:
        async with (
            live_app(engine, settings) as address,
            httpx.AsyncClient(base_url=f"http://{address}", timeout=_TIMEOUT) as client,
        ):
            ws = await _ready(await _open(address, rw.token("A")))
            listening = HUB.subscriber_count
            await _start(ws, "done", STREAM, {"filter": {"statuses": ["PROCESSED"]}})
            await _start(ws, "recorded", RECORDED, {"programId": rw.program("p1")})
            await _listening(listening + 2)
            request_id = await _create(client, rw, "A", "WORKER-1")
            await _accept(client, rw, request_id, "adv1")
            await _run_worker(pool, engine, settings)
            seen: dict[str, Any] = {}
            while len(seen) < 2:
                message = await _message(ws, WAIT)
                assert message["type"] == "next", message
                seen[message["id"]] = message["payload"]["data"]
            assert seen["done"]["conversionRequestsChanged"] == {
                "id": request_id,
                "status": "PROCESSED",
                "partner": {"id": rw.partner("A")},
            }
            assert seen["recorded"]["conversionRecorded"]["orderId"] == "WORKER-1"
            await ws.close()
    finally:
        await pool.delete(pool.default_queue_name)
        await pool.aclose()
