"""Raising many conversion requests at once (file imports; `createConversionRequest` is a
batch of one): the checks of `create_request`, with lookups batched and inserts in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from portal.adapters.request_store import open_key, rating_columns, requested_columns
from portal.adapters.tables import conversion_requests
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.errors import DomainError, ValidationFailed
from portal.domain.requests import RequestedValues, RequestKind, RequestStatus, check_comment
from portal.services.request_drafts import (
    Draft,
    DraftScope,
    check_draft,
    converted_error,
    open_request_error,
    order_key,
    orders_converted,
)
from portal.services.request_revision import Revised


@dataclass(slots=True)
class Outcome:
    """What became of one draft: the new request's id, or errors; `existing` when an earlier
    call with the same idempotency key created it already."""

    request_id: int | None = None
    errors: list[DomainError] = field(default_factory=list)
    existing: bool = False
    revised: Revised | None = None


@dataclass(slots=True)
class _Checked:
    index: int
    draft: Draft
    revised: Revised
    key: str
    conversion_id: int | None


def _stored_requested(draft: Draft, revised: Revised) -> RequestedValues:
    if draft.kind is not RequestKind.CREATE_NEW:
        return draft.requested
    new, asked = revised.conversion, draft.requested
    # Stored complete, so a CREATE_NEW request shows exactly what will be created.
    return RequestedValues(
        order_id=new.order_id,
        target=new.target,
        category=new.category,
        tracking_time=new.tracking_time,
        order_value=asked.order_value,
        currency=asked.currency or new.currency,
        status=new.status,
        commission=asked.commission,
        sub_ids=asked.sub_ids,
        device=asked.device,
        conversion_note=asked.conversion_note,
    )


async def create_requests(
    uow: UnitOfWork, viewer: Viewer, drafts: Sequence[Draft], *, dry_run: bool = False
) -> list[Outcome]:
    """One outcome per draft, in order. Valid drafts are inserted together (unless dry_run);
    an invalid one never affects the others."""
    outcomes = [Outcome() for _ in drafts]
    scope = DraftScope(uow, viewer)
    await scope.preload_conversions(
        {d.conversion_id for d in drafts if d.conversion_id is not None}
    )
    known = await _known_idempotency_keys(uow, viewer, drafts)
    checked: list[_Checked] = []
    for index, draft in enumerate(drafts):
        if draft.idempotency_key is not None and draft.idempotency_key in known:
            outcomes[index] = Outcome(request_id=known[draft.idempotency_key], existing=True)
            continue
        try:
            check_comment(draft.comment, ("comment",))
            revised = await check_draft(scope, draft)
        except ValidationFailed as failed:
            outcomes[index].errors.extend(failed.errors)
            continue
        except DomainError as error:
            outcomes[index].errors.append(error)
            continue
        new = revised.conversion
        conversion_id = draft.conversion_id if draft.kind is RequestKind.CHANGE_EXISTING else None
        key = open_key(
            draft.kind, new.program_id, conversion_id, (new.order_id, new.target, new.category)
        )
        checked.append(_Checked(index, draft, revised, key, conversion_id))
        outcomes[index].revised = revised

    await _refuse_converted_orders(uow, checked, outcomes)
    await _refuse_open_duplicates(uow, checked, outcomes)
    valid = [c for c in checked if not outcomes[c.index].errors]
    if dry_run or not valid:
        return outcomes
    values = [_row(uow, viewer, c) for c in valid]
    stmt = insert(conversion_requests).returning(
        conversion_requests.c.id, sort_by_parameter_order=True
    )
    try:
        async with uow.conn.begin_nested():
            ids = (await uow.conn.execute(stmt, values)).scalars().all()
    except IntegrityError:
        # A request for one of these orders was raised concurrently: insert one by one, so
        # only the colliding rows fail.
        ids = []
        for c, row in zip(valid, values, strict=True):
            try:
                async with uow.conn.begin_nested():
                    ids.append((await uow.conn.execute(stmt, [row])).scalar_one())
            except IntegrityError:
                ids.append(None)
                outcomes[c.index].errors.append(open_request_error(c.draft.kind))
    for c, request_id in zip(valid, ids, strict=True):
        outcomes[c.index].request_id = request_id
    return outcomes


def _row(uow: UnitOfWork, viewer: Viewer, c: _Checked) -> dict[str, Any]:
    new = c.revised.conversion
    return {
        "program_id": new.program_id,
        "partner_id": new.partner_id,
        "kind": c.draft.kind.value,
        "status": RequestStatus.INQUIRED.value,
        "conversion_id": c.conversion_id,
        **requested_columns(_stored_requested(c.draft, c.revised)),
        "comment": check_comment(c.draft.comment, ("comment",)),
        **rating_columns(
            new.commission, new.currency, new.commission_model_name, new.commission_breakdown
        ),
        "created_by": viewer.user_id,
        "created_at": uow.now,
        "updated_at": uow.now,
        "decided_by": None,
        "decided_at": None,
        "decision_note": None,
        "decision_reason": None,
        "failure": None,
        "processed_at": None,
        "attempts": 0,
        "idempotency_key": c.draft.idempotency_key,
        "open_key": c.key,
    }


async def _known_idempotency_keys(
    uow: UnitOfWork, viewer: Viewer, drafts: Sequence[Draft]
) -> dict[str, int]:
    keys = [d.idempotency_key for d in drafts if d.idempotency_key is not None]
    if not keys:
        return {}
    found: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        for r in await uow.conn.execute(
            select(conversion_requests.c.idempotency_key, conversion_requests.c.id).where(
                conversion_requests.c.created_by == viewer.user_id,
                conversion_requests.c.idempotency_key.in_(keys[start : start + 500]),
            )
        ):
            found[r.idempotency_key] = r.id
    return found


async def _refuse_converted_orders(
    uow: UnitOfWork, checked: list[_Checked], outcomes: list[Outcome]
) -> None:
    creating = [c for c in checked if c.draft.kind is RequestKind.CREATE_NEW]
    if not creating:
        return
    existing = await orders_converted(uow, [order_key(c.revised) for c in creating])
    for c in creating:
        key = order_key(c.revised)
        if key in existing:
            outcomes[c.index].errors.append(converted_error(key, existing[key]))


async def _refuse_open_duplicates(
    uow: UnitOfWork, checked: list[_Checked], outcomes: list[Outcome]
) -> None:
    keys = [c.key for c in checked]
    taken: set[str] = set()
    for start in range(0, len(keys), 500):
        taken.update(
            r.open_key
            for r in await uow.conn.execute(
                select(conversion_requests.c.open_key).where(
                    conversion_requests.c.open_key.in_(keys[start : start + 500])
                )
            )
        )
    seen: set[str] = set()
    for c in checked:
        if c.key in taken:
            outcomes[c.index].errors.append(open_request_error(c.draft.kind))
        elif c.key in seen:
            outcomes[c.index].errors.append(
                DomainError(
                    "DUPLICATE_IN_BATCH",
                    "an earlier row asks for the same conversion or order",
                    ("requested", "orderId"),
                )
            )
        seen.add(c.key)
