"""Delivering webhooks (issue 15), on SQLite and PostgreSQL, to a real local receiver: the
retry schedule on a controllable clock, giving up after a day, receivers that hang, fail,
redirect or reset, a worker that dies mid-attempt, and a slow receiver never holding up
another."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import webhook_deliveries, webhook_endpoints
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.events import JITTER, RETRY_DELAYS
from portal.services import webhooks
from tests.api.request_helpers import user_pk
from tests.factories import build_world
from tests.webhook_receiver import Receiver, running_receiver


@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Receiver]:
    monkeypatch.setenv("PORTAL_WEBHOOKS_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("PORTAL_WEBHOOKS_TIMEOUT_SECONDS", "0.5")
    async with running_receiver() as running:
        yield running


@pytest.fixture
def t0() -> datetime:
    """The controllable clock's start: a little after the deliveries are made (they are made
    with the real clock)."""
    return datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)


async def _admin(engine: AsyncEngine) -> Viewer:
    await build_world(engine, conversions_per_partner=0)
    return Viewer(await user_pk(engine, "admin@portal.test"), Role.ADMIN)


async def _test_delivery(engine: AsyncEngine, viewer: Viewer, url: str) -> tuple[int, int]:
    """An endpoint at `url` and a test delivery to it (not queued: the test drives it)."""
    async with UnitOfWork(engine) as uow:
        endpoint, _ = await webhooks.create_endpoint(
            uow, viewer, url, ["conversion.recorded"], None
        )
        delivery_id = await webhooks.send_test(uow, viewer, endpoint.id)
        await uow.commit()
    return endpoint.id, delivery_id


async def _row(engine: AsyncEngine, delivery_id: int):  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return (
            await conn.execute(
                select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
            )
        ).one()


async def _endpoint(engine: AsyncEngine, endpoint_id: int):  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return (
            await conn.execute(
                select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
            )
        ).one()


async def test_retries_back_off_for_about_a_day_then_disable_the_endpoint(
    engine: AsyncEngine, receiver: Receiver, t0: datetime
) -> None:
    viewer = await _admin(engine)
    receiver.answers["/failing"] = 500
    endpoint_id, delivery_id = await _test_delivery(engine, viewer, receiver.url("/failing"))
    now = t0
    outcomes, waits = [], []
    for attempt in range(1, len(RETRY_DELAYS) + 2):
        # Not a moment before it is due.
        if attempt > 1:
            assert await webhooks.deliver(engine, delivery_id, now=now - timedelta(seconds=1)) == (
                "not due"
            )
            assert [d for d, _ in await webhooks.due_deliveries(engine, now=now)] == [delivery_id]
        outcomes.append(await webhooks.deliver(engine, delivery_id, now=now))
        row = await _row(engine, delivery_id)
        assert row.attempts == attempt
        if row.next_attempt_at is None:
            break
        waits.append(row.next_attempt_at - now)
        now = row.next_attempt_at
    assert outcomes == ["retry"] * len(RETRY_DELAYS) + ["gave up"]
    for wait, planned in zip(waits, RETRY_DELAYS, strict=True):
        assert planned * (1 - JITTER) <= wait <= planned * (1 + JITTER)
    assert timedelta(hours=20) < now - t0 < timedelta(hours=27)
    assert len(receiver.at("/failing")) == len(RETRY_DELAYS) + 1
    assert (await _row(engine, delivery_id)).status == "FAILED"
    endpoint = await _endpoint(engine, endpoint_id)
    assert endpoint.enabled is False
    assert "failed for a day" in endpoint.disabled_reason and "HTTP 500" in endpoint.disabled_reason
    async with UnitOfWork(engine) as uow:
        (logged,) = await webhooks.list_deliveries(uow, viewer, endpoint_id)
    assert [a.status_code for a in logged.attempt_log] == [500] * (len(RETRY_DELAYS) + 1)
    assert logged.attempt_log[0].response == "answer 500"


async def test_2xx_delivers_and_410_disables(
    engine: AsyncEngine, receiver: Receiver, t0: datetime
) -> None:
    viewer = await _admin(engine)
    receiver.answers["/ok"] = 200
    receiver.answers["/gone"] = 410
    _, ok = await _test_delivery(engine, viewer, receiver.url("/ok"))
    gone_endpoint, gone = await _test_delivery(engine, viewer, receiver.url("/gone"))
    assert await webhooks.deliver(engine, ok, now=t0) == "delivered"
    assert await webhooks.deliver(engine, ok, now=t0) == "not due"  # delivered once
    assert await webhooks.deliver(engine, gone, now=t0) == "gone"
    assert (await _endpoint(engine, gone_endpoint)).enabled is False
    assert (await _row(engine, ok)).delivered_at == t0


async def _resetting_server() -> tuple[asyncio.Server, str]:
    """Accepts a connection and closes it at once, without an answer."""

    async def reset(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.close()

    server = await asyncio.start_server(reset, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/reset"


async def test_hang_redirect_and_reset_are_retried_and_never_block_others(
    engine: AsyncEngine, receiver: Receiver, t0: datetime
) -> None:
    viewer = await _admin(engine)
    receiver.answers["/hang"] = "hang"
    receiver.answers["/moved"] = 302
    server, reset_url = await _resetting_server()
    try:
        _, hang = await _test_delivery(engine, viewer, receiver.url("/hang"))
        _, moved = await _test_delivery(engine, viewer, receiver.url("/moved"))
        _, reset = await _test_delivery(engine, viewer, reset_url)
        _, fast = await _test_delivery(engine, viewer, receiver.url("/fast"))
        finished: list[int] = []

        async def attempt(delivery_id: int) -> str:
            result = await webhooks.deliver(engine, delivery_id, now=t0)
            finished.append(delivery_id)
            return result

        results = await asyncio.gather(*(attempt(d) for d in (hang, moved, reset, fast)))
    finally:
        server.close()
        await server.wait_closed()
    assert results == ["retry", "retry", "retry", "delivered"]
    assert finished[-1] == hang  # the hanging receiver held up no one
    assert receiver.at("/redirected") == []  # redirects are not followed
    async with UnitOfWork(engine) as uow:
        logs = {
            d.id: d.attempt_log[0]
            for endpoint in await webhooks.list_endpoints(uow, viewer)
            for d in await webhooks.list_deliveries(uow, viewer, endpoint.id)
        }
    assert logs[hang].status_code is None and logs[hang].error == "timed out"
    assert logs[moved].status_code == 302
    assert logs[reset].status_code is None and logs[reset].error
    for delivery_id in (hang, moved, reset):
        row = await _row(engine, delivery_id)
        assert row.status == "PENDING" and row.next_attempt_at > t0


async def test_a_worker_dying_mid_attempt_leaves_the_delivery_to_be_sent_again(
    engine: AsyncEngine, receiver: Receiver, t0: datetime
) -> None:
    viewer = await _admin(engine)
    receiver.answers["/slow"] = "hang"
    _, delivery_id = await _test_delivery(engine, viewer, receiver.url("/slow"))
    attempt = asyncio.create_task(webhooks.deliver(engine, delivery_id, now=t0))
    while not receiver.at("/slow"):  # noqa: ASYNC110 - the receiver offers no event
        await asyncio.sleep(0.01)
    attempt.cancel()  # the worker dies while the receiver is answering
    with contextlib.suppress(asyncio.CancelledError):
        await attempt
    row = await _row(engine, delivery_id)
    assert row.status == "PENDING" and row.attempts == 1 and row.next_attempt_at > t0
    # Nobody takes it while the dead attempt's lease runs; afterwards it is due again.
    assert await webhooks.due_deliveries(engine, now=t0) == []
    later = row.next_attempt_at + timedelta(seconds=1)
    assert [d for d, _ in await webhooks.due_deliveries(engine, now=later)] == [delivery_id]
    receiver.answers["/slow"] = 204
    assert await webhooks.deliver(engine, delivery_id, now=later) == "delivered"
    first, second = receiver.at("/slow")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # at-least-once, one id


ROOT = Path(__file__).resolve().parents[2]
_KILLED_CHILD = """
import asyncio, sys
from datetime import datetime
from portal.adapters.database import create_engine
from portal.services import webhooks

async def main():
    engine = create_engine(sys.argv[1])
    await webhooks.deliver(engine, int(sys.argv[2]), now=datetime.fromisoformat(sys.argv[3]))

asyncio.run(main())
"""


async def test_a_worker_process_killed_mid_delivery_leaves_the_event_to_be_delivered_again(
    engine: AsyncEngine, receiver: Receiver, t0: datetime, tmp_path: Path
) -> None:
    """A real process, SIGKILLed while the receiver holds its request: no `finally` runs in it,
    and the delivery is still sent again, with the same event id, once its lease ends."""
    viewer = await _admin(engine)
    receiver.answers["/slow"] = "hang"
    _, delivery_id = await _test_delivery(engine, viewer, receiver.url("/slow"))
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _KILLED_CHILD,
            engine.url.render_as_string(hide_password=False),
            str(delivery_id),
            t0.isoformat(),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
        )
    try:
        for _ in range(300):
            if receiver.at("/slow") or child.returncode is not None:
                break
            await asyncio.sleep(0.05)
        assert receiver.at("/slow"), log_path.read_text()[-2000:]
        child.send_signal(signal.SIGKILL)
        await asyncio.wait_for(child.wait(), 10)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == -signal.SIGKILL
    row = await _row(engine, delivery_id)
    assert row.status == "PENDING" and row.attempts == 1 and row.next_attempt_at > t0
    assert await webhooks.due_deliveries(engine, now=t0) == []  # the dead attempt's lease
    later = row.next_attempt_at + timedelta(seconds=1)
    assert [d for d, _ in await webhooks.due_deliveries(engine, now=later)] == [delivery_id]
    receiver.answers["/slow"] = 204
    assert await webhooks.deliver(engine, delivery_id, now=later) == "delivered"
    first, second = receiver.at("/slow")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert (await _row(engine, delivery_id)).status == "DELIVERED"
