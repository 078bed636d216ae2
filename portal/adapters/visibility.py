"""Who sees what (SPEC §2), as SQL predicates. Every read — lists, `node(id:)`, nested fields,
exports, jobs — filters through one of these, so an object outside the viewer's scope reads
exactly like one that does not exist."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    Table,
    and_,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from portal.adapters.tables import (
    advertiser_invoices,
    advertisers,
    api_tokens,
    billing_runs,
    commission_models,
    conversion_reassignments,
    conversion_request_comments,
    conversion_requests,
    conversion_revisions,
    conversions,
    invoice_lines,
    jobs,
    partners,
    payout_entries,
    payout_entry_lines,
    programs,
    relationships,
    statistics_daily,
    statistics_daily_programs,
    users,
    webhook_endpoints,
)
from portal.domain.access import Role, Viewer


def _advertiser_programs(viewer: Viewer) -> ColumnElement[bool]:
    return programs.c.advertiser_id == viewer.advertiser_id


def _program_ids_of_advertiser(viewer: Viewer):  # type: ignore[no-untyped-def]
    return select(programs.c.id).where(_advertiser_programs(viewer)).scalar_subquery()


class InIds(ColumnElement[bool]):
    """`column IN (ids)` for a subquery of a few ids (an advertiser's programs). PostgreSQL
    gets `column = ANY(ARRAY(ids))`: the ids are read once per statement and the index
    condition takes them directly, where `IN` plans a join (a program's count of 70,000
    conversions: 5 ms instead of 9 ms; its first page 0.14 ms instead of 0.47 ms)."""

    inherit_cache = True
    _is_implicitly_boolean = True  # no `= 1` where booleans are not native (SQLite)
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy's own declaration is a list)
        ("column", InternalTraversal.dp_clauseelement),
        ("ids", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], ids: Any) -> None:
        self.column = column
        self.ids = ids

    @property
    def _from_objects(self) -> list[Any]:
        # The column's table, as `column.in_(…)` names it: a statement whose only mention of
        # the table is this predicate still selects FROM it.
        return list(self.column._from_objects)


@compiles(InIds)
def _in_ids(element: InIds, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column.in_(element.ids), **kw))


@compiles(InIds, "postgresql")
def _any_of_ids(element: InIds, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY(ARRAY{compiler.process(element.ids, **kw)})"


def _in_programs_of_advertiser(column: ColumnElement[Any], viewer: Viewer) -> InIds:
    return InIds(column, _program_ids_of_advertiser(viewer))


def _program_ids_of_partner(viewer: Viewer):  # type: ignore[no-untyped-def]
    return (
        select(relationships.c.program_id)
        .where(relationships.c.partner_id == viewer.partner_id)
        .scalar_subquery()
    )


def visible(table: Table, viewer: Viewer) -> ColumnElement[bool]:
    """The predicate restricting `table` to the rows `viewer` may see."""
    if viewer.role is Role.ADMIN:
        return true()
    rule = _RULES.get(table.name)
    if rule is None:
        return false()
    return rule(viewer)


def _advertisers(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.role is Role.ADVERTISER:
        return advertisers.c.id == viewer.advertiser_id
    # A partner sees the advertisers of the programs it sees.
    return advertisers.c.id.in_(select(programs.c.advertiser_id).where(_programs(viewer)))


def _programs(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.role is Role.ADVERTISER:
        return _advertiser_programs(viewer)
    # A partner sees the programs it has a relationship with (any status: it applied, works
    # there, or was rejected or blocked) and the publicly listed ones, which it may apply to.
    return or_(programs.c.id.in_(_program_ids_of_partner(viewer)), programs.c.publicly_listed)


def own_programs_first(viewer: Viewer) -> list[ColumnElement[bool]]:
    """An ordering that puts, for a partner, the programs of its relationships before those it
    sees only because they are publicly listed (names in its files mean its own programs)."""
    if viewer.role is not Role.PARTNER:
        return []
    return [programs.c.id.not_in(_program_ids_of_partner(viewer))]


def _partners(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.role is Role.PARTNER:
        return partners.c.id == viewer.partner_id
    # An advertiser sees the partners that applied to or work with its programs.
    return partners.c.id.in_(
        select(relationships.c.partner_id).where(
            _in_programs_of_advertiser(relationships.c.program_id, viewer)
        )
    )


def _relationships(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.role is Role.PARTNER:
        return relationships.c.partner_id == viewer.partner_id
    return _in_programs_of_advertiser(relationships.c.program_id, viewer)


def _commission_models(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.role is Role.PARTNER:
        # A partner sees the models its own relationships use, never the others of a program.
        return commission_models.c.id.in_(
            select(relationships.c.commission_model_id).where(
                relationships.c.partner_id == viewer.partner_id
            )
        )
    return _in_programs_of_advertiser(commission_models.c.program_id, viewer)


def _conversions(viewer: Viewer) -> ColumnElement[bool]:
    return _conversion_scope(conversions, viewer)


def _statistics_daily(viewer: Viewer) -> ColumnElement[bool]:
    """The rollup's sums of conversions: exactly the conversions the viewer sees."""
    return _conversion_scope(statistics_daily, viewer)


def _statistics_daily_programs(viewer: Viewer) -> ColumnElement[bool]:
    """Sums over all partners of a program: its advertiser's (a partner sees only its own)."""
    if viewer.role is Role.PARTNER:
        return false()
    return _in_programs_of_advertiser(statistics_daily_programs.c.program_id, viewer)


def _conversion_scope(table: Table, viewer: Viewer) -> ColumnElement[bool]:
    """A partner sees its own conversions; an advertiser those of its programs."""
    if viewer.role is Role.PARTNER:
        return table.c.partner_id == viewer.partner_id
    return _in_programs_of_advertiser(table.c.program_id, viewer)


def _conversion_revisions(viewer: Viewer) -> ColumnElement[bool]:
    """The revisions of visible conversions. A partner sees a conversion that moved to it from
    the revision of the move on (the move's revision lists its values from nothing): what it
    was under another partner is that partner's business."""
    rule = conversion_revisions.c.conversion_id.in_(
        select(conversions.c.id).where(_conversions(viewer))
    )
    if viewer.role is not Role.PARTNER:
        return rule
    r = conversion_reassignments.c
    moved_at = (
        select(func.max(r.revision))
        .where(r.conversion_id == conversion_revisions.c.conversion_id)
        .scalar_subquery()
    )
    return and_(rule, conversion_revisions.c.number >= func.coalesce(moved_at, 1))


def _conversion_reassignments(viewer: Viewer) -> ColumnElement[bool]:
    """A partner sees the reassignments of its former conversions (its own former commission,
    never who claimed them); the advertiser those of its programs."""
    r = conversion_reassignments.c
    if viewer.role is Role.PARTNER:
        return r.from_partner_id == viewer.partner_id
    return _in_programs_of_advertiser(r.program_id, viewer)


def _users(viewer: Viewer) -> ColumnElement[bool]:
    return users.c.id == viewer.user_id


def _api_tokens(viewer: Viewer) -> ColumnElement[bool]:
    return api_tokens.c.user_id == viewer.user_id


def _conversion_requests(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.role is Role.PARTNER:
        return conversion_requests.c.partner_id == viewer.partner_id
    return _in_programs_of_advertiser(conversion_requests.c.program_id, viewer)


def _comments(viewer: Viewer) -> ColumnElement[bool]:
    # Partners never see internal comments, not even on their own requests.
    requests = select(conversion_requests.c.id).where(_conversion_requests(viewer))
    rule = conversion_request_comments.c.request_id.in_(requests)
    if viewer.role is Role.PARTNER:
        return and_(rule, conversion_request_comments.c.visibility == "SHARED")
    return rule


def _jobs(viewer: Viewer) -> ColumnElement[bool]:
    # Exports and imports hold data of their author's scope: only the author sees them.
    return jobs.c.created_by == viewer.user_id


# -- billing (issue 11) -----------------------------------------------------------------------


def _billing_runs(viewer: Viewer) -> ColumnElement[bool]:
    # A run holds every partner's amounts of its programs: its author (an advertiser who
    # started it for its programs) and admins see it.
    return billing_runs.c.created_by == viewer.user_id


def _payout_entries(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.role is Role.PARTNER:
        return payout_entries.c.partner_id == viewer.partner_id
    # An advertiser sees the entries with lines of its programs (and of those only the lines).
    return payout_entries.c.id.in_(
        select(payout_entry_lines.c.entry_id).where(
            _in_programs_of_advertiser(payout_entry_lines.c.program_id, viewer)
        )
    )


def _payout_entry_lines(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.role is Role.PARTNER:
        return payout_entry_lines.c.entry_id.in_(
            select(payout_entries.c.id).where(payout_entries.c.partner_id == viewer.partner_id)
        )
    return _in_programs_of_advertiser(payout_entry_lines.c.program_id, viewer)


def _advertiser_invoices(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.role is Role.PARTNER:
        return false()
    return advertiser_invoices.c.advertiser_id == viewer.advertiser_id


def _invoice_lines(viewer: Viewer) -> ColumnElement[bool]:
    return invoice_lines.c.invoice_id.in_(
        select(advertiser_invoices.c.id).where(_advertiser_invoices(viewer))
    )


# -- events and webhooks (issue 15) -----------------------------------------------------------


def _webhook_endpoints(viewer: Viewer) -> ColumnElement[bool]:
    # A partner's endpoints belong to the partner, an advertiser's to the advertiser (any of
    # its users manages them); an admin's are the admins'.
    if viewer.role is Role.PARTNER:
        return webhook_endpoints.c.partner_id == viewer.partner_id
    return webhook_endpoints.c.advertiser_id == viewer.advertiser_id


EVENT_OBJECT_TABLES: dict[str, Table] = {
    "conversion_request": conversion_requests,
    "comment": conversion_request_comments,
    "conversion": conversions,
    "conversion_reassignment": conversion_reassignments,
    "job": jobs,
    "billing_run": billing_runs,
    "payout_entry": payout_entries,
    "advertiser_invoice": advertiser_invoices,
}


def event_object_visible(object_kind: str, object_id: int, viewer: Viewer) -> Select[tuple[int]]:
    """Selects the event's object if `viewer` may see it: an event goes to those who may read
    its object, through the same rules as every read (a partner's endpoint never receives an
    INTERNAL comment, another partner's request or someone else's import)."""
    table = EVENT_OBJECT_TABLES[object_kind]
    return select(table.c.id).where(table.c.id == object_id, visible(table, viewer))


_RULES = {
    "advertisers": _advertisers,
    "programs": _programs,
    "partners": _partners,
    "relationships": _relationships,
    "commission_models": _commission_models,
    "conversions": _conversions,
    "statistics_daily": _statistics_daily,
    "statistics_daily_programs": _statistics_daily_programs,
    "conversion_revisions": _conversion_revisions,
    "conversion_reassignments": _conversion_reassignments,
    "users": _users,
    "api_tokens": _api_tokens,
    "conversion_requests": _conversion_requests,
    "conversion_request_comments": _comments,
    "jobs": _jobs,
    "billing_runs": _billing_runs,
    "payout_entries": _payout_entries,
    "payout_entry_lines": _payout_entry_lines,
    "advertiser_invoices": _advertiser_invoices,
    "invoice_lines": _invoice_lines,
    "webhook_endpoints": _webhook_endpoints,
}
