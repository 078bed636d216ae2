"""A program's vocabularies: tracking categories, conversion targets and conversion notes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.exc import IntegrityError

from portal.adapters import rows
from portal.adapters.tables import conversion_notes, conversion_targets, tracking_categories
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.errors import DomainError
from portal.domain.programs import (
    ConversionNote,
    ConversionTarget,
    TargetKind,
    TrackingCategory,
    default_target_kind,
    validate_key,
    validate_name,
)
from portal.services.scope import managed_program


async def create_tracking_category(
    uow: UnitOfWork, viewer: Viewer, *, program_id: int, key: str, name: str, active: bool = True
) -> TrackingCategory:
    await managed_program(uow, viewer, program_id, ("programId",))
    row = await _insert_keyed(
        uow,
        tracking_categories,
        program_id,
        key,
        "DUPLICATE_KEY",
        name=validate_name(name),
        active=active,
    )
    return rows.tracking_category(row)


async def create_conversion_target(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    program_id: int,
    key: str,
    name: str,
    active: bool = True,
    kind: TargetKind | None = None,
) -> ConversionTarget:
    await managed_program(uow, viewer, program_id, ("programId",))
    row = await _insert_keyed(
        uow,
        conversion_targets,
        program_id,
        key,
        "DUPLICATE_KEY",
        name=validate_name(name),
        active=active,
        kind=(kind or default_target_kind(key)).value,
    )
    return rows.conversion_target(row)


async def create_conversion_note(
    uow: UnitOfWork, viewer: Viewer, *, program_id: int, code: str, text: str
) -> ConversionNote:
    await managed_program(uow, viewer, program_id, ("programId",))
    row = await _insert_keyed(
        uow,
        conversion_notes,
        program_id,
        code,
        "DUPLICATE_CODE",
        text=validate_name(text, ("text",), max_length=500),
    )
    return rows.conversion_note(row)


async def _insert_keyed(
    uow: UnitOfWork,
    table: Table,
    program_id: int,
    raw_key: str,
    duplicate_code: str,
    **values: Any,
) -> Any:
    """Inserts an entry whose key (`key`, or `code` for notes) is unique in its program. Keys
    differing only in case count as the same: files and requests name them by hand."""
    column = "code" if "code" in table.c else "key"
    key = validate_key(raw_key, (column,))
    duplicate = DomainError(
        duplicate_code, f"the program already has the {column} {key!r}", (column,)
    )
    taken = await uow.first(
        select(table.c.id).where(
            table.c.program_id == program_id, func.lower(table.c[column]) == key.lower()
        )
    )
    if taken is not None:
        raise duplicate
    try:
        pk = await uow.insert(
            insert(table).values(program_id=program_id, **{column: key}, **values)
        )
    except IntegrityError:
        # A concurrent call inserted the same key between the check and the insert.
        raise duplicate from None
    row = await uow.first(select(table).where(table.c.id == pk))
    assert row is not None
    return row
