"""The outbox: `record_event` writes a domain event in the caller's transaction, so an event
exists exactly when its change committed; after the commit the dispatcher is queued, which
turns events into webhook deliveries (portal.services.webhooks)."""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import events, webhook_endpoints
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.events import EVENT_TYPES, PAYLOAD_VERSION, new_event_key

DISPATCH_JOB = "dispatch_webhook_events"

# The queue of each engine's deployment, for units of work opened without one (jobs open
# theirs with the engine only); set where the queue starts.
_QUEUES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


_RELAYS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def register_dispatch_queue(engine: AsyncEngine, queue: Any) -> None:
    _QUEUES[engine.sync_engine] = queue


def register_live_relay(engine: AsyncEngine, relay: Any) -> None:
    """Live events of this engine's transactions go through `relay` (Redis pub/sub); None:
    to this process's hub again."""
    if relay is None:
        _RELAYS.pop(engine.sync_engine, None)
    else:
        _RELAYS[engine.sync_engine] = relay


def jsonable(data: Mapping[str, Any]) -> dict[str, Any]:
    """Decimals and instants as strings, as the API writes them."""
    return dict(json.loads(json.dumps(dict(data), default=_text)))


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: str
    object_id: int
    data: Mapping[str, Any]
    program_id: int | None = None
    partner_id: int | None = None
    advertiser_id: int | None = None


async def record_event(uow: UnitOfWork, event: NewEvent) -> None:
    await record_events(uow, [event])


async def record_events(uow: UnitOfWork, new: Sequence[NewEvent]) -> None:
    """Inserts the events (one statement) and queues the dispatcher once the transaction
    commits; a rollback drops both."""
    if not new:
        return
    _publish_after_commit(uow, new)
    await uow.execute(
        insert(events),
        [
            {
                "event_key": new_event_key(),
                "type": e.type,
                "version": PAYLOAD_VERSION,
                "occurred_at": uow.now,
                "object_kind": EVENT_TYPES[e.type],
                "object_id": e.object_id,
                "program_id": e.program_id,
                "partner_id": e.partner_id,
                "advertiser_id": e.advertiser_id,
                "payload": jsonable(e.data),
                "dispatched_at": None,
            }
            for e in new
        ],
    )
    await _dispatch_after_commit(uow)


def _publish_after_commit(uow: UnitOfWork, new: Sequence[NewEvent]) -> None:
    from portal.adapters.live_events import HUB, LiveEvent

    live = [LiveEvent(e.type, EVENT_TYPES[e.type], e.object_id) for e in new]
    relay = _RELAYS.get(uow.engine.sync_engine)

    async def publish() -> None:
        if relay is not None:
            try:
                await relay.publish(live)
            except Exception:  # the change committed; a lost live update is only late news
                logging.getLogger("portal.live").warning("live events not published", exc_info=True)
            return
        HUB.publish(live)

    uow.after_commit(publish)


async def _dispatch_after_commit(uow: UnitOfWork) -> None:
    """Queues the dispatcher once per transaction, and only while some endpoint is enabled
    (else the periodic sweep marks the events dispatched: no job per commit for nobody)."""
    queue = uow.queue or _QUEUES.get(uow.engine.sync_engine)
    if queue is None or uow.dispatch_queued:
        return
    uow.dispatch_queued = True
    listening = await uow.first(
        select(webhook_endpoints.c.id).where(webhook_endpoints.c.enabled.is_(True)).limit(1)
    )
    if listening is None:
        return

    async def enqueue() -> None:
        await queue.enqueue(DISPATCH_JOB)

    uow.after_commit(enqueue)
