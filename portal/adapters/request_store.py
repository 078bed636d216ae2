"""Persistence of conversion requests: rows, open keys, and the one function that moves a
request's status (`move_request`), which keeps every move as an event."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row

from portal.adapters.tables import conversion_request_events, conversion_requests
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.conversions import ConversionStatus
from portal.domain.programs import TargetKind
from portal.domain.requests import (
    OPEN_STATUSES,
    ConversionRequest,
    Mover,
    RequestedValues,
    RequestKind,
    RequestStatus,
    check_move,
)


def requested_values(m: Any) -> RequestedValues:
    status = m["requested_status"]
    sub_ids = m["sub_ids"]
    return RequestedValues(
        order_id=m["order_id"],
        target=m["target"],
        category=m["category"],
        tracking_time=m["tracking_time"],
        order_value=m["order_value"],
        currency=m["currency"],
        status=ConversionStatus(status) if status else None,
        commission=m["requested_commission"],
        sub_ids=tuple(sub_ids) if sub_ids is not None else None,
        device=m["device"],
        conversion_note=m["conversion_note"],
    )


def request_from_row(row: Row[Any]) -> ConversionRequest:
    m = row._mapping
    return ConversionRequest(
        id=m["id"],
        program_id=m["program_id"],
        partner_id=m["partner_id"],
        kind=RequestKind(m["kind"]),
        status=RequestStatus(m["status"]),
        conversion_id=m["conversion_id"],
        requested=requested_values(m),
        comment=m["comment"],
        commission=m["commission"],
        commission_currency=m["commission_currency"],
        commission_model_name=m["commission_model_name"],
        commission_breakdown=m["commission_breakdown"],
        created_by=m["created_by"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        decided_by=m["decided_by"],
        decided_at=m["decided_at"],
        decision_note=m["decision_note"],
        decision_reason=m["decision_reason"],
        failure=m["failure"],
        processed_at=m["processed_at"],
        attempts=m["attempts"],
    )


def requested_columns(values: RequestedValues) -> dict[str, Any]:
    return {
        "order_id": values.order_id,
        "target": values.target,
        "category": values.category,
        "tracking_time": values.tracking_time,
        "order_value": values.order_value,
        "currency": values.currency,
        "requested_status": values.status.value if values.status else None,
        "requested_commission": values.commission,
        "sub_ids": list(values.sub_ids) if values.sub_ids is not None else None,
        "device": values.device,
        "conversion_note": values.conversion_note,
    }


def open_key(
    kind: RequestKind,
    program_id: int,
    conversion_id: int | None,
    partner_id: int,
    order: tuple[str, TargetKind],
) -> str:
    """The key two open requests may not share: the conversion to change, or — the partner's
    own — the order (and target kind) to create. Several partners' requests for one order
    coexist (competing claims); none of them learns of the others."""
    if kind is RequestKind.CHANGE_EXISTING:
        return f"conversion:{conversion_id}"
    order_id, target_kind = order
    return f"order:{program_id}:{target_kind.value}:{partner_id}:{order_id}"


def rating_columns(
    commission: Decimal | None, currency: str | None, model: str | None, breakdown: Any
) -> dict[str, Any]:
    return {
        "commission": commission,
        "commission_currency": currency,
        "commission_model_name": model,
        "commission_breakdown": breakdown,
    }


async def load_request(
    uow: UnitOfWork, request_id: int, *, for_update: bool = False
) -> ConversionRequest | None:
    stmt = select(conversion_requests).where(conversion_requests.c.id == request_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = await uow.first(stmt)
    return request_from_row(row) if row else None


async def move_request(
    uow: UnitOfWork,
    request_id: int,
    expected: RequestStatus,
    new: RequestStatus,
    *,
    mover: Mover,
    actor_user_id: int | None,
    note: str | None = None,
    action: str = "moved",
    **values: Any,
) -> bool:
    """The one way a request's status changes: the domain's transition table must allow
    `mover` to make the move (else INVALID_STATE); the request moves only if it still has the
    `expected` status (of two concurrent deciders exactly one sees True), and the move is kept
    as an event (who, when, from, to, note) in the same transaction."""
    check_move(expected, new, mover, action)
    if new not in OPEN_STATUSES:
        values["open_key"] = None
    result = await uow.execute(
        update(conversion_requests)
        .where(
            conversion_requests.c.id == request_id, conversion_requests.c.status == expected.value
        )
        .values(status=new.value, updated_at=uow.now, **values)
    )
    if result.rowcount != 1:
        return False
    await uow.execute(
        insert(conversion_request_events).values(
            request_id=request_id,
            from_status=expected.value,
            to_status=new.value,
            actor_user_id=actor_user_id,
            note=note[:4000] if note else None,
            created_at=uow.now,
        )
    )
    from portal.adapters.event_payloads import record_request_events

    await record_request_events(uow, [request_id])
    return True
