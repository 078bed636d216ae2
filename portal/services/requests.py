"""Conversion requests: raise, amend, withdraw, comment, preview, decide, retry (SPEC §6).
GraphiQL, bulk mutations and file imports all come through here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import rows
from portal.adapters.event_payloads import record_comment_event, record_request_events
from portal.adapters.request_store import (
    load_request,
    move_request,
    open_key,
    rating_columns,
    requested_columns,
)
from portal.adapters.tables import (
    conversion_notes,
    conversion_request_comments,
    conversion_requests,
    programs,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import visible
from portal.domain.access import Role, Viewer
from portal.domain.conversions import check_conversion_may_change
from portal.domain.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from portal.domain.programs import Program
from portal.domain.requests import (
    CommentVisibility,
    ConversionRequest,
    Decision,
    Mover,
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
from portal.services.claims import settle_competitors
from portal.services.request_drafts import (
    Draft,
    DraftScope,
    Preview,
    claim_preview,
    open_request_error,
    order_of,
    order_states,
    preview_draft,
)
from portal.services.request_revision import revise

PROCESS_JOB = "process_conversion_request"
IMPORT_KEY_PREFIX = "import:"
"""Idempotency keys of requests raised from a file (`import:<file>:<row>`)."""


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
    """What accepting the saved request would do now, as the viewer may know it: a change
    request against the conversion as it is (as the viewer sees it: none once it moved to
    another partner), an attribution claim as the claimed conversion moving (for those who
    may see that conversion) or as a creation (for the claiming partner)."""
    request = await _visible_request(uow, viewer, request_id)
    scope = DraftScope(uow, viewer)
    program = await scope.program(request.program_id)
    if request.kind is RequestKind.CHANGE_EXISTING:
        assert request.conversion_id is not None
        await scope.preload_conversions([request.conversion_id])
        conversion = scope.loaded_conversion(request.conversion_id)
        if conversion is None:
            raise NotFound("conversion", ("conversionId",))
        revised = await revise(
            uow, program, request.partner_id, request.kind, request.requested, conversion
        )
        return Preview(revised.changes, revised)
    revised = await revise(uow, program, request.partner_id, request.kind, request.requested, None)
    return await claim_preview(uow, viewer, revised, request.conversion_id)


async def preview_without_saving(
    engine: AsyncEngine, viewer: Viewer, request_id: int | None, draft: Draft | None
) -> Preview:
    """`previewConversionRequest` and `ConversionRequest.preview`: the preview of a saved
    request or of a draft (give one), in a unit of work that is never committed."""
    async with UnitOfWork(engine) as uow:
        if (request_id is None) == (draft is None):
            raise DomainError("INVALID_INPUT", "give either requestId or draft", ("requestId",))
        if request_id is not None:
            return await preview_request(uow, viewer, request_id)
        assert draft is not None
        return await preview_draft(uow, viewer, draft)


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
    """The author amends an INQUIRED request; it is validated, rated and checked against its
    order again (an amended CREATE_NEW may become, or stop being, an attribution claim)."""
    request = await _visible_request(uow, viewer, request_id, for_update=True)
    check_may_change(viewer, request, "update")
    merged = requested.merged_over(request.requested)
    draft = Draft(
        request.kind, request.program_id, request.partner_id, request.conversion_id, merged
    )
    from portal.services.request_drafts import check_draft

    revised = await check_draft(DraftScope(uow, viewer), draft)
    new = revised.conversion
    conversion_id = request.conversion_id
    if request.kind is RequestKind.CREATE_NEW:
        (state,) = await order_states(uow, [(order_of(revised), new.partner_id, new.target_kind)])
        if state.error is not None:
            raise state.error
        conversion_id = state.claimed
    key = open_key(
        request.kind, new.program_id, conversion_id, new.partner_id, (new.order_id, new.target_kind)
    )
    values = {
        **requested_columns(merged),
        **rating_columns(
            new.commission, new.currency, new.commission_model_name, new.commission_breakdown
        ),
        "conversion_id": conversion_id,
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
    await record_request_events(uow, [request_id], "conversion_request.updated")
    updated = await load_request(uow, request_id)
    assert updated is not None
    return updated


async def withdraw_request(uow: UnitOfWork, viewer: Viewer, request_id: int) -> ConversionRequest:
    """The author withdraws an INQUIRED request. A request raised from a file gives its row's
    idempotency key back: uploading the file again raises it again."""
    request = await _visible_request(uow, viewer, request_id)
    check_may_change(viewer, request, "withdraw")
    release: dict[str, None] = {}
    key = await uow.conn.scalar(
        select(conversion_requests.c.idempotency_key).where(conversion_requests.c.id == request_id)
    )
    if key is not None and key.startswith(IMPORT_KEY_PREFIX):
        release["idempotency_key"] = None
    if not await move_request(
        uow,
        request_id,
        RequestStatus.INQUIRED,
        RequestStatus.WITHDRAWN,
        mover=Mover.AUTHOR,
        actor_user_id=viewer.user_id,
        action="withdrawn",
        **release,
    ):
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
    comment_id = await uow.insert(
        insert(conversion_request_comments).values(
            request_id=request_id,
            author_id=viewer.user_id,
            visibility=visibility.value,
            body=text,
            created_at=uow.now,
        )
    )
    await record_comment_event(uow, request_id, comment_id, visibility.value, text)
    return comment_id


async def _check_conversion_note(uow: UnitOfWork, program: Program, note: str | None) -> None:
    if note is None:
        return
    known = await uow.first(
        select(conversion_notes.c.id).where(
            conversion_notes.c.program_id == program.id, conversion_notes.c.code == note
        )
    )
    if known is None:
        raise DomainError(
            "UNKNOWN_CONVERSION_NOTE",
            f"{note!r} is not a conversion note of the program",
            ("conversionNote",),
        )


async def _check_conversion_changeable(
    uow: UnitOfWork, viewer: Viewer, request: ConversionRequest
) -> None:
    """Accepting needs a conversion that may still change: the one a change request is about,
    or the one a claim would move (the decider sees it)."""
    if request.conversion_id is None:
        return
    scope = DraftScope(uow, viewer)
    await scope.preload_conversions([request.conversion_id])
    conversion = scope.loaded_conversion(request.conversion_id)
    if conversion is not None:
        check_conversion_may_change(conversion, ("requestId",))


async def decide_request(
    uow: UnitOfWork,
    viewer: Viewer,
    request_id: int,
    decision: Decision,
    conversion_note: str | None,
    reason: str | None,
) -> ConversionRequest:
    """Accept or reject. Of two deciders at once exactly one wins; an accepted request is
    processed by a job enqueued after the commit. Accepting a CREATE_NEW request settles its
    order: the other partners' INQUIRED requests for it are rejected (`settle_competitors`)."""
    request = await _visible_request(uow, viewer, request_id)
    program = await _program(uow, request.program_id)
    check_may_decide(viewer, request, program.allow_self_acceptance)
    check_decision(request, decision, conversion_note, reason)
    await _check_conversion_note(uow, program, conversion_note)
    accepting = decision is Decision.ACCEPT
    if accepting:
        await _check_conversion_changeable(uow, viewer, request)
        if request.kind is RequestKind.CREATE_NEW:
            await settle_competitors(uow, request)
    moved = await move_request(
        uow,
        request_id,
        RequestStatus.INQUIRED,
        status_after(decision),
        mover=Mover.DECIDER,
        actor_user_id=viewer.user_id,
        note=check_comment(reason, ("reason",)),
        action="decided",
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
    if accepting:
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
    """A decider queues a FAILED request again; the retry is kept in its history (who, when)
    with the failure it had."""
    request = await _visible_request(uow, viewer, request_id)
    check_retry(viewer, request)
    # A FAILED request still holds its open key (FAILED is open): nobody took it meanwhile.
    if not await move_request(
        uow,
        request_id,
        RequestStatus.FAILED,
        RequestStatus.ACCEPTED,
        mover=Mover.DECIDER,
        actor_user_id=viewer.user_id,
        action="retried",
        failure=None,
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
