"""Processing accepted conversion requests (SPEC §6): applied exactly once, in one transaction —
whether the job runs twice, concurrently, or the worker dies half-way; failures are kept on the
request and can be retried."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import rows
from portal.adapters.tables import (
    conversion_requests,
    conversion_revisions,
    conversion_targets,
    conversions,
    programs,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.config import Settings
from portal.demo_data import insert_conversion as track_order
from portal.domain.conversions import RevisionSource
from portal.domain.errors import DomainError, PermissionDenied
from portal.domain.requests import Decision, RequestKind, RequestStatus
from portal.jobs.context import JobContext
from portal.jobs.queue import InProcessQueue
from portal.services import request_processing
from portal.services.request_processing import process_request, requeue_stale_accepted
from portal.services.requests import PROCESS_JOB, decide_request, decide_requests, retry_request
from tests import request_factories as rf
from tests.factories import World, build_world


async def _conversion(engine: AsyncEngine, conversion_id: int) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(select(conversions).where(conversions.c.id == conversion_id))
        ).one()


async def _revisions(engine: AsyncEngine, conversion_id: int) -> list[Any]:
    async with engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    select(conversion_revisions)
                    .where(conversion_revisions.c.conversion_id == conversion_id)
                    .order_by(conversion_revisions.c.number)
                )
            ).all()
        )


async def _accepted(engine: AsyncEngine, world: World, kind: RequestKind) -> int:
    """An ACCEPTED request of the kind (CREATE_NEW: order 200.00; CHANGE_EXISTING: A's first
    conversion → SALE_EXISTING_CUSTOMER, 300.00)."""
    if kind is RequestKind.CREATE_NEW:
        raised = await rf.raise_new_order(engine, world)
    else:
        raised = await rf.raise_change(engine, world)
    accepted = await rf.accept(engine, raised.id)
    assert accepted.status is RequestStatus.ACCEPTED
    return raised.id


async def _applied(
    engine: AsyncEngine, world: World, kind: RequestKind, request_id: int
) -> tuple[int, int]:
    """(conversions the request created or changed, revisions it wrote)."""
    revisions = await rf.revisions_of_request(engine, request_id)
    if kind is RequestKind.CREATE_NEW:
        request = await rf.request(engine, request_id)
        assert request.requested.order_id is not None
        return await rf.conversions_of_order(engine, request.requested.order_id), revisions
    changed = await rf.count(
        engine,
        conversions,
        conversions.c.id == world.conversions["A"][0],
        conversions.c.order_value == Decimal("300.00"),
    )
    return changed, revisions


# -- the main path ---------------------------------------------------------------------------------


async def test_an_accepted_new_order_becomes_a_conversion_with_the_requested_rating(
    engine: AsyncEngine,
) -> None:
    world = await build_world(engine)
    adv1 = await rf.viewer(engine, "adv1")
    raised = await rf.raise_new_order(engine, world, order_id="MISSED-1")
    assert raised.status is RequestStatus.INQUIRED
    assert (raised.commission, raised.commission_model_name) == (Decimal("10.00"), "default")
    await rf.accept(engine, raised.id, adv1)

    assert await process_request(engine, raised.id) == "processed"

    done = await rf.request(engine, raised.id)
    assert done.status is RequestStatus.PROCESSED
    assert done.processed_at is not None and done.attempts == 1 and done.failure is None
    assert done.conversion_id is not None
    conversion = await _conversion(engine, done.conversion_id)
    assert (conversion.order_id, conversion.partner_id, conversion.program_id) == (
        "MISSED-1",
        world.ids["A"],
        world.ids["p1"],
    )
    assert (conversion.target, conversion.order_value, conversion.currency) == (
        "SALE_NEW_CUSTOMER",
        Decimal("200.00"),
        "EUR",
    )
    assert (conversion.commission, conversion.commission_model_name) == (
        Decimal("10.00"),
        "default",
    )
    [revision] = await _revisions(engine, done.conversion_id)
    assert (revision.number, revision.source, revision.request_id, revision.actor_user_id) == (
        1,
        RevisionSource.REQUEST.value,
        raised.id,
        adv1.user_id,
    )


async def test_an_accepted_change_applies_the_revised_commission(engine: AsyncEngine) -> None:
    world = await build_world(engine)
    conversion_id = world.conversions["A"][0]
    before = await _conversion(engine, conversion_id)
    assert (before.target, before.order_value, before.commission) == (
        "SALE_NEW_CUSTOMER",
        Decimal("100.00"),
        Decimal("5.00"),
    )
    raised = await rf.raise_change(engine, world)
    assert raised.commission == Decimal("15.00")
    await rf.accept(engine, raised.id)

    assert await process_request(engine, raised.id) == "processed"

    done = await rf.request(engine, raised.id)
    assert done.status is RequestStatus.PROCESSED and done.conversion_id == conversion_id
    after = await _conversion(engine, conversion_id)
    assert (after.target, after.order_value, after.commission, after.commission_model_name) == (
        "SALE_EXISTING_CUSTOMER",
        Decimal("300.00"),
        Decimal("15.00"),
        "default",
    )
    assert (after.order_id, after.created_at) == (before.order_id, before.created_at)
    tracked, revised = await _revisions(engine, conversion_id)
    assert tracked.source == RevisionSource.TRACKING.value
    assert (revised.number, revised.source, revised.request_id) == (
        2,
        RevisionSource.REQUEST.value,
        raised.id,
    )
    changed = {c["field"]: (c["from"], c["to"]) for c in revised.changes}
    assert changed["conversionTarget"] == ("SALE_NEW_CUSTOMER", "SALE_EXISTING_CUSTOMER")
    assert changed["commission"][1].startswith("15.00"), changed


# -- exactly once ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(RequestKind))
async def test_processing_twice_applies_once(engine: AsyncEngine, kind: RequestKind) -> None:
    world = await build_world(engine)
    request_id = await _accepted(engine, world, kind)

    assert await process_request(engine, request_id) == "processed"
    assert await process_request(engine, request_id) == "skipped: PROCESSED"

    assert await _applied(engine, world, kind, request_id) == (1, 1)
    assert (await rf.request(engine, request_id)).attempts == 1


@pytest.mark.parametrize("kind", list(RequestKind))
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
@pytest.mark.postgres
async def test_concurrent_runs_apply_once(
    engine: AsyncEngine, kind: RequestKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(engine)
    runs = 4
    for _ in range(3):
        request_id = await _accepted(engine, world, kind)
        # Every run has opened its transaction and asks for the request at the same moment.
        monkeypatch.setattr(
            request_processing, "load_request", _together(request_processing.load_request, runs)
        )
        results = await asyncio.gather(*(process_request(engine, request_id) for _ in range(runs)))
        monkeypatch.undo()

        assert sorted(results) == ["processed"] + ["skipped: PROCESSED"] * (runs - 1)
        assert await _applied(engine, world, kind, request_id) == (1, 1)
        if kind is RequestKind.CHANGE_EXISTING:
            break  # the conversion has been changed; one round is what a change can show


def _together(load: Any, parties: int) -> Any:
    """load_request, but every run waits until all have opened their transaction."""
    barrier = asyncio.Barrier(parties)

    async def together(uow: UnitOfWork, request_id: int, **kwargs: Any) -> Any:
        await asyncio.wait_for(barrier.wait(), 10)
        return await load(uow, request_id, **kwargs)

    return together


class WorkerKilled(BaseException):
    """Like SystemExit or KeyboardInterrupt: not an Exception, nothing may catch it."""


@pytest.mark.parametrize("kind", list(RequestKind))
@pytest.mark.parametrize("death", [asyncio.CancelledError, WorkerKilled])
async def test_a_worker_dying_half_way_leaves_nothing_and_the_next_run_applies_once(
    engine: AsyncEngine,
    kind: RequestKind,
    death: type[BaseException],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await build_world(engine)
    request_id = await _accepted(engine, world, kind)
    written_before_death: list[int] = []

    async def die(uow: UnitOfWork, *args: Any, **kwargs: Any) -> bool:
        # The conversion change and its revision are written, the request is not moved yet.
        written_before_death.append(
            len(
                (
                    await uow.conn.execute(
                        select(conversion_revisions.c.id).where(
                            conversion_revisions.c.request_id == request_id
                        )
                    )
                ).all()
            )
        )
        raise death()

    monkeypatch.setattr(request_processing, "move_request", die)
    with pytest.raises(death):
        await process_request(engine, request_id)
    monkeypatch.undo()

    assert written_before_death == [1], "the job must die after writing the conversion"
    left = await rf.request(engine, request_id)
    assert left.status is RequestStatus.ACCEPTED
    assert (left.attempts, left.failure, left.processed_at) == (0, None, None)
    assert await _applied(engine, world, kind, request_id) == (0, 0)
    if kind is RequestKind.CHANGE_EXISTING:
        assert len(await _revisions(engine, world.conversions["A"][0])) == 1

    assert await process_request(engine, request_id) == "processed"
    assert await process_request(engine, request_id) == "skipped: PROCESSED"
    assert await _applied(engine, world, kind, request_id) == (1, 1)
    assert (await rf.request(engine, request_id)).status is RequestStatus.PROCESSED


# -- failures and retry ----------------------------------------------------------------------------


async def _set_target_active(engine: AsyncEngine, world: World, key: str, active: bool) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(conversion_targets)
            .where(
                conversion_targets.c.program_id == world.ids["p1"], conversion_targets.c.key == key
            )
            .values(active=active)
        )


async def test_a_failure_is_kept_and_a_retry_after_the_fix_processes(engine: AsyncEngine) -> None:
    world = await build_world(engine)
    request_id = await _accepted(engine, world, RequestKind.CREATE_NEW)
    await _set_target_active(engine, world, "SALE_NEW_CUSTOMER", False)  # the cause

    assert await process_request(engine, request_id) == "failed"

    failed = await rf.request(engine, request_id)
    assert failed.status is RequestStatus.FAILED and failed.attempts == 1
    assert failed.failure is not None and "INACTIVE_TARGET" in failed.failure, failed.failure
    assert await _applied(engine, world, RequestKind.CREATE_NEW, request_id) == (0, 0)
    assert await process_request(engine, request_id) == "skipped: FAILED"

    partner, adv1 = await rf.viewer(engine, "A"), await rf.viewer(engine, "adv1")
    async with UnitOfWork(engine) as uow:
        with pytest.raises(PermissionDenied):
            await retry_request(uow, partner, request_id)

    await _set_target_active(engine, world, "SALE_NEW_CUSTOMER", True)  # the fix
    async with UnitOfWork(engine) as uow:
        retried = await retry_request(uow, adv1, request_id)
        await uow.commit()
    assert retried.status is RequestStatus.ACCEPTED and retried.failure is None
    async with UnitOfWork(engine) as uow:
        with pytest.raises(DomainError) as again:
            await retry_request(uow, adv1, request_id)
    assert again.value.code == "INVALID_STATE"

    assert await process_request(engine, request_id) == "processed"
    done = await rf.request(engine, request_id)
    assert (done.status, done.failure, done.attempts) == (RequestStatus.PROCESSED, None, 2)
    assert await _applied(engine, world, RequestKind.CREATE_NEW, request_id) == (1, 1)


async def test_an_order_tracked_meanwhile_fails_with_a_clear_reason(engine: AsyncEngine) -> None:
    world = await build_world(engine)
    raised = await rf.raise_new_order(engine, world, order_id="LATE-1")
    await rf.accept(engine, raised.id)
    async with UnitOfWork(engine) as uow:  # the tracking records the order after all
        program = rows.program(
            (await uow.conn.execute(select(programs).where(programs.c.id == world.ids["p1"]))).one()
        )
        tracked = await track_order(
            uow, program, world.ids["A"], "LATE-1", rf.TRACKED_AT, Decimal("200.00")
        )
        await uow.commit()

    assert await process_request(engine, raised.id) == "failed"

    failed = await rf.request(engine, raised.id)
    assert failed.status is RequestStatus.FAILED
    assert failed.failure is not None and failed.failure.startswith("ORDER_ALREADY_CONVERTED"), (
        failed.failure
    )
    assert await rf.conversions_of_order(engine, "LATE-1") == 1
    assert [r.source for r in await _revisions(engine, tracked)] == [RevisionSource.TRACKING.value]
    assert await rf.revisions_of_request(engine, raised.id) == 0


# -- re-queueing and the in-process queue ----------------------------------------------------------


class RecordingQueue:
    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple[Any, ...], str | None]] = []

    async def enqueue(self, function: str, *args: Any, job_id: str | None = None) -> None:
        self.jobs.append((function, args, job_id))


async def test_stale_accepted_requests_are_queued_again(
    engine: AsyncEngine, settings: Settings
) -> None:
    world = await build_world(engine)
    stale = await _accepted(engine, world, RequestKind.CREATE_NEW)
    inquired = await rf.raise_new_order(engine, world)
    processed = await _accepted(engine, world, RequestKind.CHANGE_EXISTING)
    assert await process_request(engine, processed) == "processed"

    recorder = RecordingQueue()
    assert await requeue_stale_accepted(engine, recorder, stale_after_seconds=3600) == 0
    assert recorder.jobs == [], "recently accepted requests are not stale"
    assert await requeue_stale_accepted(engine, recorder, stale_after_seconds=0) == 1
    assert recorder.jobs == [(PROCESS_JOB, (stale,), f"request:{stale}:0:sweep")]

    queue = InProcessQueue()
    queue.bind(JobContext(engine=engine, settings=settings, queue=queue))
    assert await requeue_stale_accepted(engine, queue, stale_after_seconds=0) == 1
    await queue.drain()
    assert (await rf.request(engine, stale)).status is RequestStatus.PROCESSED
    assert (await rf.request(engine, inquired.id)).status is RequestStatus.INQUIRED
    assert await requeue_stale_accepted(engine, recorder, stale_after_seconds=0) == 0


def _in_process_queue(engine: AsyncEngine, settings: Settings) -> InProcessQueue:
    queue = InProcessQueue()
    queue.bind(JobContext(engine=engine, settings=settings, queue=queue))
    return queue


async def test_accepting_through_the_in_process_queue_processes_after_the_commit(
    engine: AsyncEngine, settings: Settings
) -> None:
    world = await build_world(engine)
    adv1 = await rf.viewer(engine, "adv1")
    raised = await rf.raise_new_order(engine, world)
    queue = _in_process_queue(engine, settings)

    # No commit, no job.
    async with UnitOfWork(engine, queue=queue) as uow:
        await decide_request(uow, adv1, raised.id, Decision.ACCEPT, None, None)
    await queue.drain()
    assert (await rf.request(engine, raised.id)).status is RequestStatus.INQUIRED

    async with UnitOfWork(engine, queue=queue) as uow:
        decided = await decide_request(uow, adv1, raised.id, Decision.ACCEPT, None, None)
        await uow.commit()
    assert decided.status is RequestStatus.ACCEPTED
    await queue.drain()

    done = await rf.request(engine, raised.id)
    assert done.status is RequestStatus.PROCESSED
    assert await _applied(engine, world, RequestKind.CREATE_NEW, raised.id) == (1, 1)


async def test_a_bulk_decision_queues_only_the_accepted(
    engine: AsyncEngine, settings: Settings
) -> None:
    world = await build_world(engine)
    adv1 = await rf.viewer(engine, "adv1")
    first, second, third = [await rf.raise_new_order(engine, world) for _ in range(3)]
    await rf.accept(engine, third.id)  # decided before: its entry fails, the others go on
    assert await process_request(engine, third.id) == "processed"
    queue = _in_process_queue(engine, settings)

    async with UnitOfWork(engine, queue=queue) as uow:
        outcomes = await decide_requests(
            uow,
            adv1,
            [
                (first.id, Decision.ACCEPT, None, None, None),
                (second.id, Decision.REJECT, None, "not our customer", None),
                (third.id, Decision.ACCEPT, None, None, None),
            ],
        )
        await uow.commit()
    assert [o.errors[0].code if o.errors else None for o in outcomes] == [
        None,
        None,
        "INVALID_STATE",
    ]
    await queue.drain()

    assert (await rf.request(engine, first.id)).status is RequestStatus.PROCESSED
    assert (await rf.request(engine, second.id)).status is RequestStatus.REJECTED
    assert (
        await rf.count(engine, conversion_requests, conversion_requests.c.status == "PROCESSED")
        == 2
    )
    assert await _applied(engine, world, RequestKind.CREATE_NEW, second.id) == (0, 0)
