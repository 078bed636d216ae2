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
    programs,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import visible
from portal.domain.access import Role, Viewer
from portal.domain.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
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
    status_after,
)
from portal.services.request_drafts import Draft, Preview, open_request_error, preview_draft
from portal.services.request_revision import revise

PROCESS_JOB = "process_conversion_request"


async def _visible_request(
    uow: UnitOfWork, viewer: Viewer, request_id: int, *, for_update: bool = False
) -> ConversionRequest:
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


async def preview_request(uow: UnitOfWork, viewer: Viewer, request_id: int) -> Preview:
    request = await _visible_request(uow, viewer, request_id)
    program = await _program(uow, request.program_id)
    conversion = None
    if request.conversion_id is not None and request.kind is RequestKind.CHANGE_EXISTING:
        row = await uow.first(select(conversions).where(conversions.c.id == request.conversion_id))
        conversion = rows.conversion(row) if row else None
    revised = await revise(
        uow, program, request.partner_id, request.kind, request.requested, conversion
    )
    return Preview(revised.changes, revised)


async def create_request(uow: UnitOfWork, viewer: Viewer, draft: Draft) -> ConversionRequest:
    """Raise one request: a batch of one through `create_requests`, the path file imports
    take too. A repeated idempotency key answers with the first call's request."""
    from portal.services.request_batch import create_requests

    (outcome,) = await create_requests(uow, viewer, [draft])
    if len(outcome.errors) == 1:
        raise outcome.errors[0]
    if outcome.errors:
        raise ValidationFailed(outcome.errors)
    assert outcome.request_id is not None
    return await _visible_request(uow, viewer, outcome.request_id)


async def update_request(
    uow: UnitOfWork,
    viewer: Viewer,
    request_id: int,
    requested: RequestedValues,
    comment: str | None,
) -> ConversionRequest:
    """The author amends an INQUIRED request; it is validated and rated again."""
    request = await _visible_request(uow, viewer, request_id, for_update=True)
    check_may_change(viewer, request, "update")
    merged = requested.merged_over(request.requested)
    draft = Draft(
        request.kind, request.program_id, request.partner_id, request.conversion_id, merged
    )
    new = (await preview_draft(uow, viewer, draft)).revised.conversion
    key = open_key(
        request.kind,
        new.program_id,
        request.conversion_id,
        (new.order_id, new.target, new.category),
    )
    values = {
        **requested_columns(merged),
        **rating_columns(
            new.commission, new.currency, new.commission_model_name, new.commission_breakdown
        ),
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
        raise open_request_error(request.kind) from None
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
                conversion_notes.c.program_id == program.id,
                conversion_notes.c.code == conversion_note,
            )
        )
        if known is None:
            raise DomainError(
                "UNKNOWN_CONVERSION_NOTE",
                f"{conversion_note!r} is not a conversion note of the program",
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
            "ALREADY_DECIDED",
            "another user decided (or the author withdrew) the request meanwhile",
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
        uow,
        request_id,
        RequestStatus.FAILED,
        RequestStatus.ACCEPTED,
        failure=None,
        open_key=open_key(
            request.kind,
            request.program_id,
            request.conversion_id,
            (
                request.requested.order_id or "",
                request.requested.target or "",
                request.requested.category or "",
            ),
        ),
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
            outcomes.append(
                DecisionOutcome(None, None, [decode_error or NotFound("conversion request")])
            )
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
