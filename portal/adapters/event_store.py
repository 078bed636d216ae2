"""The outbox: `record_event` writes a domain event in the caller's transaction, so an event
exists exactly when its change committed; after the commit the dispatcher is queued, which
turns events into webhook deliveries (portal.services.webhooks). `delete_settled_events` prunes
it (portal.services.webhooks.prune_events)."""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.bulk_insert import insert_mappings
from portal.adapters.tables import events, webhook_deliveries, webhook_endpoints
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


_AS_TEXT = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
)
"""Instants and dataclasses go to `_text` as with the standard library (orjson's own forms
differ: `Z` for UTC, objects for dataclasses)."""


def payload_json(data: Mapping[str, Any]) -> orjson.Fragment:
    """The payload's JSON text, Decimals and instants as strings, as the API writes them; a
    Fragment, which the JSON column's serializer (`database.json_text`) writes as it is."""
    try:
        return orjson.Fragment(orjson.dumps(dict(data), default=_text, option=_AS_TEXT))
    except TypeError:  # an integer beyond 64 bits: the standard library writes it
        return orjson.Fragment(json.dumps(dict(data), default=_text))


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


_COPIED = 50
"""From this many events on, they are inserted with `insert_mappings` (a binary COPY on
PostgreSQL, which costs a savepoint); fewer go in with one INSERT."""


async def record_events(uow: UnitOfWork, new: Sequence[NewEvent]) -> None:
    """Inserts the events (one INSERT; from `_COPIED` events on, a binary COPY on PostgreSQL)
    and queues the dispatcher once the transaction commits; a rollback drops both."""
    if not new:
        return
    _publish_after_commit(uow, new)
    rows = [
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
            "payload": payload_json(e.data),
            "dispatched_at": None,
        }
        for e in new
    ]
    if len(rows) >= _COPIED:
        await insert_mappings(uow.conn, events, rows, ids=False)
    else:
        await uow.execute(insert(events), rows)
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


async def delete_settled_events(
    uow: UnitOfWork, older_than: datetime, final_statuses: Collection[str], limit: int
) -> int:
    """Deletes up to `limit` events that occurred and were dispatched before `older_than` and
    whose deliveries (if any) all have a status of `final_statuses`; their deliveries and
    attempts go with them (ON DELETE CASCADE: SQLite's foreign keys are on, see
    portal.adapters.database). Answers how many events it deleted.

    `dispatched_at` bounds the scan through its index (an event is dispatched after it
    occurred, so the two tests agree but for events dispatched late, which stay a little
    longer); the deliveries are found through their `event_id` index."""
    e = events.c
    d = webhook_deliveries.c
    unsettled = (
        select(d.id).where(d.event_id == e.id, d.status.not_in(list(final_statuses))).exists()
    )
    chosen = (
        select(e.id)
        .where(
            e.dispatched_at.is_not(None),
            e.dispatched_at < older_than,
            e.occurred_at < older_than,
            ~unsettled,
        )
        .limit(limit)
    )
    if uow.conn.dialect.name == "postgresql":
        # A concurrent pruner skips the rows this one deletes instead of waiting for them; a
        # delivery being added to one of them (a redelivery) makes it skip that event.
        chosen = chosen.with_for_update(skip_locked=True)
    # The ids first, then the delete by them: PostgreSQL plans `id IN (SELECT … LIMIT n)` as a
    # scan of the whole table per batch; by a list of ids it reads the primary key.
    ids = list((await uow.execute(chosen)).scalars())
    if not ids:
        return 0
    await uow.execute(delete(events).where(events.c.id.in_(ids)))
    return len(ids)
