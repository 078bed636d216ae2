"""The filter of the small lists (advertisers, programs, partners, commission models) as SQL.

Every field of the filter works on every list it is offered on, each in the sense that list
gives it; the subqueries that follow relationships and programs are scoped by the viewer's
visibility too, so a filter naming another tenant's program reveals nothing about it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, and_, func, select

from portal.adapters.tables import advertisers, commission_models, partners, programs, relationships
from portal.adapters.visibility import visible
from portal.domain.access import Viewer
from portal.domain.errors import DomainError

# SQLite refuses LIKE patterns over 50,000 bytes; nobody types a name that long.
MAX_SEARCH_LENGTH = 100


@dataclass(frozen=True, slots=True)
class NamedFilter:
    """Filter of the small lists (advertisers, programs, partners, commission models)."""

    search: str | None = None
    program_ids: tuple[int, ...] = ()
    advertiser_ids: tuple[int, ...] = ()


def name_contains(column: ColumnElement[str], search: str) -> ColumnElement[bool]:
    """Case-insensitive substring match; `%`, `_` and `\\` in the search are literal."""
    if len(search) > MAX_SEARCH_LENGTH:
        raise DomainError(
            "TOO_LONG", f"a search has at most {MAX_SEARCH_LENGTH} characters", ("filter", "search")
        )
    escaped = search.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
    return func.lower(column).like(f"%{escaped.lower()}%", escape="\\")


def _visible_programs(viewer: Viewer, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(visible(programs, viewer), *conditions)


def _partners_in(viewer: Viewer, program_condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """Partners with a (visible) relationship to a program matching the condition."""
    return partners.c.id.in_(
        select(relationships.c.partner_id)
        .join(programs, programs.c.id == relationships.c.program_id)
        .where(visible(relationships, viewer), program_condition)
    )


_ByIds = Callable[[Viewer, Sequence[int]], ColumnElement[bool]]

# kind -> (table, programIds condition, advertiserIds condition)
_LISTS: dict[str, tuple[Table, _ByIds, _ByIds]] = {
    "Program": (
        programs,
        lambda viewer, ids: programs.c.id.in_(ids),
        lambda viewer, ids: programs.c.advertiser_id.in_(ids),
    ),
    "Advertiser": (
        advertisers,
        lambda viewer, ids: advertisers.c.id.in_(
            select(programs.c.advertiser_id).where(
                _visible_programs(viewer, programs.c.id.in_(ids))
            )
        ),
        lambda viewer, ids: advertisers.c.id.in_(ids),
    ),
    "Partner": (
        partners,
        lambda viewer, ids: _partners_in(viewer, programs.c.id.in_(ids)),
        lambda viewer, ids: _partners_in(viewer, programs.c.advertiser_id.in_(ids)),
    ),
    "CommissionModel": (
        commission_models,
        lambda viewer, ids: commission_models.c.program_id.in_(ids),
        lambda viewer, ids: commission_models.c.program_id.in_(
            select(programs.c.id).where(
                _visible_programs(viewer, programs.c.advertiser_id.in_(ids))
            )
        ),
    ),
}


def named_conditions(kind: str, filter: NamedFilter, viewer: Viewer) -> list[ColumnElement[bool]]:
    """The filter's conditions on the list of `kind` (visibility is applied by the caller)."""
    table, by_programs, by_advertisers = _LISTS[kind]
    conditions: list[ColumnElement[bool]] = []
    if filter.search is not None:
        conditions.append(name_contains(table.c.name, filter.search))
    if filter.program_ids:
        conditions.append(by_programs(viewer, filter.program_ids))
    if filter.advertiser_ids:
        conditions.append(by_advertisers(viewer, filter.advertiser_ids))
    return conditions
