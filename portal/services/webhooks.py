"""Webhooks (issue 15): endpoints, the dispatcher that turns outbox events into deliveries for
the endpoints whose owners may see them, and the delivery of one attempt with its retries.

Guarantees: at-least-once (a delivery is marked delivered only after a 2xx; a worker that dies
mid-attempt leaves a lease that expires and the attempt runs again), a stable event id (the
`webhook-id` header) to deduplicate on, and no ordering promise."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.event_store import delete_settled_events
from portal.adapters.tables import events, webhook_attempts, webhook_deliveries, webhook_endpoints
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import event_object_visible, visible
from portal.adapters.webhook_http import Sent, check_url, post_webhook, timeout_seconds
from portal.domain.access import Role, Viewer
from portal.domain.errors import DomainError, NotFound
from portal.domain.events import (
    TEST_EVENT_TYPE,
    check_event_types,
    envelope,
    new_event_key,
    new_secret,
    next_attempt,
    outcome_of,
    retention_problem,
    visible_payload,
)

DELIVER_JOB = "deliver_webhooks"
DELIVERY_BATCH = 50
"""Deliveries per job: sent at once, claimed and recorded in one transaction each."""
MAX_ENDPOINTS = 20
DISPATCH_BATCH = 500


PRUNE_BATCH = 5000
"""Events deleted per statement (and transaction) by `prune_events`: no long lock."""


class DeliveryStatus:
    PENDING = "PENDING"  # due, or waiting for its retry (or for its endpoint to be enabled)
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"  # given up, or the receiver answered 410 Gone
    FINAL = (DELIVERED, FAILED)


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: int
    owner_role: Role
    partner_id: int | None
    advertiser_id: int | None
    created_by: int
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    secret: str

    def owner(self) -> Viewer:
        """Whom the endpoint receives for: its owner's visibility decides every event."""
        return Viewer(self.created_by, self.owner_role, self.advertiser_id, self.partner_id)


def endpoint_of(row: Row[Any]) -> Endpoint:
    m = row._mapping
    return Endpoint(
        id=m["id"],
        owner_role=Role(m["owner_role"]),
        partner_id=m["partner_id"],
        advertiser_id=m["advertiser_id"],
        created_by=m["created_by"],
        url=m["url"],
        event_types=list(m["event_types"]),
        description=m["description"],
        enabled=m["enabled"],
        disabled_reason=m["disabled_reason"],
        disabled_at=m["disabled_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        secret=m["secret"],
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    response: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    endpoint_id: int
    event_key: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    body: str
    attempt_log: list[Attempt]


# -- endpoints --------------------------------------------------------------------------------


def _check_description(description: str | None) -> str:
    text = (description or "").strip()
    if len(text) > 500:
        raise DomainError("TOO_LONG", "at most 500 characters", ("description",))
    return text


async def visible_endpoint(uow: UnitOfWork, viewer: Viewer, endpoint_id: int) -> Endpoint:
    row = await uow.first(
        select(webhook_endpoints).where(
            webhook_endpoints.c.id == endpoint_id, visible(webhook_endpoints, viewer)
        )
    )
    if row is None:
        raise NotFound("webhook endpoint", ("endpointId",))
    return endpoint_of(row)


async def create_endpoint(
    uow: UnitOfWork,
    viewer: Viewer,
    url: str,
    event_types: Sequence[str],
    description: str | None,
) -> tuple[Endpoint, str]:
    """A new endpoint of the viewer's organisation (an admin's: of the admins); answers it
    with its secret, which is shown only here."""
    url = url.strip()
    await check_url(url)
    types = check_event_types(event_types, ("eventTypes",))
    text = _check_description(description)
    count = await uow.conn.scalar(
        select(func.count())
        .select_from(webhook_endpoints)
        .where(visible(webhook_endpoints, viewer))
        .where(
            webhook_endpoints.c.partner_id.is_(None)
            if viewer.role is Role.ADMIN
            else webhook_endpoints.c.id.is_not(None)
        )
    )
    if (count or 0) >= MAX_ENDPOINTS:
        raise DomainError("TOO_MANY_ENDPOINTS", f"at most {MAX_ENDPOINTS} endpoints", ())
    secret = new_secret()
    endpoint_id = await uow.insert(
        insert(webhook_endpoints).values(
            owner_role=viewer.role.value,
            partner_id=viewer.partner_id if viewer.role is Role.PARTNER else None,
            advertiser_id=viewer.advertiser_id if viewer.role is Role.ADVERTISER else None,
            created_by=viewer.user_id,
            url=url,
            event_types=types,
            description=text,
            secret=secret,
            enabled=True,
            created_at=uow.now,
            updated_at=uow.now,
        )
    )
    return await visible_endpoint(uow, viewer, endpoint_id), secret


async def update_endpoint(
    uow: UnitOfWork,
    viewer: Viewer,
    endpoint_id: int,
    *,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> Endpoint:
    """Changes what is given. Enabling a disabled endpoint clears its reason and makes its
    pending deliveries due at once."""
    endpoint = await visible_endpoint(uow, viewer, endpoint_id)
    values: dict[str, Any] = {"updated_at": uow.now}
    if url is not None:
        await check_url(url.strip())
        values["url"] = url.strip()
    if event_types is not None:
        values["event_types"] = check_event_types(event_types, ("eventTypes",))
    if description is not None:
        values["description"] = _check_description(description)
    if enabled is not None and enabled != endpoint.enabled:
        values["enabled"] = enabled
        if enabled:
            values.update(disabled_reason=None, disabled_at=None)
            await uow.execute(
                update(webhook_deliveries)
                .where(
                    webhook_deliveries.c.endpoint_id == endpoint_id,
                    webhook_deliveries.c.status == DeliveryStatus.PENDING,
                )
                .values(next_attempt_at=uow.now)
            )
        else:
            values.update(disabled_reason="disabled by its owner", disabled_at=uow.now)
    await uow.execute(
        update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id).values(**values)
    )
    return await visible_endpoint(uow, viewer, endpoint_id)


async def delete_endpoint(uow: UnitOfWork, viewer: Viewer, endpoint_id: int) -> None:
    await visible_endpoint(uow, viewer, endpoint_id)
    await uow.execute(
        delete(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id)
    )
    await uow.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))


async def rotate_secret(uow: UnitOfWork, viewer: Viewer, endpoint_id: int) -> tuple[Endpoint, str]:
    """A new secret at once (the old one stops signing); shown only here."""
    await visible_endpoint(uow, viewer, endpoint_id)
    secret = new_secret()
    await uow.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id)
        .values(secret=secret, updated_at=uow.now)
    )
    return await visible_endpoint(uow, viewer, endpoint_id), secret


async def list_endpoints(uow: UnitOfWork, viewer: Viewer) -> list[Endpoint]:
    found = await uow.execute(
        select(webhook_endpoints)
        .where(visible(webhook_endpoints, viewer))
        .order_by(webhook_endpoints.c.id.desc())
    )
    return [endpoint_of(row) for row in found]


async def list_deliveries(
    uow: UnitOfWork, viewer: Viewer, endpoint_id: int, first: int = 50
) -> list[Delivery]:
    """The endpoint's deliveries, newest first, each with its attempts."""
    await visible_endpoint(uow, viewer, endpoint_id)
    if not 1 <= first <= 100:
        raise DomainError("INVALID_PAGE", "first must be 1-100", ("first",))
    d = webhook_deliveries.c
    found = list(
        await uow.execute(
            select(webhook_deliveries, events.c.event_key, events.c.type)
            .join(events, events.c.id == d.event_id)
            .where(d.endpoint_id == endpoint_id)
            .order_by(d.id.desc())
            .limit(first)
        )
    )
    attempts: dict[int, list[Attempt]] = {}
    if found:
        a = webhook_attempts.c
        for row in await uow.execute(
            select(webhook_attempts).where(a.delivery_id.in_([r.id for r in found])).order_by(a.id)
        ):
            attempts.setdefault(row.delivery_id, []).append(
                Attempt(row.attempted_at, row.status_code, row.duration_ms, row.error, row.response)
            )
    return [
        Delivery(
            id=r.id,
            endpoint_id=r.endpoint_id,
            event_key=r.event_key,
            event_type=r.type,
            status=r.status,
            attempts=r.attempts,
            next_attempt_at=r.next_attempt_at,
            delivered_at=r.delivered_at,
            created_at=r.created_at,
            body=r.body,
            attempt_log=attempts.get(r.id, []),
        )
        for r in found
    ]


async def enqueue_deliveries(queue: Any, delivery_ids: Sequence[int]) -> None:
    """One job per DELIVERY_BATCH deliveries; a delivery queued twice is sent once (claimed)."""
    ids = list(delivery_ids)
    for start in range(0, len(ids), DELIVERY_BATCH):
        await queue.enqueue(DELIVER_JOB, ids[start : start + DELIVERY_BATCH])


def _deliver_after_commit(uow: UnitOfWork, delivery_ids: Sequence[int]) -> None:
    queue = uow.queue
    if queue is None or not delivery_ids:
        return

    async def enqueue() -> None:
        await enqueue_deliveries(queue, delivery_ids)

    uow.after_commit(enqueue)


async def _new_delivery(uow: UnitOfWork, endpoint_id: int, event_id: int, body: str) -> int:
    return await uow.insert(
        insert(webhook_deliveries).values(
            endpoint_id=endpoint_id,
            event_id=event_id,
            body=body,
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=uow.now,
            created_at=uow.now,
        )
    )


async def redeliver_event(uow: UnitOfWork, viewer: Viewer, endpoint_id: int, event_key: str) -> int:
    """Sends an event the endpoint received (or failed to) once more, with the same id and
    body: a new delivery."""
    await visible_endpoint(uow, viewer, endpoint_id)
    d = webhook_deliveries.c
    # The event's row is locked against deletion until the new delivery is in: a pruner
    # (`prune_events`) that chose it first is waited for, and then there is no such event.
    row = await uow.first(
        select(d.event_id, d.body)
        .join(events, events.c.id == d.event_id)
        .where(d.endpoint_id == endpoint_id, events.c.event_key == event_key)
        .order_by(d.id.desc())
        .limit(1)
        .with_for_update(key_share=True, read=True, of=events)
    )
    if row is None:
        raise NotFound("event of this endpoint", ("eventId",))
    delivery_id = await _new_delivery(uow, endpoint_id, row.event_id, row.body)
    _deliver_after_commit(uow, [delivery_id])
    return delivery_id


async def send_test(uow: UnitOfWork, viewer: Viewer, endpoint_id: int) -> int:
    """A `webhook.test` event to this endpoint alone (enabled or not)."""
    endpoint = await visible_endpoint(uow, viewer, endpoint_id)
    key = new_event_key()
    data = {"endpointId": endpoint_id, "message": "a test event from the portal"}
    event_id = await uow.insert(
        insert(events).values(
            event_key=key,
            type=TEST_EVENT_TYPE,
            version=1,
            occurred_at=uow.now,
            object_kind="webhook_endpoint",
            object_id=endpoint.id,
            payload=data,
            dispatched_at=uow.now,
        )
    )
    delivery_id = await _new_delivery(
        uow, endpoint_id, event_id, envelope(key, TEST_EVENT_TYPE, uow.now, data)
    )
    _deliver_after_commit(uow, [delivery_id])
    return delivery_id


# -- dispatch ---------------------------------------------------------------------------------


async def dispatch_events(engine: AsyncEngine, queue: Any = None) -> int:
    """Turns undispatched events into deliveries, batch by batch; answers how many events it
    dispatched. Several dispatchers may run at once (PostgreSQL: rows are skipped while
    locked; SQLite: transactions that write run one at a time)."""
    total = 0
    while True:
        async with UnitOfWork(engine, queue=queue) as uow:
            count = await _dispatch_batch(uow)
            await uow.commit()
        total += count
        if count < DISPATCH_BATCH:
            return total


async def _dispatch_batch(uow: UnitOfWork) -> int:
    stmt = (
        select(events)
        .where(events.c.dispatched_at.is_(None))
        .order_by(events.c.id)
        .limit(DISPATCH_BATCH)
    )
    if uow.conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    pending = list(await uow.execute(stmt))
    if not pending:
        return 0
    endpoints = [
        endpoint_of(row)
        for row in await uow.execute(
            select(webhook_endpoints).where(webhook_endpoints.c.enabled.is_(True))
        )
    ]
    rows = []
    for event in pending:
        for endpoint in endpoints:
            if not _may_want(endpoint, event):
                continue
            owner = endpoint.owner()
            if (
                await uow.first(event_object_visible(event.object_kind, event.object_id, owner))
                is None
            ):
                continue
            data = visible_payload(event.type, owner.role, event.payload)
            rows.append(
                {
                    "endpoint_id": endpoint.id,
                    "event_id": event.id,
                    "body": envelope(event.event_key, event.type, event.occurred_at, data),
                    "status": DeliveryStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": uow.now,
                    "created_at": uow.now,
                }
            )
    ids: list[int] = []
    if rows:
        result = await uow.execute(
            insert(webhook_deliveries).returning(
                webhook_deliveries.c.id, sort_by_parameter_order=True
            ),
            rows,
        )
        ids = [int(r.id) for r in result]
    await uow.execute(
        update(events).where(events.c.id.in_([e.id for e in pending])).values(dispatched_at=uow.now)
    )
    _deliver_after_commit(uow, ids)
    return len(pending)


def _may_want(endpoint: Endpoint, event: Row[Any]) -> bool:
    """The cheap tests before visibility: subscribed, created before the event, and (for a
    partner) the event is not about another partner."""
    if event.type not in endpoint.event_types or endpoint.created_at > event.occurred_at:
        return False
    return not (
        endpoint.partner_id is not None
        and event.partner_id is not None
        and endpoint.partner_id != event.partner_id
    )


# -- delivery ---------------------------------------------------------------------------------


def _lease() -> timedelta:
    return timedelta(seconds=timeout_seconds() * 2 + 30)


async def deliver(engine: AsyncEngine, delivery_id: int, *, now: datetime | None = None) -> str:
    """One attempt of one delivery (see `deliver_many`): delivered, retry, gone, gave up or
    not due."""
    return (await deliver_many(engine, [delivery_id], now=now)).get(delivery_id, "not due")


async def deliver_many(
    engine: AsyncEngine, delivery_ids: Sequence[int], *, now: datetime | None = None
) -> dict[int, str]:
    """One attempt of each due delivery of `delivery_ids`. The attempts are claimed first, in
    one transaction (a lease: a worker that dies mid-attempt leaves them to be tried again
    once the lease ends), then sent at once outside any transaction (a slow receiver holds up
    no other request), then their outcomes recorded in one transaction."""
    now = now or datetime.now(UTC)
    d = webhook_deliveries.c
    async with UnitOfWork(engine) as uow:
        enabled = select(webhook_endpoints.c.id).where(
            webhook_endpoints.c.id == d.endpoint_id, webhook_endpoints.c.enabled.is_(True)
        )
        claimed = [
            int(r.id)
            for r in await uow.execute(
                update(webhook_deliveries)
                .where(
                    d.id.in_(list(delivery_ids)),
                    d.status == DeliveryStatus.PENDING,
                    d.next_attempt_at <= now,
                    enabled.exists(),
                )
                .values(
                    attempts=d.attempts + 1,
                    next_attempt_at=now + _lease(),
                    first_attempt_at=func.coalesce(d.first_attempt_at, now),
                )
                .returning(d.id)
            )
        ]
        if not claimed:
            return {}
        rows = list(
            await uow.execute(
                select(
                    d.id,
                    d.attempts,
                    d.body,
                    d.endpoint_id,
                    events.c.event_key,
                    webhook_endpoints.c.url,
                    webhook_endpoints.c.secret,
                )
                .join(events, events.c.id == d.event_id)
                .join(webhook_endpoints, webhook_endpoints.c.id == d.endpoint_id)
                .where(d.id.in_(claimed))
            )
        )
        await uow.commit()
    sent = await asyncio.gather(
        *(post_webhook(r.url, r.secret, r.event_key, r.body, now.timestamp()) for r in rows)
    )
    results: dict[int, str] = {}
    async with UnitOfWork(engine) as uow:
        await uow.execute(
            insert(webhook_attempts),
            [
                {
                    "delivery_id": r.id,
                    "attempted_at": now,
                    "status_code": s.status_code,
                    "duration_ms": s.duration_ms,
                    "error": s.error,
                    "response": s.response,
                }
                for r, s in zip(rows, sent, strict=True)
            ],
        )
        delivered = [
            r.id for r, s in zip(rows, sent, strict=True) if outcome_of(s.status_code).delivered
        ]
        if delivered:
            await uow.execute(
                update(webhook_deliveries)
                .where(d.id.in_(delivered), d.status == DeliveryStatus.PENDING)
                .values(status=DeliveryStatus.DELIVERED, delivered_at=now, next_attempt_at=None)
            )
            results.update(dict.fromkeys(delivered, "delivered"))
        for r, s in zip(rows, sent, strict=True):
            if r.id not in results:
                results[r.id] = await _record_failure(uow, r, s, now)
        await uow.commit()
    return results


async def _record_failure(uow: UnitOfWork, row: Row[Any], sent: Sent, now: datetime) -> str:
    d = webhook_deliveries.c
    mine = and_(d.id == row.id, d.status == DeliveryStatus.PENDING)
    if outcome_of(sent.status_code).disable:
        await uow.execute(
            update(webhook_deliveries)
            .where(mine)
            .values(status=DeliveryStatus.FAILED, next_attempt_at=None)
        )
        await _disable(uow, row.endpoint_id, "the receiver answered 410 Gone", now)
        return "gone"
    retry_at = next_attempt(row.attempts, now)
    if retry_at is not None:
        await uow.execute(update(webhook_deliveries).where(mine).values(next_attempt_at=retry_at))
        return "retry"
    await uow.execute(
        update(webhook_deliveries)
        .where(mine)
        .values(status=DeliveryStatus.FAILED, next_attempt_at=None)
    )
    last = sent.error or f"HTTP {sent.status_code}"
    await _disable(
        uow,
        row.endpoint_id,
        f"deliveries failed for a day ({row.attempts} attempts); last: {last}",
        now,
    )
    return "gave up"


async def _disable(uow: UnitOfWork, endpoint_id: int, reason: str, now: datetime) -> None:
    await uow.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id)
        .values(enabled=False, disabled_reason=reason[:500], disabled_at=now, updated_at=now)
    )


async def due_deliveries(
    engine: AsyncEngine, *, now: datetime | None = None
) -> list[tuple[int, int]]:
    """Deliveries whose next attempt is due (retries, and attempts whose worker died)."""
    now = now or datetime.now(UTC)
    d = webhook_deliveries.c
    async with UnitOfWork(engine, writes=False) as uow:
        found = await uow.execute(
            select(d.id, d.attempts)
            .join(webhook_endpoints, webhook_endpoints.c.id == d.endpoint_id)
            .where(
                d.status == DeliveryStatus.PENDING,
                d.next_attempt_at <= now,
                webhook_endpoints.c.enabled.is_(True),
            )
            .order_by(d.next_attempt_at)
            .limit(1000)
        )
        return [(int(r.id), int(r.attempts)) for r in found]


async def sweep(engine: AsyncEngine, queue: Any) -> int:
    """The safety net run every few seconds: dispatches what a lost queue message left, and
    queues the due retries."""
    await dispatch_events(engine, queue)
    due = await due_deliveries(engine)
    await enqueue_deliveries(queue, [delivery_id for delivery_id, _ in due])
    return len(due)


# -- retention --------------------------------------------------------------------------------


async def prune_events(
    engine: AsyncEngine,
    retention_days: int,
    *,
    now: datetime | None = None,
    batch: int = PRUNE_BATCH,
    budget_seconds: float | None = None,
) -> int:
    """Deletes the events older than `retention_days` that are dispatched and whose webhook
    deliveries are all final (delivered or failed for good) or that have none, with their
    deliveries and attempts; `batch` events per transaction, until none is left. An event with
    a pending delivery (due, retrying, or waiting for its endpoint to be enabled again) stays,
    however old. With `budget_seconds`, starts no batch after that long (the rest is left for
    the next run). Answers how many events it deleted."""
    if (problem := retention_problem(retention_days)) is not None:
        raise ValueError(f"retention_days must be {problem}")
    older_than = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    loop = asyncio.get_running_loop()
    stop_at = None if budget_seconds is None else loop.time() + budget_seconds
    total = 0
    while True:
        async with UnitOfWork(engine) as uow:
            count = await delete_settled_events(uow, older_than, DeliveryStatus.FINAL, batch)
            await uow.commit()
        total += count
        if count < batch or (stop_at is not None and loop.time() >= stop_at):
            return total
