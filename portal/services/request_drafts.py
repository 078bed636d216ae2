"""Checking a request as raised (a draft): where it points, whether its values make sense,
and what the conversion would become. Preview, create, update and file imports all check a
draft here, so they accept and refuse exactly the same things.

A CREATE_NEW request for an order that tracking recorded for another partner is an
**attribution claim**: it is raised like any other (INQUIRED), and neither raising nor
previewing it tells the claiming partner whether the order exists or whether another partner
has a request for it. Whoever may see the claimed conversion (its advertiser, admins) sees the
claim against it (`OrderState`, `claim_preview`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from portal.adapters import request_keys, rows
from portal.adapters.conversion_store import with_invoice_status
from portal.adapters.request_keys import OrderConversion, OrderId
from portal.adapters.tables import conversions, partners, programs
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import visible
from portal.domain.access import Role, Viewer
from portal.domain.conversions import Conversion, FieldChange, check_conversion_may_change
from portal.domain.errors import DomainError, NotFound, ValidationFailed
from portal.domain.programs import Program, TargetKind
from portal.domain.requests import RequestedValues, RequestKind, check_values
from portal.global_ids import encode_id
from portal.services.request_revision import Revised, reassigned, revise, vocabulary_errors
from portal.services.revision_cache import cache_of


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


class DraftScope:
    """The programs, partners and conversions the viewer may use, each looked up once (a file
    of 10,000 rows for one program asks for the program once)."""

    def __init__(self, uow: UnitOfWork, viewer: Viewer) -> None:
        self.uow = uow
        self.viewer = viewer
        self._programs: dict[int, Program | None] = {}
        self._partners: dict[int, bool] = {}
        self._conversions: dict[int, Conversion | None] = {}

    async def program(self, program_id: int) -> Program:
        if program_id not in self._programs:
            row = await self.uow.first(
                select(programs).where(programs.c.id == program_id, visible(programs, self.viewer))
            )
            self._programs[program_id] = rows.program(row) if row else None
        found = self._programs[program_id]
        if found is None:
            raise NotFound("program", ("programId",))
        return found

    async def _partner_visible(self, partner_id: int) -> bool:
        if partner_id not in self._partners:
            row = await self.uow.first(
                select(partners.c.id).where(
                    partners.c.id == partner_id, visible(partners, self.viewer)
                )
            )
            self._partners[partner_id] = row is not None
        return self._partners[partner_id]

    def loaded_conversion(self, conversion_id: int) -> Conversion | None:
        """A conversion `preload_conversions` loaded (None: not visible, or not loaded)."""
        return self._conversions.get(conversion_id)

    def forget_conversions(self) -> None:
        """A scope kept over many batches forgets each batch's conversions."""
        self._conversions.clear()

    async def preload_conversions(self, ids: Iterable[int]) -> None:
        missing = set(ids) - self._conversions.keys()
        if not missing:
            return
        found = {
            r.id: rows.conversion(r)
            for r in await self.uow.conn.execute(
                with_invoice_status().where(
                    conversions.c.id.in_(missing), visible(conversions, self.viewer)
                )
            )
        }
        for i in missing:
            self._conversions[i] = found.get(i)

    async def resolve(self, draft: Draft) -> tuple[Program, int, Conversion | None]:
        """The program, the partner and (CHANGE_EXISTING) the conversion a draft is about."""
        if draft.kind is RequestKind.CHANGE_EXISTING:
            if draft.conversion_id is None:
                raise DomainError("REQUIRED", "name the conversion to change", ("conversionId",))
            await self.preload_conversions([draft.conversion_id])
            conversion = self._conversions.get(draft.conversion_id)
            if conversion is None:
                raise NotFound("conversion", ("conversionId",))
            check_conversion_may_change(conversion)
            return await self.program(conversion.program_id), conversion.partner_id, conversion
        if draft.program_id is None:
            raise DomainError("REQUIRED", "name the program", ("programId",))
        if self.viewer.role is Role.PARTNER:
            if draft.partner_id not in (None, self.viewer.partner_id):
                raise NotFound("partner", ("partnerId",))
            partner_id = self.viewer.partner_id
        else:
            if draft.partner_id is None:
                raise DomainError("REQUIRED", "name the partner the request is for", ("partnerId",))
            partner_id = draft.partner_id
            if not await self._partner_visible(partner_id):
                raise NotFound("partner", ("partnerId",))
        assert partner_id is not None
        program = await self.program(draft.program_id)
        if not await cache_of(self.uow).earns(program.id, partner_id):
            raise DomainError(
                "NO_ACTIVE_RELATIONSHIP",
                "the partner has no active relationship with the program",
                ("programId",),
            )
        return program, partner_id, None


async def check_draft(scope: DraftScope, draft: Draft) -> Revised:
    """Every problem of the draft at once (values, target, keys), else what the conversion
    would become. What the order already is (`order_states`) and whether an open request
    holds its key (`open_keys_taken`) is checked by the caller, for a whole batch at once."""
    uow = scope.uow
    value_errors: list[DomainError] = []
    try:
        check_values(draft.kind, draft.requested, uow.now)
    except ValidationFailed as failed:
        value_errors = failed.errors
    try:
        program, partner_id, conversion = await scope.resolve(draft)
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
            "NOTHING_TO_CHANGE",
            "the request changes nothing: the conversion has these values",
            ("requested",),
        )
    return revised


def order_of(revised: Revised) -> OrderId:
    c = revised.conversion
    return (c.program_id, c.order_id)


@dataclass(frozen=True, slots=True)
class OrderState:
    """What the order of a CREATE_NEW draft already is, for the draft's partner: `error` when
    that partner has the order's conversion of this kind already (ORDER_ALREADY_CONVERTED);
    `claimed` when the order is another partner's (the conversion of the draft's kind, else
    the order's other one): the draft is an attribution claim against it."""

    error: DomainError | None = None
    claimed: int | None = None


def order_state(
    found: Sequence[OrderConversion], partner_id: int, kind: TargetKind, order_id: str
) -> OrderState:
    own = [c for c in found if c.partner_id == partner_id]
    others = [c for c in found if c.partner_id != partner_id]
    same_kind = next((c for c in own if c.target_kind is kind), None)
    if same_kind is not None:
        return OrderState(error=converted_error(order_id, kind, same_kind.id))
    if others:
        claimed = next((c for c in others if c.target_kind is kind), others[0])
        return OrderState(claimed=claimed.id)
    return OrderState()


async def order_states(
    uow: UnitOfWork, drafts: Sequence[tuple[OrderId, int, TargetKind]]
) -> list[OrderState]:
    """The `OrderState` of each (order, partner, target kind), with one lookup for all."""
    found = await request_keys.conversions_of_orders(uow.conn, [order for order, _, _ in drafts])
    return [
        order_state(found.get(order, ()), partner_id, kind, order[1])
        for order, partner_id, kind in drafts
    ]


def converted_error(order_id: str, kind: TargetKind, conversion_id: int) -> DomainError:
    """The partner has this order's conversion already (it may see it: it is its own)."""
    return DomainError(
        "ORDER_ALREADY_CONVERTED",
        f"order {order_id} is already your conversion {encode_id('Conversion', conversion_id)} "
        f"({kind.value.lower()}); raise a CHANGE_EXISTING request to change it",
        ("requested", "orderId"),
    )


def open_request_error(kind: RequestKind) -> DomainError:
    return DomainError(
        "OPEN_REQUEST_EXISTS",
        "you have an open request for this conversion or order already; comment on it, amend "
        "it or withdraw it",
        ("conversionId",) if kind is RequestKind.CHANGE_EXISTING else ("requested", "orderId"),
    )


async def claim_preview(
    uow: UnitOfWork, viewer: Viewer, revised: Revised, claimed: int | None
) -> Preview:
    """What accepting a CREATE_NEW request would do: for a viewer who may see the claimed
    conversion, that conversion moving to the request's partner; for anyone else (the claiming
    partner) the conversion being created — the same answer as for an order nobody has."""
    if claimed is not None:
        scope = DraftScope(uow, viewer)
        await scope.preload_conversions([claimed])
        conversion = scope.loaded_conversion(claimed)
        if conversion is not None:
            program = await scope.program(conversion.program_id)
            new = revised.conversion
            moved = await reassigned(uow, program, conversion, new.partner_id, _asked(revised))
            return Preview(moved.changes, moved)
    return Preview(revised.changes, revised)


def _asked(revised: Revised) -> RequestedValues:
    new = revised.conversion
    return RequestedValues(sub_ids=tuple(new.sub_ids), device=new.device)


async def preview_draft(uow: UnitOfWork, viewer: Viewer, draft: Draft) -> Preview:
    """What accepting the draft would do; writes nothing."""
    revised = await check_draft(DraftScope(uow, viewer), draft)
    if draft.kind is not RequestKind.CREATE_NEW:
        return Preview(revised.changes, revised)
    new = revised.conversion
    (state,) = await order_states(uow, [(order_of(revised), new.partner_id, new.target_kind)])
    if state.error is not None:
        raise state.error
    return await claim_preview(uow, viewer, revised, state.claimed)
