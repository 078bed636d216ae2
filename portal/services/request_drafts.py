"""Checking a request as raised (a draft): where it points, whether its values make sense,
and what the conversion would become. Preview, create, update and file imports all check a
draft here, so they accept and refuse exactly the same things."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from portal.adapters import request_keys, rows
from portal.adapters.request_keys import OrderKey
from portal.adapters.tables import conversions, partners, programs
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import visible
from portal.domain.access import Role, Viewer
from portal.domain.conversions import Conversion, FieldChange
from portal.domain.errors import DomainError, NotFound, ValidationFailed
from portal.domain.partners import RelationshipStatus
from portal.domain.programs import Program
from portal.domain.requests import RequestedValues, RequestKind, check_values
from portal.global_ids import encode_id
from portal.services.request_revision import Revised, revise, vocabulary_errors
from portal.services.revision_cache import cache_of

_ACTIVE = RelationshipStatus.ACTIVE.value


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
                select(conversions).where(
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
            if conversion.paid:
                raise DomainError(
                    "CONVERSION_PAID",
                    f"conversion {conversion.order_id} is in a payout entry (paid) and can no "
                    "longer change",
                    ("conversionId",),
                )
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
        relationship = await cache_of(self.uow).relationship(program.id, partner_id)
        if relationship is None or relationship[0] != _ACTIVE:
            raise DomainError(
                "NO_ACTIVE_RELATIONSHIP",
                "the partner has no active relationship with the program",
                ("programId",),
            )
        return program, partner_id, None


async def check_draft(scope: DraftScope, draft: Draft) -> Revised:
    """Every problem of the draft at once (values, target, keys), else what the conversion
    would become. Whether the order is converted or has an open request is checked by the
    caller, for a whole batch at once (`orders_converted`, `open_keys_taken`)."""
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


def order_key(revised: Revised) -> OrderKey:
    c = revised.conversion
    return (c.program_id, c.order_id, c.target, c.category)


async def orders_converted(uow: UnitOfWork, keys: Iterable[OrderKey]) -> dict[OrderKey, int]:
    """The conversions that exist for these (program, order id, target, category)."""
    return await request_keys.orders_converted(uow.conn, list(keys))


def converted_error(key: OrderKey, conversion_id: int | None) -> DomainError:
    """`conversion_id`: named when whoever reads the error may see that conversion (an order
    tracked for another partner is no business of this one)."""
    _, order_id, target, category = key
    which = f" {encode_id('Conversion', conversion_id)}" if conversion_id is not None else ""
    return DomainError(
        "ORDER_ALREADY_CONVERTED",
        f"order {order_id} ({target}, {category}) is already conversion{which}; raise a "
        "CHANGE_EXISTING request instead",
        ("requested", "orderId"),
    )


async def converted_errors(
    uow: UnitOfWork, viewer: Viewer, keys: Iterable[OrderKey]
) -> dict[OrderKey, DomainError]:
    """ORDER_ALREADY_CONVERTED for each of `keys` that is a conversion, naming the conversion
    only where `viewer` may see it."""
    found = await orders_converted(uow, keys)
    shown = await request_keys.visible_conversions(uow.conn, viewer, list(found.values()))
    return {
        key: converted_error(key, conversion_id if conversion_id in shown else None)
        for key, conversion_id in found.items()
    }


def open_request_error(kind: RequestKind) -> DomainError:
    return DomainError(
        "OPEN_REQUEST_EXISTS",
        "an open request for this conversion or order exists already; comment on it or withdraw it",
        ("conversionId",) if kind is RequestKind.CHANGE_EXISTING else ("requested", "orderId"),
    )


async def preview_draft(uow: UnitOfWork, viewer: Viewer, draft: Draft) -> Preview:
    """What accepting the draft would do; writes nothing."""
    revised = await check_draft(DraftScope(uow, viewer), draft)
    if draft.kind is RequestKind.CREATE_NEW:
        key = order_key(revised)
        if error := (await converted_errors(uow, viewer, [key])).get(key):
            raise error
    return Preview(revised.changes, revised)
