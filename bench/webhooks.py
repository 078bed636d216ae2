"""Webhook delivery throughput: deliveries/s from one process to a local receiver (uvicorn on
127.0.0.1, answering 204), as a worker runs them (`deliver_webhooks` jobs of DELIVERY_BATCH
deliveries, `--concurrency` jobs at once, like arq's max_jobs), and the dispatcher's rate of
turning events into deliveries.

    PORTAL_WEBHOOKS_ALLOW_PRIVATE=true .venv/bin/python -m bench.webhooks \
        [--deliveries 2000] [--concurrency 10 50] [--database-url postgresql+asyncpg://…]

Without --database-url a temporary SQLite file is used; a PostgreSQL database given must be
empty (it is migrated)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.database import create_engine, migrate
from portal.adapters.event_payloads import conversion_event
from portal.adapters.event_store import record_events
from portal.adapters.tables import events, users, webhook_deliveries
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.events import envelope, new_event_key
from portal.services import access, webhooks
from tests.live_server import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable


async def receiver_app(
    scope: dict[str, object],
    receive: Callable[[], Awaitable[dict[str, object]]],
    send: Callable[[dict[str, object]], Awaitable[None]],
) -> None:
    """The receiver: reads the body, answers 204 (run by uvicorn in its own process)."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@contextlib.asynccontextmanager
async def running_receiver() -> AsyncIterator[str]:
    """uvicorn serving `receiver_app` in a subprocess; yields its URL."""
    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
        [sys.executable, "-m", "uvicorn", "bench.webhooks:receiver_app", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
    )  # fmt: skip
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    await client.post(f"http://127.0.0.1:{port}/")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        yield f"http://127.0.0.1:{port}/bench"
    finally:
        process.terminate()
        process.wait(10)


async def _admin(engine: AsyncEngine) -> Viewer:
    async with UnitOfWork(engine) as uow:
        user = await access.create_user(
            uow, None, email="bench@portal.test", name="bench", role=Role.ADMIN
        )
        await uow.commit()
    return user.as_viewer()


async def _deliveries(engine: AsyncEngine, endpoint_id: int, count: int) -> list[int]:
    """`count` pending deliveries of test events to the endpoint."""
    async with UnitOfWork(engine) as uow:
        ids = []
        for _ in range(count):
            key = new_event_key()
            data = {"endpointId": endpoint_id, "message": "bench " * 20}
            event_id = await uow.insert(
                insert(events).values(
                    event_key=key, type="webhook.test", version=1, occurred_at=uow.now,
                    object_kind="webhook_endpoint", object_id=endpoint_id, payload=data,
                    dispatched_at=uow.now,
                )
            )  # fmt: skip
            ids.append(
                await uow.insert(
                    insert(webhook_deliveries).values(
                        endpoint_id=endpoint_id, event_id=event_id,
                        body=envelope(key, "webhook.test", uow.now, data), status="PENDING",
                        attempts=0, next_attempt_at=uow.now, created_at=uow.now,
                    )
                )
            )  # fmt: skip
        await uow.commit()
    return ids


async def bench_delivery(engine: AsyncEngine, count: int, concurrencies: list[int]) -> None:
    viewer = await _admin(engine)
    async with running_receiver() as url:
        async with UnitOfWork(engine) as uow:
            endpoint, _ = await webhooks.create_endpoint(
                uow, viewer, url, ["conversion.recorded"], None
            )
            await uow.commit()
        for concurrency in concurrencies:
            ids = await _deliveries(engine, endpoint.id, count)
            queue: asyncio.Queue[list[int]] = asyncio.Queue()
            batch = webhooks.DELIVERY_BATCH
            for start in range(0, len(ids), batch):
                queue.put_nowait(ids[start : start + batch])
            delivered = 0

            async def worker(pending: asyncio.Queue[list[int]]) -> None:
                nonlocal delivered
                while not pending.empty():
                    results = await webhooks.deliver_many(engine, pending.get_nowait())
                    delivered += sum(r == "delivered" for r in results.values())

            started = time.perf_counter()
            await asyncio.gather(*(worker(queue) for _ in range(concurrency)))
            seconds = time.perf_counter() - started
            print(
                f"deliver, concurrency {concurrency:>3}: {delivered} of {count} delivered in "
                f"{seconds:.2f} s = {delivered / seconds:,.0f} deliveries/s"
            )


async def bench_dispatch(engine: AsyncEngine, count: int) -> None:
    """The dispatcher's work per event and endpoint (select, subscription and visibility
    checks): the events name a conversion that is not there, so no delivery is made."""
    viewer = Viewer(int((await _scalar(engine, select(users.c.id).limit(1))) or 0), Role.ADMIN)
    async with UnitOfWork(engine) as uow:
        await uow.execute(update(webhook_deliveries).values(status="DELIVERED"))
        for _ in range(2):
            await webhooks.create_endpoint(
                uow, viewer, "http://127.0.0.1:9/none", ["conversion.recorded"], None
            )
        values = {
            "program_id": 1, "partner_id": 1, "order_id": "o", "target": "SALE",
            "status": "OPEN", "order_value": "1", "currency": "EUR", "commission": "1",
            "commission_model_name": "m", "commission_breakdown": None, "tracking_time": uow.now,
        }  # fmt: skip
        await record_events(
            uow, [conversion_event("conversion.recorded", 1, values) for _ in range(count)]
        )
        await uow.commit()
    started = time.perf_counter()
    dispatched = await webhooks.dispatch_events(engine)
    seconds = time.perf_counter() - started
    print(
        f"dispatch: {dispatched} events x 2 endpoints in {seconds:.2f} s = "
        f"{dispatched / seconds:,.0f} events/s"
    )


async def _scalar(engine: AsyncEngine, stmt: object) -> object:
    async with engine.connect() as conn:
        return await conn.scalar(stmt)  # type: ignore[call-overload]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 10])
    parser.add_argument("--database-url")
    args = parser.parse_args()
    os.environ.setdefault("PORTAL_WEBHOOKS_ALLOW_PRIVATE", "true")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        engine = create_engine(url)
        await migrate(engine)
        try:
            await bench_delivery(engine, args.deliveries, args.concurrency)
            await bench_dispatch(engine, args.deliveries)
        finally:
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
