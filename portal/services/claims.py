"""Attribution claims (SPEC §5: an order goes to at most one partner): a CREATE_NEW request
for an order that tracking recorded for another partner.

- Raising and previewing it tells the claiming partner nothing about the order
  (`request_drafts`): it is INQUIRED like any request.
- Several partners may claim one order; their requests coexist (each partner's open key is its
  own) and the advertiser sees them side by side (`ConversionRequest.competingRequests`).
- Accepting one settles the order (`settle_competitors`): the other partners' INQUIRED requests
  for it are rejected by the system, in the same transaction; of two deciders accepting two of
  them at once, one wins and the other is told the request was decided meanwhile.
- Processing it moves the order's conversions to the claiming partner (`reassign`): rated
  again under that partner's relationship, a revision with source REQUEST, a reassignment
  record the former partner can read (not who claimed), and the former partner's INQUIRED
  change requests on them rejected. A rejected claim changes nothing.
- A request raised before tracking records its order is linked when tracking does
  (`link_tracked_orders`): recorded for another partner, it becomes a claim against that
  conversion (seen, previewed and checked as one); recorded for the request's own partner,
  it has nothing left to create and the system closes it, naming the conversion.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, insert, select, tuple_, update

from portal.adapters.conversion_store import created, update_conversion
from portal.adapters.event_store import NewEvent, record_event
from portal.adapters.request_keys import OrderId, conversions_of_orders
from portal.adapters.request_store import move_request
from portal.adapters.tables import (
    conversion_reassignments,
    conversion_requests,
    conversion_targets,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.conversions import (
    Conversion,
    RevisionSource,
    check_conversion_may_change,
)
from portal.domain.programs import Program, TargetKind
from portal.domain.requests import (
    OPEN_STATUSES,
    ConversionRequest,
    Mover,
    RequestKind,
    RequestStatus,
)
from portal.global_ids import encode_id
from portal.services.request_drafts import order_state
from portal.services.request_revision import reassigned

SETTLED = "another request for this order was accepted"
REASSIGNED = "the conversion was reassigned to another partner"
TRACKED_FOR_YOU = (
    "tracking recorded the order as your conversion; raise a CHANGE_EXISTING request to "
    "change its values"
)


async def link_tracked_orders(uow: UnitOfWork, orders: Sequence[OrderId]) -> None:
    """Tracking has just recorded conversions of these (program, order id) pairs: the open
    CREATE_NEW requests raised for them before are linked to the order as a request raised now
    would be (`order_state`). Another partner's order makes the request a claim against its
    conversion; the request's own partner's (same target kind) leaves it nothing to create, so
    an INQUIRED one is rejected by the system with the conversion named (an ACCEPTED one fails
    on processing, saying so). One statement when no request waits for these orders."""
    unique = list(dict.fromkeys(orders))
    if not unique:
        return
    r, t = conversion_requests.c, conversion_targets.c
    waiting = (
        await uow.conn.execute(
            select(r.id, r.program_id, r.order_id, r.partner_id, r.status, t.kind)
            .select_from(
                conversion_requests.outerjoin(
                    conversion_targets, and_(t.program_id == r.program_id, t.key == r.target)
                )
            )
            .where(
                tuple_(r.program_id, r.order_id).in_(unique),
                r.kind == RequestKind.CREATE_NEW.value,
                r.status.in_([s.value for s in OPEN_STATUSES]),
                r.conversion_id.is_(None),
            )
            .order_by(r.id)
        )
    ).all()
    if not waiting:
        return
    found = await conversions_of_orders(uow.conn, [(w.program_id, w.order_id) for w in waiting])
    for w in waiting:
        kind = TargetKind(w.kind) if w.kind else TargetKind.SALE
        state = order_state(found.get((w.program_id, w.order_id), ()), w.partner_id, kind, "")
        if state.claimed is not None:
            await uow.execute(
                update(conversion_requests)
                .where(r.id == w.id)
                .values(conversion_id=state.claimed, updated_at=uow.now)
            )
        elif state.error is not None and w.status == RequestStatus.INQUIRED.value:
            own = next(
                c.id
                for c in found[(w.program_id, w.order_id)]
                if c.partner_id == w.partner_id and c.target_kind is kind
            )
            await _reject_by_system(uow, w.id, TRACKED_FOR_YOU, conversion_id=own)


async def settle_competitors(uow: UnitOfWork, accepted: ConversionRequest) -> int:
    """Rejects the other partners' INQUIRED CREATE_NEW requests for the order of `accepted`
    (about to be accepted). Locks all open requests of the order in id order first, so two
    deciders of competing requests take their turns instead of deadlocking. Answers how many
    were rejected."""
    r = conversion_requests.c
    competing = (
        await uow.conn.execute(
            select(r.id, r.status, r.partner_id)
            .where(
                r.program_id == accepted.program_id,
                r.order_id == accepted.requested.order_id,
                r.kind == RequestKind.CREATE_NEW.value,
                r.status.in_([s.value for s in OPEN_STATUSES]),
            )
            .order_by(r.id)
            .with_for_update()
        )
    ).all()
    rejected = 0
    for row in competing:
        if row.partner_id == accepted.partner_id or row.status != RequestStatus.INQUIRED.value:
            continue
        rejected += await _reject_by_system(uow, row.id, SETTLED)
    return rejected


async def _reject_by_system(uow: UnitOfWork, request_id: int, reason: str, **values: object) -> int:
    moved = await move_request(
        uow,
        request_id,
        RequestStatus.INQUIRED,
        RequestStatus.REJECTED,
        mover=Mover.SYSTEM,
        actor_user_id=None,
        note=reason,
        action="rejected",
        decided_at=uow.now,
        decision_reason=reason,
        **values,
    )
    return int(moved)


async def reassign(
    uow: UnitOfWork, program: Program, conversion: Conversion, request: ConversionRequest
) -> None:
    """Moves `conversion` (locked by the caller) to the partner of the accepted claim
    `request`. The revision lists the conversion's values as they now are, from nothing, as
    its creation does: what the conversion was under the former partner is no business of the
    new one (the advertiser reads it in the revisions before)."""
    check_conversion_may_change(conversion, ())
    moved = await reassigned(uow, program, conversion, request.partner_id, request.requested)
    new = moved.conversion
    revision = await update_conversion(
        uow,
        conversion.id,
        new,
        created(new),
        RevisionSource.REQUEST,
        request.decided_by,
        request_id=request.id,
    )
    reassignment_id = await uow.insert(
        insert(conversion_reassignments).values(
            conversion_id=conversion.id,
            program_id=conversion.program_id,
            from_partner_id=conversion.partner_id,
            to_partner_id=request.partner_id,
            request_id=request.id,
            revision=revision,
            order_id=conversion.order_id,
            target=conversion.target,
            category=conversion.category,
            tracking_time=conversion.tracking_time,
            previous_commission=conversion.commission,
            currency=conversion.currency,
            reassigned_at=uow.now,
        )
    )
    await record_event(
        uow,
        NewEvent(
            "conversion.reassigned",
            reassignment_id,
            {
                "id": encode_id("ConversionReassignment", reassignment_id),
                "conversionId": encode_id("Conversion", conversion.id),
                "programId": encode_id("Program", conversion.program_id),
                "orderId": conversion.order_id,
                "previousCommission": conversion.commission,
                "currency": conversion.currency,
                "toPartnerId": encode_id("Partner", request.partner_id),
                "requestId": encode_id("ConversionRequest", request.id),
            },
            conversion.program_id,
            conversion.partner_id,  # the former partner's endpoints are the ones told
        ),
    )
    r = conversion_requests.c
    stale = await uow.conn.scalars(
        select(r.id).where(
            r.conversion_id == conversion.id,
            r.kind == RequestKind.CHANGE_EXISTING.value,
            r.partner_id == conversion.partner_id,
            r.status == RequestStatus.INQUIRED.value,
        )
    )
    for request_id in list(stale):
        await _reject_by_system(uow, request_id, REASSIGNED)
