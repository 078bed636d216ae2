"""Conversion requests: raise, amend, withdraw, comment, preview, decide, retry (SPEC §6).
GraphiQL, bulk mutations and file imports all come through here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from portal.adapters import rows
from portal.adapters.request_store import (
    load_request,
    move_status,
    open_key,
    rating_columns,
    requested_columns,
)
from portal.adapters.tables import (
    conversion_request_comments,
    conversion_requests,
    conversions,
    partners,
    programs,
    relationships,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import visible
from portal.domain.access import Role, Viewer
from portal.global_ids import encode_id
from portal.domain.conversions import Conversion, FieldChange
from portal.domain.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from portal.domain.partners import RelationshipStatus
from portal.domain.programs import Program
from portal.domain.requests import (
    CommentVisibility,
    ConversionRequest,
    Decision,
    RequestedValues,
    RequestKind,
    RequestStatus,
    check_comment,
    check_comment_visibility,
    check_decision,
    check_may_change,
    check_may_decide,
    check_retry,
    check_values,
    status_after,
)
from portal.services.request_revision import Revised, revise, vocabulary_errors

PROCESS_JOB = "process_conversion_request"


@dataclass(frozen=True, slots=True)
class Draft:
    """A request as raised: kind, where, for whom, and what it asks for."""

    kind: RequestKind
    program_id: int | None
    partner_id: int | None
    conversion_id: int | None
    requested: RequestedValues
    comment: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Preview:
    changes: tuple[FieldChange, ...]
    revised: Revised


async def _visible_request(uow: UnitOfWork, viewer: Viewer, request_id: int, *, for_update: bool = False) -> ConversionRequest:
    stmt = select(conversion_requests.c.id).where(
        conversion_requests.c.id == request_id, visible(conversion_requests, viewer)
    )
    if await uow.first(stmt) is None:
        raise NotFound("conversion request", ("requestId",))
    request = await load_request(uow, request_id, for_update=for_update)
    assert request is not None
    return request


async def _program(uow: UnitOfWork, program_id: int) -> Program:
    row = await uow.first(select(programs).where(programs.c.id == program_id))
    assert row is not None
    return rows.program(row)


async def _resolve_target(uow: UnitOfWork, viewer: Viewer, draft: Draft) -> tuple[Program, int, Conversion | None]:
    """The program, the partner and (CHANGE_EXISTING) the conversion a draft is about, all
    through the viewer's visibility."""
    conversion: Conversion | None = None
    if draft.kind is RequestKind.CHANGE_EXISTING:
        if draft.conversion_id is None:
            raise DomainError("REQUIRED", "name the conversion to change", ("conversionId",))
        row = await uow.first(
            select(conversions).where(conversions.c.id == draft.conversion_id, visible(conversions, viewer))
        )
        if row is None:
            raise NotFound("conversion", ("conversionId",))
        conversion = rows.conversion(row)
        if conversion.paid:
            raise DomainError(
                "CONVERSION_PAID",
                f"conversion {conversion.order_id} is in a payout entry (paid) and can no longer change",
                ("conversionId",),
            )
        return await _program(uow, conversion.program_id), conversion.partner_id, conversion
    if draft.program_id is None:
        raise DomainError("REQUIRED", "name the program", ("programId",))
    if viewer.role is Role.PARTNER:
        if draft.partner_id not in (None, viewer.partner_id):
            raise NotFound("partner", ("partnerId",))
        partner_id = viewer.partner_id
    else:
        if draft.partner_id is None:
            raise DomainError("REQUIRED", "name the partner the request is for", ("partnerId",))
        partner_id = draft.partner_id
        if await uow.first(select(partners.c.id).where(partners.c.id == partner_id, visible(partners, viewer))) is None:
            raise NotFound("partner", ("partnerId",))
    assert partner_id is not None
    if await uow.first(select(programs.c.id).where(programs.c.id == draft.program_id, visible(programs, viewer))) is None:
        raise NotFound("program", ("programId",))
    status = await uow.conn.scalar(
        select(relationships.c.status).where(
            relationships.c.program_id == draft.program_id, relationships.c.partner_id == partner_id
        )
    )
    if status != RelationshipStatus.ACTIVE.value:
        raise DomainError(
            "NO_ACTIVE_RELATIONSHIP", "the partner has no active relationship with the program", ("programId",)
        )
    return await _program(uow, draft.program_id), partner_id, None


async def check_not_converted(uow: UnitOfWork, program: Program, revised: Revised) -> None:
    c = revised.conversion
    existing = await uow.first(
        select(conversions.c.id).where(
            conversions.c.program_id == program.id,
            conversions.c.order_id == c.order_id,
            conversions.c.target == c.target,
            conversions.c.category == c.category,
        )
    )
    if existing is not None:
        raise DomainError(
            "ORDER_ALREADY_CONVERTED",
            f"order {c.order_id} ({c.target}, {c.category}) is already conversion "
            f"{encode_id('Conversion', existing.id)}; raise a CHANGE_EXISTING request instead",
            ("requested", "orderId"),
        )


async def preview_draft(uow: UnitOfWork, viewer: Viewer, draft: Draft) -> Preview:
    """What accepting the draft would do; writes nothing. Every problem of the input is
    reported at once: value errors together with those of the program's keys."""
    value_errors: list[DomainError] = []
    try:
        check_values(draft.kind, draft.requested, uow.now)
    except ValidationFailed as failed:
        value_errors = failed.errors
    try:
        program, partner_id, conversion = await _resolve_target(uow, viewer, draft)
    except DomainError as error:
        if value_errors:
            raise ValidationFailed([*value_errors, error]) from None
        raise
    if value_errors:
        key_errors = await vocabulary_errors(uow, program, draft.requested, conversion)
        raise ValidationFailed([*value_errors, *key_errors])
    revised = await revise(uow, program, partner_id, draft.kind, draft.requested, conversion)
    if draft.kind is RequestKind.CHANGE_EXISTING and not revised.changes:
        raise DomainError(
            "NOTHING_TO_CHANGE", "the request changes nothing: the conversion has these values",
            ("requested",),
        )
    if draft.kind is RequestKind.CREATE_NEW:
        await check_not_converted(uow, program, revised)
    return Preview(revised.changes, revised)


async def preview_request(uow: UnitOfWork, viewer: Viewer, request_id: int) -> Preview:
    request = await _visible_request(uow, viewer, request_id)
    program = await _program(uow, request.program_id)
    conversion = None
    if request.conversion_id is not None and request.kind is RequestKind.CHANGE_EXISTING:
        row = await uow.first(select(conversions).where(conversions.c.id == request.conversion_id))
        conversion = rows.conversion(row) if row else None
    revised = await revise(uow, program, request.partner_id, request.kind, request.requested, conversion)
    return Preview(revised.changes, revised)


async def create_request(uow: UnitOfWork, viewer: Viewer, draft: Draft) -> ConversionRequest:
    if draft.idempotency_key is not None:
        known = await uow.first(
            select(conversion_requests.c.id).where(
                conversion_requests.c.created_by == viewer.user_id,
                conversion_requests.c.idempotency_key == draft.idempotency_key,
            )
        )
        if known is not None:
            return await _visible_request(uow, viewer, known.id)
    preview = await preview_draft(uow, viewer, draft)
    new = preview.revised.conversion
    conversion_id = draft.conversion_id if draft.kind is RequestKind.CHANGE_EXISTING else None
    key = open_key(draft.kind, new.program_id, conversion_id, (new.order_id, new.target, new.category))
    await _check_no_open_request(uow, key, draft.kind)
    requested = draft.requested
    if draft.kind is RequestKind.CREATE_NEW:
        # Stored complete, so the request shows what will be created.
        requested = RequestedValues(
            order_id=new.order_id, target=new.target, category=new.category,
            tracking_time=new.tracking_time, order_value=requested.order_value,
            currency=requested.currency or new.currency, status=new.status,
            commission=requested.commission, sub_ids=requested.sub_ids, device=requested.device,
            conversion_note=requested.conversion_note,
        )
    values = {
        "program_id": new.program_id,
        "partner_id": new.partner_id,
        "kind": draft.kind.value,
        "status": RequestStatus.INQUIRED.value,
        "conversion_id": conversion_id,
        **requested_columns(requested),
        "comment": check_comment(draft.comment, ("comment",)),
        **rating_columns(new.commission, new.currency, new.commission_model_name, new.commission_breakdown),
        "created_by": viewer.user_id,
        "created_at": uow.now,
        "updated_at": uow.now,
        "attempts": 0,
        "idempotency_key": draft.idempotency_key,
        "open_key": key,
    }
    try:
        async with uow.conn.begin_nested():
            request_id = await uow.insert(insert(conversion_requests).values(**values))
    except IntegrityError:
        # Another request for the same order or conversion was raised at the same moment.
        raise _open_request_error(draft.kind) from None
    request = await load_request(uow, request_id)
    assert request is not None
    return request


def _open_request_error(kind: RequestKind) -> DomainError:
    field = ("conversionId",) if kind is RequestKind.CHANGE_EXISTING else ("requested", "orderId")
    return DomainError(
        "OPEN_REQUEST_EXISTS",
        "an open request for this conversion or order exists already; comment on it or withdraw it",
        field,
    )


async def _check_no_open_request(uow: UnitOfWork, key: str, kind: RequestKind) -> None:
    if await uow.first(select(conversion_requests.c.id).where(conversion_requests.c.open_key == key)) is not None:
        raise _open_request_error(kind)


async def update_request(
    uow: UnitOfWork, viewer: Viewer, request_id: int, requested: RequestedValues, comment: str | None
) -> ConversionRequest:
    """The author amends an INQUIRED request; it is validated and rated again."""
    request = await _visible_request(uow, viewer, request_id, for_update=True)
    check_may_change(viewer, request, "update")
    merged = requested.merged_over(request.requested)
    draft = Draft(request.kind, request.program_id, request.partner_id, request.conversion_id, merged)
    preview = await preview_draft(uow, viewer, draft)
    new = preview.revised.conversion
    key = open_key(request.kind, new.program_id, request.conversion_id, (new.order_id, new.target, new.category))
    values = {
        **requested_columns(merged),
        **rating_columns(new.commission, new.currency, new.commission_model_name, new.commission_breakdown),
        "open_key": key,
        "updated_at": uow.now,
    }
    if comment is not None:
        values["comment"] = check_comment(comment, ("comment",))
    try:
        async with uow.conn.begin_nested():
            await uow.execute(
                update(conversion_requests)
                .where(conversion_requests.c.id == request_id)
                .values(**values)
            )
    except IntegrityError:
        raise _open_request_error(request.kind) from None
    updated = await load_request(uow, request_id)
    assert updated is not None
    return updated


async def withdraw_request(uow: UnitOfWork, viewer: Viewer, request_id: int) -> ConversionRequest:
    request = await _visible_request(uow, viewer, request_id)
    check_may_change(viewer, request, "withdraw")
    if not await move_status(uow, request_id, RequestStatus.INQUIRED, RequestStatus.WITHDRAWN):
        raise DomainError("ALREADY_DECIDED", "the request was decided meanwhile", ("requestId",))
    withdrawn = await load_request(uow, request_id)
    assert withdrawn is not None
    return withdrawn


async def comment_on_request(
    uow: UnitOfWork, viewer: Viewer, request_id: int, body: str, visibility: CommentVisibility
) -> int:
    await _visible_request(uow, viewer, request_id)
    check_comment_visibility(viewer, visibility)
    text = check_comment(body, ("body",))
    if not text:
        raise DomainError("BLANK", "the comment is empty", ("body",))
    return await uow.insert(
        insert(conversion_request_comments).values(
            request_id=request_id,
            author_id=viewer.user_id,
            visibility=visibility.value,
            body=text,
            created_at=uow.now,
        )
    )


async def decide_request(
    uow: UnitOfWork,
    viewer: Viewer,
    request_id: int,
    decision: Decision,
    conversion_note: str | None,
    reason: str | None,
) -> ConversionRequest:
    """Accept or reject. Of two deciders at once exactly one wins; an accepted request is
    processed by a job enqueued after the commit."""
    request = await _visible_request(uow, viewer, request_id)
    program = await _program(uow, request.program_id)
    check_may_decide(viewer, request, program.allow_self_acceptance)
    check_decision(request, decision, conversion_note, reason)
    if conversion_note is not None:
        from portal.adapters.tables import conversion_notes

        known = await uow.first(
            select(conversion_notes.c.id).where(
                conversion_notes.c.program_id == program.id, conversion_notes.c.code == conversion_note
            )
        )
        if known is None:
            raise DomainError(
                "UNKNOWN_CONVERSION_NOTE", f"{conversion_note!r} is not a conversion note of the program",
                ("conversionNote",),
            )
    moved = await move_status(
        uow,
        request_id,
        RequestStatus.INQUIRED,
        status_after(decision),
        decided_by=viewer.user_id,
        decided_at=uow.now,
        decision_note=conversion_note,
        decision_reason=check_comment(reason, ("reason",)),
    )
    if not moved:
        raise DomainError(
            "ALREADY_DECIDED", "another user decided (or the author withdrew) the request meanwhile",
            ("requestId",),
        )
    if decision is Decision.ACCEPT:
        _enqueue_processing(uow, request_id, attempt=request.attempts)
    decided = await load_request(uow, request_id)
    assert decided is not None
    return decided


def _enqueue_processing(uow: UnitOfWork, request_id: int, attempt: int) -> None:
    queue = uow.queue
    if queue is None:
        return

    async def enqueue() -> None:
        await queue.enqueue(PROCESS_JOB, request_id, job_id=f"request:{request_id}:{attempt}")

    uow.after_commit(enqueue)


async def retry_request(uow: UnitOfWork, viewer: Viewer, request_id: int) -> ConversionRequest:
    request = await _visible_request(uow, viewer, request_id)
    check_retry(viewer, request)
    if not await move_status(
        uow, request_id, RequestStatus.FAILED, RequestStatus.ACCEPTED, failure=None,
        open_key=open_key(request.kind, request.program_id, request.conversion_id,
                          (request.requested.order_id or "", request.requested.target or "",
                           request.requested.category or "")),
    ):
        raise DomainError("INVALID_STATE", "the request is no longer FAILED", ("requestId",))
    _enqueue_processing(uow, request_id, attempt=request.attempts)
    retried = await load_request(uow, request_id)
    assert retried is not None
    return retried


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    request_id: int | None
    request: ConversionRequest | None
    errors: list[DomainError]


async def decide_requests(
    uow: UnitOfWork,
    viewer: Viewer,
    decisions: Sequence[tuple[int | None, Decision, str | None, str | None, DomainError | None]],
) -> list[DecisionOutcome]:
    """Bulk decision: each in its own savepoint, one outcome per entry; a bad entry never
    stops the others."""
    outcomes = []
    for request_id, decision, note, reason, decode_error in decisions:
        if decode_error is not None or request_id is None:
            outcomes.append(DecisionOutcome(None, None, [decode_error or NotFound("conversion request")]))
            continue
        try:
            async with uow.conn.begin_nested():
                decided = await decide_request(uow, viewer, request_id, decision, note, reason)
            outcomes.append(DecisionOutcome(request_id, decided, []))
        except ValidationFailed as failed:
            outcomes.append(DecisionOutcome(request_id, None, failed.errors))
        except DomainError as error:
            outcomes.append(DecisionOutcome(request_id, None, [error]))
    return outcomes


def require_not_partner(viewer: Viewer) -> None:
    if viewer.role is Role.PARTNER:
        raise PermissionDenied("partners cannot do this")
