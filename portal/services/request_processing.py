"""Applying accepted conversion requests, exactly once.

The conversion change, its revision and the request's move to PROCESSED commit in ONE
transaction, with the request row locked. So a job that runs twice finds the request
PROCESSED and does nothing, and a worker that dies half-way leaves nothing behind: the
request is still ACCEPTED and the next run applies it."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import rows
from portal.adapters.conversion_store import (
    insert_conversion,
    update_conversion,
    with_invoice_status,
)
from portal.adapters.request_store import load_request, move_request
from portal.adapters.tables import conversion_requests, conversions, programs
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.conversions import RevisionSource, check_conversion_may_change
from portal.domain.errors import DomainError
from portal.domain.programs import Program
from portal.domain.requests import ConversionRequest, Mover, RequestKind, RequestStatus
from portal.services.claims import reassign
from portal.services.job_failures import failure_message, retrying
from portal.services.request_drafts import converted_error
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
            await _count_attempt(uow, request_id)
            conversion_id = await _apply(uow, request)
            moved = await move_request(
                uow,
                request_id,
                RequestStatus.ACCEPTED,
                RequestStatus.PROCESSED,
                mover=Mover.SYSTEM,
                actor_user_id=None,
                action="processed",
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
        message = failure_message(error, name)[:4000]
        log.warning("%s failed: %s", name, message)
        async with UnitOfWork(engine) as uow:
            await move_request(
                uow,
                request_id,
                RequestStatus.ACCEPTED,
                RequestStatus.FAILED,
                mover=Mover.SYSTEM,
                actor_user_id=None,
                note=message,
                action="failed",
                failure=message,
            )
            await _count_attempt(uow, request_id)
            await uow.commit()
        return "failed"


async def _count_attempt(uow: UnitOfWork, request_id: int) -> None:
    await uow.execute(
        update(conversion_requests)
        .where(conversion_requests.c.id == request_id)
        .values(attempts=conversion_requests.c.attempts + 1)
    )


async def _apply(uow: UnitOfWork, request: ConversionRequest) -> int:
    row = await uow.first(select(programs).where(programs.c.id == request.program_id))
    assert row is not None
    program = rows.program(row)
    if request.kind is RequestKind.CREATE_NEW:
        return await _create_or_claim(uow, program, request)
    assert request.conversion_id is not None
    row = await uow.first(
        with_invoice_status()
        .where(conversions.c.id == request.conversion_id)
        .with_for_update(of=conversions)
    )
    if row is None:
        raise DomainError("CONVERSION_GONE", "the conversion no longer exists")
    current = rows.conversion(row)
    check_conversion_may_change(current, ())
    if current.partner_id != request.partner_id:
        raise DomainError(
            "CONVERSION_REASSIGNED",
            "the conversion was reassigned to another partner; this request no longer applies",
        )
    revised = await revise(
        uow, program, request.partner_id, request.kind, request.requested, current
    )
    new = (
        _with_accepted_rating(revised.conversion, request)
        if revised.rerated
        else revised.conversion
    )
    await update_conversion(
        uow,
        current.id,
        new,
        list(revised.changes),
        RevisionSource.REQUEST,
        request.decided_by,
        request_id=request.id,
    )
    return current.id


async def _create_or_claim(uow: UnitOfWork, program: Program, request: ConversionRequest) -> int:
    """Creates the requested conversion; an order that is another partner's by now (tracked,
    or claimed before) moves to the request's partner instead (`reassign`), all its
    conversions, as an order belongs to one partner."""
    revised = await revise(uow, program, request.partner_id, request.kind, request.requested, None)
    new = _with_accepted_rating(revised.conversion, request)
    c = conversions.c
    of_order = [
        rows.conversion(r)
        for r in await uow.conn.execute(
            with_invoice_status()
            .where(c.program_id == new.program_id, c.order_id == new.order_id)
            .order_by(c.id)
            .with_for_update(of=conversions)
        )
    ]
    same_kind = next((o for o in of_order if o.target_kind is new.target_kind), None)
    if same_kind is not None and same_kind.partner_id == request.partner_id:
        raise converted_error(new.order_id, new.target_kind, same_kind.id)
    for conversion in of_order:
        if conversion.partner_id != request.partner_id:
            await reassign(uow, program, conversion, request)
    if same_kind is not None:
        return same_kind.id
    try:
        async with uow.conn.begin_nested():
            return await insert_conversion(
                uow, new, RevisionSource.REQUEST, request.decided_by, request_id=request.id
            )
    except IntegrityError:  # tracking recorded the order right now
        raise DomainError(
            "ORDER_ALREADY_CONVERTED",
            f"order {new.order_id} was recorded as a conversion meanwhile; retry to claim it",
        ) from None


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
