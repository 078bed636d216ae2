"""Retention of the events outbox, on SQLite and PostgreSQL: old, dispatched events whose webhook
deliveries are all final go with their deliveries and attempts (the cascade works on SQLite
too); recent, undispatched and still-pending ones stay; deletes run in bounded batches; the
worker's cron, the embedded runtime's periodic chore and `portal events prune` all run it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.database import create_engine, migrate
from portal.adapters.tables import events, users, webhook_attempts, webhook_deliveries
from portal.adapters.tables import webhook_endpoints as endpoints
from portal.adapters.unit_of_work import UnitOfWork
from portal.cli import main
from portal.config import Settings
from portal.domain.access import Role, Viewer
from portal.domain.errors import NotFound
from portal.jobs import runtime
from portal.jobs.context import JobContext
from portal.jobs.queue import InProcessQueue
from portal.jobs.worker import WorkerSettings
from portal.services import webhooks
from portal.services.webhooks import PRUNE_BATCH, prune_events
from tests.conftest import StatementCounter, run_in_thread, truncate

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Outbox:
    """Writes events, deliveries and attempts as the dispatcher and deliverer leave them."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.endpoint_id = 0
        self.ids: dict[str, int] = {}

    async def start(self) -> Outbox:
        async with self.engine.begin() as conn:
            user_id = (
                await conn.execute(
                    insert(users)
                    .values(email="ops@portal.test", name="ops", role="ADMIN", created_at=NOW)
                    .returning(users.c.id)
                )
            ).scalar_one()
            self.endpoint_id = (
                await conn.execute(
                    insert(endpoints)
                    .values(
                        owner_role="ADMIN",
                        created_by=user_id,
                        url="https://hooks.example.com/portal",
                        event_types=["webhook.test"],
                        description="",
                        secret="whsec_test",
                        enabled=True,
                        created_at=NOW - 400 * DAY,
                        updated_at=NOW - 400 * DAY,
                    )
                    .returning(endpoints.c.id)
                )
            ).scalar_one()
        return self

    async def event(
        self,
        name: str,
        age: timedelta,
        deliveries: tuple[str, ...] = (),
        *,
        dispatched_after: timedelta | None = timedelta(seconds=2),
    ) -> int:
        """An event `age` old, dispatched `dispatched_after` later (None: not yet), with one
        delivery of each status given, each with two attempts."""
        occurred = NOW - age
        async with self.engine.begin() as conn:
            event_id = (
                await conn.execute(
                    insert(events)
                    .values(
                        event_key=f"evt_{name}",
                        type="webhook.test",
                        version=1,
                        occurred_at=occurred,
                        object_kind="webhook_endpoint",
                        object_id=self.endpoint_id,
                        payload={"name": name},
                        dispatched_at=None
                        if dispatched_after is None
                        else occurred + dispatched_after,
                    )
                    .returning(events.c.id)
                )
            ).scalar_one()
            for status in deliveries:
                delivery_id = (
                    await conn.execute(
                        insert(webhook_deliveries)
                        .values(
                            endpoint_id=self.endpoint_id,
                            event_id=event_id,
                            body="{}",
                            status=status,
                            attempts=2,
                            # A pending one waits for its retry.
                            next_attempt_at=NOW + timedelta(hours=1)
                            if status == "PENDING"
                            else None,
                            delivered_at=occurred if status == "DELIVERED" else None,
                            created_at=occurred,
                        )
                        .returning(webhook_deliveries.c.id)
                    )
                ).scalar_one()
                await conn.execute(
                    insert(webhook_attempts),
                    [
                        {
                            "delivery_id": delivery_id,
                            "attempted_at": occurred,
                            "status_code": code,
                            "duration_ms": 5,
                        }
                        for code in (500, 204 if status == "DELIVERED" else 500)
                    ],
                )
        self.ids[name] = event_id
        return event_id

    async def names(self) -> set[str]:
        async with self.engine.connect() as conn:
            keys = (await conn.scalars(select(events.c.event_key))).all()
        return {key.removeprefix("evt_") for key in keys}

    async def counts(self) -> tuple[int, int]:
        """Deliveries and attempts there are."""
        async with self.engine.connect() as conn:
            return (
                int(await conn.scalar(select(func.count()).select_from(webhook_deliveries)) or 0),
                int(await conn.scalar(select(func.count()).select_from(webhook_attempts)) or 0),
            )

    async def orphans(self) -> tuple[int, int]:
        """Deliveries without their event and attempts without their delivery."""
        async with self.engine.connect() as conn:
            d = webhook_deliveries.c
            a = webhook_attempts.c
            deliveries = await conn.scalar(
                select(func.count())
                .select_from(webhook_deliveries)
                .where(~select(events.c.id).where(events.c.id == d.event_id).exists())
            )
            attempts = await conn.scalar(
                select(func.count())
                .select_from(webhook_attempts)
                .where(~select(d.id).where(d.id == a.delivery_id).exists())
            )
            return int(deliveries or 0), int(attempts or 0)


async def test_old_settled_events_go_with_their_deliveries_and_the_rest_stay(
    engine: AsyncEngine,
) -> None:
    outbox = await Outbox(engine).start()
    await outbox.event("old_delivered", 100 * DAY, ("DELIVERED", "DELIVERED"))
    await outbox.event("old_failed", 100 * DAY, ("FAILED",))
    await outbox.event("old_delivered_and_failed", 91 * DAY, ("DELIVERED", "FAILED"))
    await outbox.event("old_unheard", 300 * DAY)  # nobody listened: no delivery
    # Kept: a delivery still retrying, however old the event.
    await outbox.event("old_retrying", 100 * DAY, ("PENDING",))
    await outbox.event("old_half_retrying", 100 * DAY, ("DELIVERED", "PENDING"))
    # Kept: not dispatched yet.
    await outbox.event("old_undispatched", 100 * DAY, dispatched_after=None)
    # Kept: younger than the retention.
    await outbox.event("recent", 89 * DAY, ("DELIVERED",))
    await outbox.event("recent_unheard", 1 * DAY)
    # Kept (for now): it happened before the retention but was dispatched within it.
    await outbox.event("dispatched_late", 91 * DAY, (), dispatched_after=2 * DAY)
    assert await outbox.counts() == (9, 18)

    assert await prune_events(engine, 90, now=NOW) == 4

    assert await outbox.names() == {
        "old_retrying",
        "old_half_retrying",
        "old_undispatched",
        "recent",
        "recent_unheard",
        "dispatched_late",
    }
    # The deliveries (and their attempts) of the four events went with them, by the cascade:
    # none is left without its event, and those of the kept events are all there.
    assert await outbox.orphans() == (0, 0)
    assert await outbox.counts() == (4, 8)
    # Nothing more to do; a shorter retention takes the recent settled ones too.
    assert await prune_events(engine, 90, now=NOW) == 0
    assert await prune_events(engine, 30, now=NOW + 80 * DAY) == 3
    assert await outbox.names() == {"old_retrying", "old_half_retrying", "old_undispatched"}
    assert await outbox.counts() == (3, 6)


async def test_a_pending_delivery_keeps_its_event_until_it_is_final(engine: AsyncEngine) -> None:
    outbox = await Outbox(engine).start()
    event_id = await outbox.event("retrying", 200 * DAY, ("PENDING",))
    assert await prune_events(engine, 90, now=NOW) == 0
    async with engine.begin() as conn:
        await conn.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.event_id == event_id)
            .values(status="FAILED", next_attempt_at=None)
        )
    assert await prune_events(engine, 90, now=NOW) == 1
    assert await outbox.names() == set()
    assert await outbox.counts() == (0, 0)


async def test_deletes_run_in_bounded_batches_until_none_is_left(
    engine: AsyncEngine, statements: StatementCounter
) -> None:
    assert PRUNE_BATCH == 5000
    outbox = await Outbox(engine).start()
    for n in range(12):
        await outbox.event(f"old_{n}", 100 * DAY, ("DELIVERED",))
    await outbox.event("old_retrying", 100 * DAY, ("PENDING",))
    statements.reset()

    assert await prune_events(engine, 90, now=NOW, batch=5) == 12

    deletes = [s for s in statements.statements if s.lstrip().upper().startswith("DELETE")]
    # 5, 5 and 2 events by id (the deliveries go by the cascade): the last batch is short, so
    # there is nothing left to look for.
    assert [s.count(",") + 1 for s in deletes] == [5, 5, 2], deletes
    assert all(s.startswith("DELETE FROM events WHERE events.id IN (") for s in deletes)
    assert await outbox.names() == {"old_retrying"}
    assert await outbox.orphans() == (0, 0)


async def test_a_run_with_a_time_budget_leaves_the_rest_for_the_next(
    engine: AsyncEngine,
) -> None:
    outbox = await Outbox(engine).start()
    for n in range(7):
        await outbox.event(f"old_{n}", 100 * DAY, ("FAILED",))
    # Spent at once: the first batch runs, no other starts.
    assert await prune_events(engine, 90, now=NOW, batch=5, budget_seconds=0) == 5
    assert len(await outbox.names()) == 2
    assert await prune_events(engine, 90, now=NOW, batch=5, budget_seconds=0) == 2
    assert await outbox.names() == set()


async def test_sqlite_enforces_the_cascade_it_relies_on(sqlite_engine: AsyncEngine) -> None:
    """Pruning leaves the deliveries to ON DELETE CASCADE: every SQLite connection has
    foreign keys on (portal.adapters.database), or they would be left behind."""
    async with sqlite_engine.connect() as conn:
        assert await conn.scalar(text("PRAGMA foreign_keys")) == 1


def test_the_worker_runs_it_hourly_and_at_startup() -> None:
    (job,) = [c for c in WorkerSettings.cron_jobs if c.name == "cron:prune_events"]
    assert job.minute == {23} and job.second == 0 and job.hour is None
    assert job.run_at_startup is True
    # The job timeout of the others: arq keeps each job's in-progress mark for the longest
    # timeout of all, so a longer one would hold up every job a dead worker left.
    assert job.timeout_s is None


async def test_the_worker_cron_prunes_with_the_retention_setting(
    engine: AsyncEngine, settings: Settings
) -> None:
    outbox = await Outbox(engine).start()
    await outbox.event("forty_days", 40 * DAY + (datetime.now(UTC) - NOW), ("DELIVERED",))
    (job,) = [c for c in WorkerSettings.cron_jobs if c.name == "cron:prune_events"]
    ctx: dict[str, Any] = {"portal": JobContext(engine=engine, settings=settings, queue=None)}
    assert await job.coroutine(ctx) == 0  # the default: 90 days
    short = dataclasses.replace(settings, event_retention_days=30)
    ctx["portal"] = JobContext(engine=engine, settings=short, queue=None)
    assert await job.coroutine(ctx) == 1
    assert await outbox.names() == set()


async def test_the_embedded_runtime_prunes_hourly(
    engine: AsyncEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered: list[tuple[float, Callable[[], Any], float | None]] = []

    def every(
        self: InProcessQueue,
        seconds: float,
        chore: Callable[[], Any],
        *,
        first_after: float | None = None,
    ) -> None:
        registered.append((seconds, chore, first_after))

    monkeypatch.setattr(InProcessQueue, "every", every)
    budgets: list[float | None] = []
    prune = webhooks.prune_events

    async def recorded(*args: Any, budget_seconds: float | None = None, **kwargs: Any) -> int:
        budgets.append(budget_seconds)
        return await prune(*args, budget_seconds=budget_seconds, **kwargs)

    monkeypatch.setattr(webhooks, "prune_events", recorded)
    outbox = await Outbox(engine).start()
    await outbox.event("forty_days", 40 * DAY + (datetime.now(UTC) - NOW), ("DELIVERED",))
    queue = await runtime.start_queue(
        dataclasses.replace(settings, event_retention_days=30), engine
    )
    try:
        pruning = [(s, c, f) for s, c, f in registered if c.__name__ == "prune_events"]
        assert [(s, f) for s, _, f in pruning] == [(3600, 60)]
        assert await outbox.names() == {"forty_days"}  # not at start-up: a minute later
        await pruning[0][1]()
        assert await outbox.names() == set()
        assert budgets == [runtime.PRUNE_BUDGET_SECONDS] == [30]  # SQLite's one write lock
    finally:
        await queue.close()


async def test_the_first_run_of_a_chore_may_come_sooner_than_its_interval() -> None:
    queue = InProcessQueue()
    ran: list[str] = []

    async def chore() -> None:
        ran.append("ran")

    queue.every(3600, chore, first_after=0)
    queue.every(3600, chore)
    await asyncio.sleep(0.05)
    await queue.close()
    assert ran == ["ran"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A migrated database the commands find through PORTAL_DATABASE_URL."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'portal.db'}"
    else:
        url = request.getfixturevalue("postgres_database")

    async def prepare() -> None:
        engine = create_engine(url)
        try:
            await migrate(engine)
            if request.param == "postgres":
                await truncate(engine)
        finally:
            await engine.dispose()

    run_in_thread(prepare())
    monkeypatch.setenv("PORTAL_DATABASE_URL", url)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PORTAL_SECRET_KEY", "test-secret-key")
    monkeypatch.delenv("PORTAL_EVENT_RETENTION_DAYS", raising=False)
    return url


def _seed(url: str, ages_in_days: list[int]) -> None:
    async def seed() -> None:
        engine = create_engine(url)
        try:
            outbox = await Outbox(engine).start()
            real_age = datetime.now(UTC) - NOW
            for n, days in enumerate(ages_in_days):
                await outbox.event(f"e{n}", days * DAY + real_age, ("DELIVERED",))
        finally:
            await engine.dispose()

    run_in_thread(seed())


def test_portal_events_prune_prints_the_count(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(database_url, [200, 100, 40, 10])
    assert main(["events", "prune"]) == 0  # PORTAL_EVENT_RETENTION_DAYS, by default 90
    assert capsys.readouterr().out == "deleted 2 events older than 90 days\n"
    monkeypatch.setenv("PORTAL_EVENT_RETENTION_DAYS", "60")
    assert main(["events", "prune"]) == 0
    assert capsys.readouterr().out == "deleted 0 events older than 60 days\n"
    assert main(["events", "prune", "--older-than-days", "30"]) == 0
    assert capsys.readouterr().out == "deleted 1 events older than 30 days\n"
    assert main(["events", "prune", "--older-than-days", "0"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        "portal events: error: --older-than-days must be at least 1 (days), not 0"
    )
    # Past the calendar: refused in one line too, not a traceback.
    assert main(["events", "prune", "--older-than-days", "999999999"]) == 1
    assert capsys.readouterr().err.strip() == (
        "portal events: error: --older-than-days must be at most 36,500 (days), not 999999999"
    )


async def test_a_redelivery_racing_the_pruner_answers_not_found(engine: AsyncEngine) -> None:
    """The pruner chose an event (its row locked) while an admin redelivers it: the redelivery
    waits, then finds no such event (NOT_FOUND), instead of failing on the deleted row."""
    if engine.dialect.name != "postgresql":
        return  # SQLite has one writer at a time: the two cannot interleave
    outbox = await Outbox(engine).start()
    event_id = await outbox.event("raced", 200 * DAY, ("FAILED",))
    admin = Viewer(user_id=1, role=Role.ADMIN)

    async def redeliver() -> int:
        async with UnitOfWork(engine) as uow:
            return await webhooks.redeliver_event(uow, admin, outbox.endpoint_id, "evt_raced")

    async with engine.connect() as pruner:
        await pruner.execute(select(events.c.id).where(events.c.id == event_id).with_for_update())
        racing = asyncio.create_task(redeliver())
        await asyncio.sleep(0.5)
        assert not racing.done()  # waits for the pruner's lock
        await pruner.execute(delete(events).where(events.c.id == event_id))
        await pruner.commit()
    with pytest.raises(NotFound):
        await racing
    assert await outbox.orphans() == (0, 0)
