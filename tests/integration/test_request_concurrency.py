"""Two users acting on the same request at the same moment, in two real concurrent PostgreSQL
transactions (SPEC §6: "Two deciders at once: exactly one wins, the other gets a clear error").

A barrier holds every transaction after it has read (and checked) the request and before it
writes, so the reads truly overlap the writes instead of running one after the other."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.errors import DomainError
from portal.domain.requests import Decision, RequestStatus
from portal.services import request_batch
from portal.services import requests as request_service
from portal.services.requests import create_request, decide_request, withdraw_request
from tests import request_factories as rf
from tests.factories import build_world

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("engine", ["postgres"], indirect=True)]
ROUNDS = 20


def _hold_before(monkeypatch: pytest.MonkeyPatch, name: str, parties: int) -> None:
    """Every caller of portal.services.requests.<name> waits until all `parties` got there."""
    real = getattr(request_service, name)
    barrier = asyncio.Barrier(parties)

    async def held(*args: Any, **kwargs: Any) -> Any:
        await asyncio.wait_for(barrier.wait(), 10)
        return await real(*args, **kwargs)

    monkeypatch.setattr(request_service, name, held)


def _hold_after(
    monkeypatch: pytest.MonkeyPatch, name: str, parties: int, module: Any = request_service
) -> None:
    """Every caller of <module>.<name> runs it, then waits for the others."""
    real = getattr(module, name)
    barrier = asyncio.Barrier(parties)

    async def held(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        await asyncio.wait_for(barrier.wait(), 10)
        return result

    monkeypatch.setattr(module, name, held)


async def _attempt(engine: AsyncEngine, action: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """`action(uow, *args)` committed in its own transaction, or its DomainError's code."""
    async with UnitOfWork(engine) as uow:
        try:
            result = await action(uow, *args)
        except DomainError as error:
            return error.code
        await uow.commit()
        return result


async def _decide(uow: UnitOfWork, who: Viewer, request_id: int, decision: Decision) -> Any:
    return (await decide_request(uow, who, request_id, decision, None, "not ours")).status


async def _withdraw(uow: UnitOfWork, who: Viewer, request_id: int) -> Any:
    return (await withdraw_request(uow, who, request_id)).status


async def test_of_two_deciders_exactly_one_wins(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(engine)
    adv1, admin = await rf.viewer(engine, "adv1"), await rf.viewer(engine, "admin")
    for round_ in range(ROUNDS):
        raised = await rf.raise_new_order(engine, world)
        # Both have loaded the request and seen it INQUIRED before either moves it.
        _hold_before(monkeypatch, "move_request", 2)
        accepting, rejecting = (adv1, admin) if round_ % 2 else (admin, adv1)

        results = await asyncio.gather(
            _attempt(engine, _decide, accepting, raised.id, Decision.ACCEPT),
            _attempt(engine, _decide, rejecting, raised.id, Decision.REJECT),
        )
        monkeypatch.undo()

        assert results.count("ALREADY_DECIDED") == 1, results
        [won] = [r for r in results if r != "ALREADY_DECIDED"]
        assert won in (RequestStatus.ACCEPTED, RequestStatus.REJECTED), results
        stored = await rf.request(engine, raised.id)
        assert stored.status is won
        winner = accepting if won is RequestStatus.ACCEPTED else rejecting
        assert stored.decided_by == winner.user_id


async def test_a_decision_and_a_withdrawal_at_once_exactly_one_wins(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(engine)
    adv1, author = await rf.viewer(engine, "adv1"), await rf.viewer(engine, "A")
    for _ in range(ROUNDS // 2):
        raised = await rf.raise_new_order(engine, world)
        _hold_before(monkeypatch, "move_request", 2)

        results = await asyncio.gather(
            _attempt(engine, _decide, adv1, raised.id, Decision.ACCEPT),
            _attempt(engine, _withdraw, author, raised.id),
        )
        monkeypatch.undo()

        assert results.count("ALREADY_DECIDED") == 1, results
        [won] = [r for r in results if r != "ALREADY_DECIDED"]
        assert won in (RequestStatus.ACCEPTED, RequestStatus.WITHDRAWN), results
        assert (await rf.request(engine, raised.id)).status is won


async def test_two_users_raising_a_request_for_the_same_conversion_at_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(engine)
    conversion_id = world.conversions["A"][0]
    partner_a, second_a = await rf.viewer(engine, "A"), await rf.another_user(engine, world, "A")
    adv1 = await rf.viewer(engine, "adv1")
    users = {v.user_id: v for v in (partner_a, second_a, adv1)}
    draft = rf.change_draft(conversion_id)
    for round_ in range(ROUNDS // 2):
        # Both have checked that no open request exists before either inserts one.
        _hold_after(monkeypatch, "_refuse_open_duplicates", 2, request_batch)
        first, second = (partner_a, second_a) if round_ % 2 else (partner_a, adv1)

        results = await asyncio.gather(
            _attempt(engine, create_request, first, draft),
            _attempt(engine, create_request, second, draft),
        )
        monkeypatch.undo()

        assert results.count("OPEN_REQUEST_EXISTS") == 1, results
        [won] = [r for r in results if r != "OPEN_REQUEST_EXISTS"]
        open_requests = await rf.count(
            engine,
            conversion_requests,
            conversion_requests.c.conversion_id == conversion_id,
            conversion_requests.c.status == RequestStatus.INQUIRED.value,
        )
        assert open_requests == 1
        # The winner withdraws, so the next round races for the conversion again.
        assert await _attempt(engine, _withdraw, users[won.created_by], won.id) is (
            RequestStatus.WITHDRAWN
        )


async def test_two_users_raising_the_same_missed_order_at_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(engine)
    partner_a, adv1 = await rf.viewer(engine, "A"), await rf.viewer(engine, "adv1")
    for round_ in range(ROUNDS // 2):
        _hold_after(monkeypatch, "_refuse_open_duplicates", 2, request_batch)
        order = f"RACE-{round_}"
        by_partner = rf.new_order_draft(world, order)
        by_advertiser = replace(by_partner, partner_id=world.ids["A"])

        results = await asyncio.gather(
            _attempt(engine, create_request, partner_a, by_partner),
            _attempt(engine, create_request, adv1, by_advertiser),
        )
        monkeypatch.undo()

        assert results.count("OPEN_REQUEST_EXISTS") == 1, results
        raised = await rf.count(
            engine, conversion_requests, conversion_requests.c.order_id == order
        )
        assert raised == 1


async def test_two_deciders_accepting_competing_claims_at_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Partners A and D both claim the same order (B's tracked conversion in even rounds, a
    missed order in odd ones); two deciders accept one claim each at the same moment.
    Accepting settles the order: exactly one claim is ACCEPTED, the other is REJECTED by the
    system, and the losing decider is told the request was decided meanwhile — no deadlock."""
    world = await build_world(engine, conversions_per_partner=ROUNDS)
    adv1, admin = await rf.viewer(engine, "adv1"), await rf.viewer(engine, "admin")
    partner_a, partner_d = await rf.viewer(engine, "A"), await rf.partner_of_p1(engine, world)
    for round_ in range(ROUNDS):
        order = f"B-{round_}" if round_ % 2 == 0 else f"MISSED-RACE-{round_}"
        by_a = await rf.raise_request(engine, partner_a, rf.new_order_draft(world, order))
        by_b = await rf.raise_request(engine, partner_d, rf.new_order_draft(world, order))
        # Both deciders have loaded and checked their request before either settles the order.
        _hold_before(monkeypatch, "settle_competitors", 2)

        results = await asyncio.gather(
            _attempt(engine, _decide, adv1, by_a.id, Decision.ACCEPT),
            _attempt(engine, _decide, admin, by_b.id, Decision.ACCEPT),
        )
        monkeypatch.undo()

        assert sorted(map(str, results)) == sorted(
            ["ALREADY_DECIDED", str(RequestStatus.ACCEPTED)]
        ), results
        statuses = {(await rf.request(engine, r.id)).status for r in (by_a, by_b)}
        assert statuses == {RequestStatus.ACCEPTED, RequestStatus.REJECTED}
