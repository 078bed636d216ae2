"""Raising many conversion requests at once (file imports; `createConversionRequest` is a
batch of one): the checks of `create_request`, with lookups batched and inserts in bulk.

Checking and inserting are two steps, so a file import can check the next batch while the
previous one is being written; `create_requests` runs both in one unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from portal.adapters.bulk_insert import insert_rows
from portal.adapters.event_payloads import record_request_events
from portal.adapters.request_keys import idempotency_keys_used, open_keys_taken
from portal.adapters.request_store import open_key
from portal.adapters.tables import conversion_requests
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.conversions import ConversionStatus
from portal.domain.errors import DomainError, ValidationFailed
from portal.domain.requests import RequestKind, RequestStatus, check_comment
from portal.services.request_drafts import (
    Draft,
    DraftScope,
    check_draft,
    open_request_error,
    order_of,
    order_states,
)
from portal.services.request_revision import Revised


@dataclass(slots=True)
class Outcome:
    """What became of one draft: created (with the new request's id, unless the caller did not
    ask for ids), or errors; `existing` when an earlier call with the same idempotency key
    created it already (`request_id` is that request). `open_key` is the key the request holds
    (or would hold) while open, once the draft passed its own checks."""

    request_id: int | None = None
    errors: list[DomainError] = field(default_factory=list)
    existing: bool = False
    created: bool = False
    revised: Revised | None = None
    open_key: str | None = None


@dataclass(slots=True)
class _Checked:
    index: int
    draft: Draft
    revised: Revised
    key: str
    conversion_id: int | None


@dataclass(slots=True)
class CheckedRequests:
    """A checked batch: an outcome per draft, in order; the drafts without errors may be
    inserted."""

    viewer: Viewer
    outcomes: list[Outcome]
    _passed: list[_Checked]  # the drafts that passed their own checks

    def refuse(self, index: int, error: DomainError) -> None:
        """Replaces the errors of draft `index` with `error`; it will not be inserted."""
        self.outcomes[index].errors[:] = [error]

    def _valid(self) -> list[_Checked]:
        return [c for c in self._passed if not self.outcomes[c.index].errors]


async def create_requests(
    uow: UnitOfWork, viewer: Viewer, drafts: Sequence[Draft], *, dry_run: bool = False
) -> list[Outcome]:
    """One outcome per draft, in order. Valid drafts are inserted together (unless dry_run);
    an invalid one never affects the others."""
    checked = await check_drafts(uow, viewer, drafts)
    await refuse_taken_keys(uow, checked)
    if not dry_run:
        await insert_requests(uow, checked)
    return checked.outcomes


async def check_drafts(
    uow: UnitOfWork,
    viewer: Viewer,
    drafts: Sequence[Draft],
    scope: DraftScope | None = None,
    *,
    unused_idempotency_keys: bool = False,
) -> CheckedRequests:
    """The checks of each draft on its own (and whether its idempotency key was used). `scope`
    (of `uow` and `viewer`) may be kept from an earlier batch, with the programs and partners
    it has looked up. `unused_idempotency_keys`: the caller knows that no request carries any
    of the drafts' idempotency keys (a file nobody uploaded before): they are not looked up."""
    outcomes = [Outcome() for _ in drafts]
    scope = scope or DraftScope(uow, viewer)
    await scope.preload_conversions(
        {d.conversion_id for d in drafts if d.conversion_id is not None}
    )
    known = {} if unused_idempotency_keys else await _known_idempotency_keys(uow, viewer, drafts)
    checked: list[_Checked] = []
    for index, draft in enumerate(drafts):
        outcome = outcomes[index]
        if draft.idempotency_key is not None and draft.idempotency_key in known:
            outcome.request_id, outcome.existing = known[draft.idempotency_key], True
            continue
        try:
            check_comment(draft.comment, ("comment",))
            revised = await check_draft(scope, draft)
        except ValidationFailed as failed:
            outcome.errors.extend(failed.errors)
            continue
        except DomainError as error:
            outcome.errors.append(error)
            continue
        new = revised.conversion
        conversion_id = draft.conversion_id if draft.kind is RequestKind.CHANGE_EXISTING else None
        key = open_key(
            draft.kind,
            new.program_id,
            conversion_id,
            new.partner_id,
            (new.order_id, new.target_kind),
        )
        checked.append(_Checked(index, draft, revised, key, conversion_id))
        outcome.revised, outcome.open_key = revised, key
    return CheckedRequests(viewer, outcomes, checked)


async def refuse_taken_keys(uow: UnitOfWork, checked: CheckedRequests) -> dict[str, str | None]:
    """The checks against other requests and conversions, for the whole batch at once: an
    order that is the partner's conversion already, an open request of the partner for the
    same order or conversion, and the same order or conversion twice in the batch (an order
    that is another partner's makes the draft an attribution claim). Answers the open keys
    found taken, each with the idempotency key of the request holding it."""
    await _check_orders(uow, checked._passed, checked.outcomes)
    return await _refuse_open_duplicates(uow, checked._passed, checked.outcomes)


async def insert_requests(uow: UnitOfWork, checked: CheckedRequests, *, ids: bool = True) -> None:
    """Inserts the insertable drafts of `checked`, marking their outcomes created (with the
    new ids unless `ids` is False). A request raised concurrently for the same order or
    conversion (after the check) makes only that draft fail, with OPEN_REQUEST_EXISTS."""
    valid = checked._valid()
    if not valid:
        return
    rows = [_row(uow, checked.viewer, c) for c in valid]
    outcomes = [checked.outcomes[c.index] for c in valid]
    try:
        new_ids = await insert_rows(uow.conn, conversion_requests, _COLUMNS, rows, ids=ids)
    except IntegrityError:
        for c, row, outcome in zip(valid, rows, outcomes, strict=True):
            try:
                one = await insert_rows(uow.conn, conversion_requests, _COLUMNS, [row], ids=ids)
            except IntegrityError:
                outcome.errors.append(open_request_error(c.draft.kind))
            else:
                outcome.created, outcome.request_id = True, one[0] if ids else None
                if ids:
                    await record_request_events(uow, one, "conversion_request.created")
        return
    for index, outcome in enumerate(outcomes):
        outcome.created = True
        if ids:
            outcome.request_id = new_ids[index]
    if ids:
        # Requests raised from a file (ids=False) are announced by the import's event.
        await record_request_events(uow, new_ids, "conversion_request.created")


# The columns a new request gets values for; the rest (decision, failure, processing) start
# out NULL.
_COLUMNS = (
    "program_id", "partner_id", "kind", "status", "conversion_id", "order_id", "target",
    "category", "tracking_time", "order_value", "currency", "requested_status",
    "requested_commission", "sub_ids", "device", "conversion_note", "comment", "commission",
    "commission_currency", "commission_model_name", "commission_breakdown", "created_by",
    "created_at", "updated_at", "attempts", "idempotency_key", "open_key",
)  # fmt: skip
_INQUIRED = RequestStatus.INQUIRED.value


def _row(uow: UnitOfWork, viewer: Viewer, c: _Checked) -> list[Any]:
    """The values of `_COLUMNS` for a checked draft."""
    new, draft = c.revised.conversion, c.draft
    asked = draft.requested
    sub_ids = list(asked.sub_ids) if asked.sub_ids is not None else None
    comment = check_comment(draft.comment, ("comment",))
    order_id: str | None
    target: str | None
    category: str | None
    tracking_time: datetime | None
    currency: str | None
    status: ConversionStatus | None
    if draft.kind is RequestKind.CREATE_NEW:
        # Stored complete, so a CREATE_NEW request shows exactly what will be created.
        order_id, target, category = new.order_id, new.target, new.category
        tracking_time, currency, status = (
            new.tracking_time,
            asked.currency or new.currency,
            new.status,
        )
    else:
        order_id, target, category = asked.order_id, asked.target, asked.category
        tracking_time, currency, status = asked.tracking_time, asked.currency, asked.status
    return [
        new.program_id, new.partner_id, draft.kind.value, _INQUIRED, c.conversion_id, order_id,
        target, category, tracking_time, asked.order_value, currency,
        status.value if status else None, asked.commission, sub_ids, asked.device,
        asked.conversion_note, comment, new.commission, new.currency, new.commission_model_name,
        new.commission_breakdown, viewer.user_id, uow.now, uow.now, 0, draft.idempotency_key,
        c.key,
    ]  # fmt: skip


async def _known_idempotency_keys(
    uow: UnitOfWork, viewer: Viewer, drafts: Sequence[Draft]
) -> dict[str, int]:
    keys = [d.idempotency_key for d in drafts if d.idempotency_key is not None]
    return await idempotency_keys_used(uow.conn, viewer.user_id, keys) if keys else {}


async def _check_orders(uow: UnitOfWork, checked: list[_Checked], outcomes: list[Outcome]) -> None:
    """ORDER_ALREADY_CONVERTED where the partner has the order already; the claimed
    conversion where another partner has it (the claim is raised like any request)."""
    creating = [c for c in checked if c.draft.kind is RequestKind.CREATE_NEW]
    if not creating:
        return
    states = await order_states(
        uow,
        [
            (order_of(c.revised), c.revised.conversion.partner_id, c.revised.conversion.target_kind)
            for c in creating
        ],
    )
    for c, state in zip(creating, states, strict=True):
        if state.error is not None:
            outcomes[c.index].errors.append(state.error)
        c.conversion_id = state.claimed


async def _refuse_open_duplicates(
    uow: UnitOfWork, checked: list[_Checked], outcomes: list[Outcome]
) -> dict[str, str | None]:
    taken = await open_keys_taken(uow.conn, [c.key for c in checked])
    seen: set[str] = set()
    for c in checked:
        if c.key in taken:
            outcomes[c.index].errors.append(open_request_error(c.draft.kind))
        elif c.key in seen:
            outcomes[c.index].errors.append(duplicate_in_file_error(c.draft.kind))
        seen.add(c.key)
    return taken


def duplicate_in_file_error(kind: RequestKind) -> DomainError:
    return DomainError(
        "DUPLICATE_IN_BATCH",
        "an earlier row asks for the same conversion or order",
        ("conversionId",) if kind is RequestKind.CHANGE_EXISTING else ("requested", "orderId"),
    )
