"""Read model: every read of the API goes through a `Reader` bound to one viewer, and every
statement it runs is scoped by `portal.adapters.visibility`. Each call opens its own short
connection, so concurrent GraphQL resolvers never share one."""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, Table, and_, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from portal.adapters import rows
from portal.adapters.job_store import job_from_row
from portal.adapters.named_filters import NamedFilter, named_conditions
from portal.adapters.pagination import Page, PageRequest, SortKey, fetch_page
from portal.adapters.request_store import request_from_row
from portal.adapters.tables import (
    advertisers,
    api_tokens,
    commission_models,
    commission_periods,
    commission_rates,
    conversion_notes,
    conversion_reassignments,
    conversion_requests,
    conversion_revisions,
    conversion_targets,
    conversions,
    import_errors,
    jobs,
    partners,
    programs,
    relationships,
    tracking_categories,
    users,
)
from portal.adapters.visibility import visible
from portal.domain.access import Viewer
from portal.domain.commission import CommissionModel
from portal.domain.conversions import ConversionRevision, ConversionStatus
from portal.domain.jobs import ALREADY_IMPORTED, EXPORT_KINDS, JobKind
from portal.domain.partners import RelationshipStatus

T = TypeVar("T")


class SortDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


class ConversionSortField(enum.Enum):
    TRACKING_TIME = "tracking_time"
    ORDER_VALUE = "order_value"
    COMMISSION = "commission"
    CREATED_AT = "created_at"


@dataclass(frozen=True, slots=True)
class ConversionFilter:
    program_ids: tuple[int, ...] = ()
    partner_ids: tuple[int, ...] = ()
    statuses: tuple[ConversionStatus, ...] = ()
    tracked_from: datetime | None = None  # inclusive
    tracked_to: datetime | None = None  # exclusive
    order_id: str | None = None
    categories: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RelationshipFilter:
    program_ids: tuple[int, ...] = ()
    partner_ids: tuple[int, ...] = ()
    statuses: tuple[RelationshipStatus, ...] = ()


def scope_conditions(
    table: Table, filter: ConversionFilter | RelationshipFilter
) -> list[ColumnElement[bool]]:
    """The program, partner and status conditions both filters share (an empty tuple: any)."""
    c = table.c
    conditions: list[ColumnElement[bool]] = []
    if filter.program_ids:
        conditions.append(c.program_id.in_(filter.program_ids))
    if filter.partner_ids:
        conditions.append(c.partner_id.in_(filter.partner_ids))
    if filter.statuses:
        conditions.append(c.status.in_([s.value for s in filter.statuses]))
    return conditions


def conversion_conditions(filter: ConversionFilter) -> list[ColumnElement[bool]]:
    """The filter as SQL conditions (the list, exports and file exports share it)."""
    c = conversions.c
    conditions = scope_conditions(conversions, filter)
    if filter.tracked_from is not None:
        conditions.append(c.tracking_time >= filter.tracked_from)
    if filter.tracked_to is not None:
        conditions.append(c.tracking_time < filter.tracked_to)
    if filter.order_id is not None:
        conditions.append(c.order_id == filter.order_id)
    if filter.categories:
        conditions.append(c.category.in_(filter.categories))
    if filter.targets:
        conditions.append(c.target.in_(filter.targets))
    return conditions


_SIMPLE: dict[str, tuple[Table, Callable[[Row[Any]], Any]]] = {
    "Advertiser": (advertisers, rows.advertiser),
    "Program": (programs, rows.program),
    "Partner": (partners, rows.partner),
    "Relationship": (relationships, rows.relationship),
    "Conversion": (conversions, rows.conversion),
    "User": (users, rows.user),
    "ApiToken": (api_tokens, rows.api_token),
    "ConversionRequest": (conversion_requests, request_from_row),
    "ExportJob": (jobs, job_from_row),
    "ImportJob": (jobs, job_from_row),
    "ConversionReassignment": (conversion_reassignments, rows.reassignment),
}
# Objects scoped through their program: visible when the program is.
_IN_PROGRAM: dict[str, tuple[Table, Callable[[Row[Any]], Any]]] = {
    "TrackingCategory": (tracking_categories, rows.tracking_category),
    "ConversionTarget": (conversion_targets, rows.conversion_target),
    "ConversionNote": (conversion_notes, rows.conversion_note),
}
# Ids of one table that name different kinds of object.
_KIND_CONDITIONS: dict[str, ColumnElement[bool]] = {
    "ExportJob": jobs.c.kind.in_([kind.value for kind in EXPORT_KINDS]),
    "ImportJob": jobs.c.kind.in_(
        [JobKind.IMPORT_CONVERSION_REQUESTS.value, JobKind.IMPORT_SALES_VALIDATION.value]
    ),
}
NODE_KINDS = frozenset(
    [
        *_SIMPLE,
        *_IN_PROGRAM,
        "CommissionModel",
        "CommissionPeriod",
        "RequestComment",
        # billing (portal.adapters.billing_reader)
        "BillingRun",
        "PayoutEntry",
        "AdvertiserInvoice",
    ]
)


@dataclass(slots=True)
class Listing:
    """One page of a list plus a way to count the whole filtered list when asked."""

    page: Page[Any]
    count: Callable[[], Any]


def counter(engine: AsyncEngine, table: Table, where: ColumnElement[bool]) -> Callable[[], Any]:
    """Counts the rows of `table` matching `where`, only when asked (totalCount is lazy)."""

    async def count() -> int:
        async with engine.connect() as conn:
            total = await conn.scalar(select(func.count()).select_from(table).where(where))
        return int(total or 0)

    return count


async def page_listing(
    engine: AsyncEngine,
    stmt: Select[Any],
    key: SortKey,
    page: PageRequest,
    build: Callable[[Row[Any]], Any],
    table: Table,
    where: ColumnElement[bool],
) -> Listing:
    """One keyset page of `stmt` plus the lazy count of `table` rows matching `where` (the
    same rows `stmt` selects)."""
    async with engine.connect() as conn:
        result = await fetch_page(conn, stmt, key, page, build)
    return Listing(result, counter(engine, table, where))


class Reader:
    def __init__(self, engine: AsyncEngine, viewer: Viewer) -> None:
        self.engine = engine
        self.viewer = viewer

    # -- by id ---------------------------------------------------------------------------------

    async def get_many(self, kind: str, ids: Sequence[int]) -> list[Any | None]:
        """The objects of `kind` with these ids, in order; None where missing or not visible."""
        found: dict[int, Any]
        if kind == "CommissionModel":
            found = await self._commission_models(ids)
        elif kind == "CommissionPeriod":
            found = await self._commission_periods(ids)
        elif kind == "RequestComment":
            from portal.adapters.request_reader import RequestReader

            found = await RequestReader(self.engine, self.viewer).comments_by_id(ids)
        elif kind in ("BillingRun", "PayoutEntry", "AdvertiserInvoice"):
            from portal.adapters.billing_reader import BillingReader

            found = await BillingReader(self.engine, self.viewer).by_id(kind, ids)
        elif kind in _IN_PROGRAM:
            table, build = _IN_PROGRAM[kind]
            stmt = (
                select(table)
                .join(programs, programs.c.id == table.c.program_id)
                .where(table.c.id.in_(set(ids)), visible(programs, self.viewer))
            )
            async with self.engine.connect() as conn:
                found = {r.id: build(r) for r in await conn.execute(stmt)}
        else:
            table, build = _SIMPLE[kind]
            stmt = select(table).where(table.c.id.in_(set(ids)), visible(table, self.viewer))
            if kind in _KIND_CONDITIONS:
                stmt = stmt.where(_KIND_CONDITIONS[kind])
            async with self.engine.connect() as conn:
                found = {r.id: build(r) for r in await conn.execute(stmt)}
        return [found.get(i) for i in ids]

    async def _commission_models(
        self, ids: Sequence[int] | None = None, where: ColumnElement[bool] | None = None
    ) -> dict[int, CommissionModel]:
        stmt = select(commission_models).where(visible(commission_models, self.viewer))
        if ids is not None:
            stmt = stmt.where(commission_models.c.id.in_(set(ids)))
        if where is not None:
            stmt = stmt.where(where)
        async with self.engine.connect() as conn:
            model_rows = (await conn.execute(stmt)).all()
            model_ids = [r.id for r in model_rows]
            period_rows = (
                await conn.execute(
                    select(commission_periods)
                    .where(commission_periods.c.model_id.in_(model_ids))
                    .order_by(commission_periods.c.valid_from)
                )
            ).all()
            periods_by_id = await _periods_with_rates(conn, period_rows)
        periods = defaultdict(list)
        for p in period_rows:
            periods[p.model_id].append(periods_by_id[p.id])
        return {m.id: rows.commission_model(m, tuple(periods[m.id])) for m in model_rows}

    async def _commission_periods(self, ids: Sequence[int]) -> dict[int, Any]:
        """Periods of visible commission models, with their rates."""
        async with self.engine.connect() as conn:
            period_rows = (
                await conn.execute(
                    select(commission_periods)
                    .join(
                        commission_models, commission_models.c.id == commission_periods.c.model_id
                    )
                    .where(
                        commission_periods.c.id.in_(set(ids)),
                        visible(commission_models, self.viewer),
                    )
                )
            ).all()
            return await _periods_with_rates(conn, period_rows)

    async def program_vocabulary(self, kind: str, program_ids: Sequence[int]) -> list[list[Any]]:
        """Tracking categories, conversion targets or conversion notes of visible programs."""
        table, build, order = {
            "categories": (tracking_categories, rows.tracking_category, tracking_categories.c.key),
            "targets": (conversion_targets, rows.conversion_target, conversion_targets.c.key),
            "notes": (conversion_notes, rows.conversion_note, conversion_notes.c.code),
        }[kind]
        stmt = (
            select(table)
            .join(programs, programs.c.id == table.c.program_id)
            .where(table.c.program_id.in_(set(program_ids)), visible(programs, self.viewer))
            .order_by(order)
        )
        grouped: dict[int, list[Any]] = defaultdict(list)
        async with self.engine.connect() as conn:
            for r in await conn.execute(stmt):
                grouped[r.program_id].append(build(r))
        return [grouped[i] for i in program_ids]

    async def program_commission_models(self, program_ids: Sequence[int]) -> list[list[Any]]:
        found = await self._commission_models(
            where=commission_models.c.program_id.in_(set(program_ids))
        )
        grouped: dict[int, list[CommissionModel]] = defaultdict(list)
        for model in sorted(found.values(), key=lambda m: m.name):
            grouped[model.program_id].append(model)
        return [grouped[i] for i in program_ids]

    async def conversion_history(
        self, conversion_ids: Sequence[int]
    ) -> list[list[ConversionRevision]]:
        stmt = (
            select(conversion_revisions)
            .where(
                conversion_revisions.c.conversion_id.in_(set(conversion_ids)),
                visible(conversion_revisions, self.viewer),
            )
            .order_by(conversion_revisions.c.conversion_id, conversion_revisions.c.number)
        )
        grouped: dict[int, list[ConversionRevision]] = defaultdict(list)
        async with self.engine.connect() as conn:
            for r in await conn.execute(stmt):
                grouped[r.conversion_id].append(rows.conversion_revision(r))
        return [grouped[i] for i in conversion_ids]

    # -- lists ---------------------------------------------------------------------------------

    async def _listing(
        self,
        table: Table,
        conditions: list[ColumnElement[bool]],
        key: SortKey,
        page: PageRequest,
        build: Callable[[Row[Any]], T],
    ) -> Listing:
        where = and_(visible(table, self.viewer), *conditions)
        stmt: Select[Any] = select(table).where(where)
        return await page_listing(self.engine, stmt, key, page, build, table, where)

    def conversions_scope(
        self, filter: ConversionFilter, sort: ConversionSortField, direction: SortDirection
    ) -> tuple[ColumnElement[bool], SortKey]:
        """The conditions (visibility and filter) and the ordering of the conversions list:
        the list below and the compiled read path (portal.schema.compiled) share them."""
        c = conversions.c
        kind = (
            "decimal"
            if sort in (ConversionSortField.ORDER_VALUE, ConversionSortField.COMMISSION)
            else "datetime"
        )
        key = SortKey(sort.name, c[sort.value], c.id, direction is SortDirection.DESC, kind)
        return and_(visible(conversions, self.viewer), *conversion_conditions(filter)), key

    async def list_conversions(
        self,
        filter: ConversionFilter,
        sort: ConversionSortField,
        direction: SortDirection,
        page: PageRequest,
    ) -> Listing:
        where, key = self.conversions_scope(filter, sort, direction)
        stmt: Select[Any] = select(conversions).where(where)
        return await page_listing(self.engine, stmt, key, page, rows.conversion, conversions, where)

    async def list_reassignments(self, program_ids: Sequence[int], page: PageRequest) -> Listing:
        """Reassigned conversions, newest first."""
        r = conversion_reassignments.c
        conditions: list[ColumnElement[bool]] = (
            [r.program_id.in_(program_ids)] if program_ids else []
        )
        key = SortKey("REASSIGNED_AT", r.reassigned_at, r.id, True, "datetime")
        return await self._listing(
            conversion_reassignments, conditions, key, page, rows.reassignment
        )

    async def list_jobs(self, kinds: Sequence[JobKind], page: PageRequest) -> Listing:
        """The viewer's jobs of these kinds, newest first."""
        key = SortKey("CREATED_AT", jobs.c.created_at, jobs.c.id, True, "datetime")
        conditions: list[ColumnElement[bool]] = [jobs.c.kind.in_([k.value for k in kinds])]
        return await self._listing(jobs, conditions, key, page, job_from_row)

    async def job_rows(self, job_id: int, page: PageRequest, *, already_imported: bool) -> Listing:
        """An import job's recorded rows (the job must be the viewer's): its cell errors, or
        the rows an earlier upload of the file had raised already (ALREADY_IMPORTED)."""
        e = import_errors.c
        imported = e.code == ALREADY_IMPORTED
        conditions = [
            e.job_id == job_id,
            e.job_id.in_(select(jobs.c.id).where(visible(jobs, self.viewer))),
            imported if already_imported else ~imported,
        ]
        where = and_(*conditions)
        stmt = select(import_errors).where(where)
        key = SortKey("ROW", e.row, e.id, False, "int")
        return await page_listing(self.engine, stmt, key, page, lambda r: r, import_errors, where)

    async def file_vocabulary(self) -> dict[str, list[str]]:
        """What the viewer's request files may name: its programs (names), and the active
        targets, active categories and notes of those programs (keys), each sorted once."""
        visible_programs = select(programs.c.id).where(visible(programs, self.viewer))
        t, c, n = conversion_targets.c, tracking_categories.c, conversion_notes.c
        queries = {
            "program": select(programs.c.name).where(visible(programs, self.viewer)),
            "conversion_target": select(t.key).where(
                t.program_id.in_(visible_programs), t.active.is_(True)
            ),
            "tracking_category": select(c.key).where(
                c.program_id.in_(visible_programs), c.active.is_(True)
            ),
            "conversion_note": select(n.code).where(n.program_id.in_(visible_programs)),
        }
        async with self.engine.connect() as conn:
            return {
                column: sorted(await conn.scalars(query.distinct()))
                for column, query in queries.items()
            }

    async def already_imported_counts(self, job_ids: Sequence[int]) -> list[int]:
        """How many rows of each import job an earlier upload had raised (ALREADY_IMPORTED)."""
        e = import_errors.c
        stmt = (
            select(e.job_id, func.count())
            .where(
                e.job_id.in_(set(job_ids)),
                e.code == ALREADY_IMPORTED,
                e.job_id.in_(select(jobs.c.id).where(visible(jobs, self.viewer))),
            )
            .group_by(e.job_id)
        )
        async with self.engine.connect() as conn:
            found = {job_id: int(n) for job_id, n in await conn.execute(stmt)}
        return [found.get(i, 0) for i in job_ids]

    async def list_relationships(
        self, filter: RelationshipFilter, direction: SortDirection, page: PageRequest
    ) -> Listing:
        c = relationships.c
        conditions = scope_conditions(relationships, filter)
        key = SortKey("UPDATED_AT", c.updated_at, c.id, direction is SortDirection.DESC, "datetime")
        return await self._listing(relationships, conditions, key, page, rows.relationship)

    async def list_named(
        self, kind: str, filter: NamedFilter, direction: SortDirection, page: PageRequest
    ) -> Listing:
        table, build = {
            "Program": (programs, rows.program),
            "Partner": (partners, rows.partner),
            "Advertiser": (advertisers, rows.advertiser),
        }[kind]
        conditions = named_conditions(kind, filter, self.viewer)
        key = SortKey("NAME", table.c.name, table.c.id, direction is SortDirection.DESC, "str")
        return await self._listing(table, conditions, key, page, build)

    async def list_api_tokens(self, user_id: int | None, page: PageRequest) -> Listing:
        """API tokens, newest first: the viewer's own (admins: anyone's, or those of
        `user_id`). Revoked and expired ones are listed too."""
        c = api_tokens.c
        conditions = [c.user_id == user_id] if user_id is not None else []
        key = SortKey("CREATED_AT", c.created_at, c.id, True, "datetime")
        return await self._listing(api_tokens, conditions, key, page, rows.api_token)

    async def list_commission_models(
        self, filter: NamedFilter, direction: SortDirection, page: PageRequest
    ) -> Listing:
        c = commission_models.c
        conditions = named_conditions("CommissionModel", filter, self.viewer)
        key = SortKey("NAME", c.name, c.id, direction is SortDirection.DESC, "str")
        listing = await self._listing(commission_models, conditions, key, page, lambda r: r.id)
        models = await self._commission_models(ids=listing.page.items)
        listing.page.items = [models[i] for i in listing.page.items]
        return listing


async def _periods_with_rates(conn: AsyncConnection, period_rows: Sequence[Any]) -> dict[int, Any]:
    """Commission periods by id, each with its rates in creation order (one statement)."""
    rate_rows = (
        await conn.execute(
            select(commission_rates)
            .where(commission_rates.c.period_id.in_([p.id for p in period_rows]))
            .order_by(commission_rates.c.id)
        )
    ).all()
    rates: dict[int, list[Any]] = defaultdict(list)
    for r in rate_rows:
        rates[r.period_id].append(rows.commission_rate(r))
    return {p.id: rows.commission_period(p, tuple(rates[p.id])) for p in period_rows}
