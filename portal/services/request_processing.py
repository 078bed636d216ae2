"""Applying accepted conversion requests, exactly once.

The conversion change, its revision and the request's move to PROCESSED commit in ONE
transaction, with the request row locked. So a job that runs twice finds the request
PROCESSED and does nothing, and a worker that dies half-way leaves nothing behind: the
request is still ACCEPTED and the next run applies it."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import rows
from portal.adapters.conversion_store import conversion_values, insert_conversion
from portal.adapters.request_store import load_request, move_status
from portal.adapters.tables import conversion_requests, conversion_revisions, conversions, programs
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.conversions import RevisionSource
from portal.domain.errors import DomainError
from portal.domain.requests import ConversionRequest, RequestKind, RequestStatus
from portal.services.job_failures import failure_message, retrying
from portal.services.request_drafts import converted_error, order_key, orders_converted
from portal.services.request_revision import revise

log = logging.getLogger("portal.requests")
STALE_AFTER = timedelta(minutes=2)


async def process_request(engine: AsyncEngine, request_id: int) -> str:
    """Applies the request if it is ACCEPTED; answers what happened. A transient failure of the
    database is tried again with backoff; any other failure is kept on the request (FAILED)
    as a code and a message — internals only in the log, under the error id it names."""

    async def apply(_: int) -> str:
        async with UnitOfWork(engine) as uow:
            request = await load_request(uow, request_id, for_update=True)
            if request is None:
                return "missing"
            if request.status is not RequestStatus.ACCEPTED:
                return f"skipped: {request.status.value}"
            await uow.execute(
                update(conversion_requests)
                .where(conversion_requests.c.id == request_id)
                .values(attempts=conversion_requests.c.attempts + 1)
            )
            conversion_id = await _apply(uow, request)
            moved = await move_status(
                uow,
                request_id,
                RequestStatus.ACCEPTED,
                RequestStatus.PROCESSED,
                processed_at=uow.now,
                conversion_id=conversion_id,
            )
            assert moved, "the row is locked; its status cannot have changed"
            await uow.commit()
            return "processed"

    name = f"processing conversion request {request_id}"
    try:
        return await retrying(name, apply)
    except Exception as error:  # every failure is kept on the request, expected or not
        message = failure_message(error, name)
        log.warning("%s failed: %s", name, message)
        async with UnitOfWork(engine) as uow:
            await move_status(
                uow,
                request_id,
                RequestStatus.ACCEPTED,
                RequestStatus.FAILED,
                failure=message[:4000],
            )
            await uow.execute(
                update(conversion_requests)
                .where(conversion_requests.c.id == request_id)
                .values(attempts=conversion_requests.c.attempts + 1)
            )
            await uow.commit()
        return "failed"


async def _apply(uow: UnitOfWork, request: ConversionRequest) -> int:
    program = rows.program(
        await uow.first(select(programs).where(programs.c.id == request.program_id))
    )  # type: ignore[arg-type]
    actor = request.decided_by
    if request.kind is RequestKind.CREATE_NEW:
        revised = await revise(
            uow, program, request.partner_id, request.kind, request.requested, None
        )
        new = _with_accepted_rating(revised.conversion, request)
        # The tracking may have recorded the order since the request was raised.
        key = order_key(revised)
        if key in await orders_converted(uow, [key]):
            # Shown to the request's author: the conversion may be another partner's.
            raise converted_error(key, None)
        try:
            return await insert_conversion(
                uow, new, RevisionSource.REQUEST, actor, request_id=request.id
            )
        except IntegrityError:  # ... or records it right now
            raise DomainError(
                "ORDER_ALREADY_CONVERTED",
                f"order {new.order_id} was recorded as a conversion meanwhile",
            ) from None
    assert request.conversion_id is not None
    row = await uow.first(
        select(conversions).where(conversions.c.id == request.conversion_id).with_for_update()
    )
    if row is None:
        raise DomainError("CONVERSION_GONE", "the conversion no longer exists")
    current = rows.conversion(row)
    if current.paid:
        raise DomainError(
            "CONVERSION_PAID", "the conversion was paid meanwhile and can no longer change"
        )
    revised = await revise(
        uow, program, request.partner_id, request.kind, request.requested, current
    )
    new = (
        _with_accepted_rating(revised.conversion, request)
        if revised.rerated
        else revised.conversion
    )
    values = conversion_values(new, uow.now)
    for key in (
        "created_at",
        "program_id",
        "partner_id",
        "order_id",
        "customer_id_hash",
        "email_hash",
    ):
        values.pop(key)
    await uow.execute(update(conversions).where(conversions.c.id == current.id).values(**values))
    number = await uow.conn.scalar(
        select(conversion_revisions.c.number)
        .where(conversion_revisions.c.conversion_id == current.id)
        .order_by(conversion_revisions.c.number.desc())
        .limit(1)
    )
    await uow.execute(
        insert(conversion_revisions).values(
            conversion_id=current.id,
            number=(number or 0) + 1,
            source=RevisionSource.REQUEST.value,
            actor_user_id=actor,
            request_id=request.id,
            created_at=uow.now,
            changes=[{"field": c.field, "from": c.old, "to": c.new} for c in revised.changes],
        )
    )
    return current.id


def _with_accepted_rating(new: Any, request: ConversionRequest) -> Any:
    """The commission the decider saw and accepted is the one applied."""
    from dataclasses import replace

    if request.commission is None:
        return new
    return replace(
        new,
        commission=request.commission,
        commission_model_name=request.commission_model_name,
        commission_breakdown=request.commission_breakdown or {},
    )


async def requeue_stale_accepted(
    engine: AsyncEngine, queue: Any, stale_after_seconds: float = STALE_AFTER.total_seconds()
) -> int:
    """Queues again the requests accepted long enough ago and still not processed."""
    async with UnitOfWork(engine) as uow:
        stale = (
            await uow.conn.execute(
                select(conversion_requests.c.id, conversion_requests.c.attempts).where(
                    conversion_requests.c.status == RequestStatus.ACCEPTED.value,
                    conversion_requests.c.updated_at
                    <= uow.now - timedelta(seconds=stale_after_seconds),
                )
            )
        ).all()
    for row in stale:
        await queue.enqueue(
            "process_conversion_request", row.id, job_id=f"request:{row.id}:{row.attempts}:sweep"
        )
    return len(stale)
