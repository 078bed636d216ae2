"""Loading objects for a write, through the same visibility rules as every read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Row

from portal.adapters.tables import programs
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import visible
from portal.domain.access import Role, Viewer
from portal.domain.errors import NotFound, PermissionDenied


async def visible_row(
    uow: UnitOfWork, viewer: Viewer, table: Table, pk: int, what: str, field: tuple[str, ...]
) -> Row[Any]:
    """The row, or NotFound when it does not exist or the viewer may not see it."""
    row = await uow.first(select(table).where(table.c.id == pk, visible(table, viewer)))
    if row is None:
        raise NotFound(what, field)
    return row


async def managed_program(
    uow: UnitOfWork, viewer: Viewer, program_id: int, field: tuple[str, ...]
) -> Row[Any]:
    """A program the viewer may manage: an admin, or a user of the program's advertiser."""
    row = await visible_row(uow, viewer, programs, program_id, "program", field)
    if viewer.role is Role.PARTNER:
        raise PermissionDenied("partners cannot manage programs", field)
    return row


def require_admin(viewer: Viewer, field: tuple[str, ...] = ()) -> None:
    if not viewer.is_admin:
        raise PermissionDenied("only admins may do this", field)
