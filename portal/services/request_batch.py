"""Raising many conversion requests at once (file imports; `createConversionRequest` is a
batch of one): the checks of `create_request`, with lookups batched and inserts in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, tuple_
from sqlalchemy.exc import IntegrityError

from portal.adapters import rows
from portal.adapters.request_store import open_key, rating_columns, requested_columns
from portal.adapters.tables import conversion_requests, conversions, partners, programs
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import visible
from portal.domain.access import Role, Viewer
from portal.domain.conversions import Conversion
from portal.domain.errors import DomainError, NotFound, ValidationFailed
from portal.domain.partners import RelationshipStatus
from portal.domain.programs import Program
from portal.domain.requests import RequestedValues, RequestKind, RequestStatus, check_comment, check_values
from portal.global_ids import encode_id
from portal.services.request_revision import Revised, revise
from portal.services.requests import Draft
from portal.services.revision_cache import cache_of


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


class _Scope:
    """Programs, partners and conversions the viewer may use, looked up once per batch."""

    def __init__(self, uow: UnitOfWork, viewer: Viewer) -> None:
        self.uow = uow
        self.viewer = viewer
        self.programs: dict[int, Program | None] = {}
        self.partners: dict[int, bool] = {}
        self.conversions: dict[int, Conversion | None] = {}

    async def program(self, program_id: int) -> Program:
        if program_id not in self.programs:
            row = await self.uow.first(
                select(programs).where(programs.c.id == program_id, visible(programs, self.viewer))
            )
            self.programs[program_id] = rows.program(row) if row else None
        found = self.programs[program_id]
        if found is None:
            raise NotFound("program", ("programId",))
        return found

    async def partner_visible(self, partner_id: int) -> bool:
        if partner_id not in self.partners:
            row = await self.uow.first(
                select(partners.c.id).where(partners.c.id == partner_id, visible(partners, self.viewer))
            )
            self.partners[partner_id] = row is not None
        return self.partners[partner_id]

    async def preload_conversions(self, ids: set[int]) -> None:
        missing = ids - self.conversions.keys()
        if not missing:
            return
        found = {
            r.id: rows.conversion(r)
            for r in await self.uow.conn.execute(
                select(conversions).where(conversions.c.id.in_(missing), visible(conversions, self.viewer))
            )
        }
        for i in missing:
            self.conversions[i] = found.get(i)


async def _resolve(scope: _Scope, draft: Draft) -> tuple[Program, int, Conversion | None]:
    viewer = scope.viewer
    if draft.kind is RequestKind.CHANGE_EXISTING:
        if draft.conversion_id is None:
            raise DomainError("REQUIRED", "name the conversion to change", ("conversionId",))
        await scope.preload_conversions({draft.conversion_id})
        conversion = scope.conversions.get(draft.conversion_id)
        if conversion is None:
            raise NotFound("conversion", ("conversionId",))
        if conversion.paid:
            raise DomainError(
                "CONVERSION_PAID",
                f"conversion {conversion.order_id} is in a payout entry (paid) and can no longer change",
                ("conversionId",),
            )
        return await scope.program(conversion.program_id), conversion.partner_id, conversion
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
        if not await scope.partner_visible(partner_id):
            raise NotFound("partner", ("partnerId",))
    assert partner_id is not None
    program = await scope.program(draft.program_id)
    relationship = await cache_of(scope.uow).relationship(program.id, partner_id)
    if relationship is None or relationship[0] != RelationshipStatus.ACTIVE.value:
        raise DomainError(
            "NO_ACTIVE_RELATIONSHIP", "the partner has no active relationship with the program", ("programId",)
        )
    return program, partner_id, None


def _stored_requested(draft: Draft, revised: Revised) -> RequestedValues:
    if draft.kind is not RequestKind.CREATE_NEW:
        return draft.requested
    new, asked = revised.conversion, draft.requested
    # Stored complete, so a CREATE_NEW request shows exactly what will be created.
    return RequestedValues(
        order_id=new.order_id, target=new.target, category=new.category,
        tracking_time=new.tracking_time, order_value=asked.order_value,
        currency=asked.currency or new.currency, status=new.status, commission=asked.commission,
        sub_ids=asked.sub_ids, device=asked.device, conversion_note=asked.conversion_note,
    )


async def create_requests(
    uow: UnitOfWork, viewer: Viewer, drafts: Sequence[Draft], *, dry_run: bool = False
) -> list[Outcome]:
    """One outcome per draft, in order. Valid drafts are inserted together (unless dry_run);
    an invalid one never affects the others."""
    outcomes = [Outcome() for _ in drafts]
    scope = _Scope(uow, viewer)
    await scope.preload_conversions({d.conversion_id for d in drafts if d.conversion_id is not None})
    known = await _known_idempotency_keys(uow, viewer, drafts)
    checked: list[_Checked] = []
    for index, draft in enumerate(drafts):
        if draft.idempotency_key is not None and draft.idempotency_key in known:
            outcomes[index] = Outcome(request_id=known[draft.idempotency_key], existing=True)
            continue
        try:
            check_values(draft.kind, draft.requested, uow.now)
            check_comment(draft.comment, ("comment",))
            program, partner_id, conversion = await _resolve(scope, draft)
            revised = await revise(uow, program, partner_id, draft.kind, draft.requested, conversion)
        except ValidationFailed as failed:
            outcomes[index].errors.extend(failed.errors)
            continue
        except DomainError as error:
            outcomes[index].errors.append(error)
            continue
        new = revised.conversion
        key = open_key(draft.kind, program.id, draft.conversion_id, (new.order_id, new.target, new.category))
        checked.append(_Checked(index, draft, revised, key, conversion.id if conversion else None))
        outcomes[index].revised = revised

    await _refuse_converted_orders(uow, checked, outcomes)
    await _refuse_open_duplicates(uow, checked, outcomes)
    valid = [c for c in checked if not outcomes[c.index].errors]
    if dry_run or not valid:
        return outcomes
    values = [_row(uow, viewer, c) for c in valid]
    stmt = insert(conversion_requests).returning(conversion_requests.c.id, sort_by_parameter_order=True)
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
                outcomes[c.index].errors.append(_open_request_error(c.draft.kind))
    for c, request_id in zip(valid, ids, strict=True):
        outcomes[c.index].request_id = request_id
    return outcomes


def _open_request_error(kind: RequestKind) -> DomainError:
    return DomainError(
        "OPEN_REQUEST_EXISTS",
        "an open request for this conversion or order exists already; comment on it or withdraw it",
        ("conversionId",) if kind is RequestKind.CHANGE_EXISTING else ("requested", "orderId"),
    )


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
        **rating_columns(new.commission, new.currency, new.commission_model_name, new.commission_breakdown),
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


async def _known_idempotency_keys(uow: UnitOfWork, viewer: Viewer, drafts: Sequence[Draft]) -> dict[str, int]:
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


async def _refuse_converted_orders(uow: UnitOfWork, checked: list[_Checked], outcomes: list[Outcome]) -> None:
    creating = [c for c in checked if c.draft.kind is RequestKind.CREATE_NEW]
    if not creating:
        return
    keys = {(c.revised.conversion.program_id, c.revised.conversion.order_id, c.revised.conversion.target,
             c.revised.conversion.category) for c in creating}
    existing: dict[tuple[int, str, str, str], int] = {}
    key_list = list(keys)
    cols = conversions.c
    for start in range(0, len(key_list), 400):
        for r in await uow.conn.execute(
            select(cols.id, cols.program_id, cols.order_id, cols.target, cols.category).where(
                tuple_(cols.program_id, cols.order_id, cols.target, cols.category).in_(key_list[start : start + 400])
            )
        ):
            existing[(r.program_id, r.order_id, r.target, r.category)] = r.id
    for c in creating:
        new = c.revised.conversion
        found = existing.get((new.program_id, new.order_id, new.target, new.category))
        if found is not None:
            outcomes[c.index].errors.append(DomainError(
                "ORDER_ALREADY_CONVERTED",
                f"order {new.order_id} ({new.target}, {new.category}) is already conversion "
                f"{encode_id('Conversion', found)}; raise a CHANGE_EXISTING request instead",
                ("requested", "orderId"),
            ))


async def _refuse_open_duplicates(uow: UnitOfWork, checked: list[_Checked], outcomes: list[Outcome]) -> None:
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
            outcomes[c.index].errors.append(_open_request_error(c.draft.kind))
        elif c.key in seen:
            outcomes[c.index].errors.append(DomainError(
                "DUPLICATE_IN_BATCH", "an earlier row asks for the same conversion or order", ("requested", "orderId"),
            ))
        seen.add(c.key)
