"""Read model of conversion requests and their comments, scoped like every read."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.pagination import PageRequest, SortKey
from portal.adapters.reader import Listing, SortDirection, page_listing
from portal.adapters.request_store import request_from_row
from portal.adapters.tables import (
    commission_models,
    conversion_request_comments,
    conversion_request_events,
    conversion_requests,
    conversions,
    programs,
    users,
)
from portal.adapters.visibility import visible
from portal.domain.access import Role, Viewer
from portal.domain.requests import (
    OPEN_STATUSES,
    CommentVisibility,
    ConversionRequest,
    RequestEvent,
    RequestKind,
    RequestStatus,
)


class RequestSortField(enum.Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    TRACKING_TIME = "tracking_time"
    COMMISSION = "commission"


@dataclass(frozen=True, slots=True)
class RequestFilter:
    statuses: tuple[RequestStatus, ...] = ()
    kinds: tuple[RequestKind, ...] = ()
    program_ids: tuple[int, ...] = ()
    partner_ids: tuple[int, ...] = ()
    created_by: tuple[int, ...] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None
    order_id: str | None = None
    advertiser_ids: tuple[int, ...] = ()
    tracked_from: datetime | None = None  # inclusive
    tracked_to: datetime | None = None  # exclusive
    commission_model_ids: tuple[int, ...] = ()
    decided_from: datetime | None = None  # inclusive
    decided_to: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    request_id: int
    author_id: int
    author_name: str
    author_role: Role
    visibility: CommentVisibility
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Actor:
    """A user as others see it: name and role, never the e-mail."""

    id: int
    name: str
    role: Role


def request_conditions(filter: RequestFilter) -> list[ColumnElement[bool]]:
    c = conversion_requests.c
    conditions: list[ColumnElement[bool]] = []
    if filter.statuses:
        conditions.append(c.status.in_([s.value for s in filter.statuses]))
    if filter.kinds:
        conditions.append(c.kind.in_([k.value for k in filter.kinds]))
    if filter.program_ids:
        conditions.append(c.program_id.in_(filter.program_ids))
    if filter.partner_ids:
        conditions.append(c.partner_id.in_(filter.partner_ids))
    if filter.created_by:
        conditions.append(c.created_by.in_(filter.created_by))
    if filter.created_from is not None:
        conditions.append(c.created_at >= filter.created_from)
    if filter.created_to is not None:
        conditions.append(c.created_at < filter.created_to)
    if filter.order_id is not None:
        # A CHANGE_EXISTING request names its order through the conversion it changes.
        changed = select(conversions.c.id).where(conversions.c.order_id == filter.order_id)
        conditions.append(or_(c.order_id == filter.order_id, c.conversion_id.in_(changed)))
    if filter.advertiser_ids:
        conditions.append(
            c.program_id.in_(
                select(programs.c.id).where(programs.c.advertiser_id.in_(filter.advertiser_ids))
            )
        )
    if filter.tracked_from is not None or filter.tracked_to is not None:
        conditions.append(_tracked_between(filter.tracked_from, filter.tracked_to))
    if filter.commission_model_ids:
        models = select(commission_models.c.program_id, commission_models.c.name).where(
            commission_models.c.id.in_(filter.commission_model_ids)
        )
        conditions.append(tuple_(c.program_id, c.commission_model_name).in_(models))
    if filter.decided_from is not None:
        conditions.append(c.decided_at >= filter.decided_from)
    if filter.decided_to is not None:
        conditions.append(c.decided_at < filter.decided_to)
    return conditions


def _tracked_between(start: datetime | None, end: datetime | None) -> ColumnElement[bool]:
    """The tracking time the request asks for; a CHANGE_EXISTING request that leaves it as it
    is, the tracking time of its conversion."""
    c = conversion_requests.c

    def within(column: Any) -> ColumnElement[bool]:
        bounds = []
        if start is not None:
            bounds.append(column >= start)
        if end is not None:
            bounds.append(column < end)
        return and_(*bounds)

    unchanged = select(conversions.c.id).where(within(conversions.c.tracking_time))
    return or_(
        and_(c.tracking_time.is_not(None), within(c.tracking_time)),
        and_(c.tracking_time.is_(None), c.conversion_id.in_(unchanged)),
    )


class RequestReader:
    def __init__(self, engine: AsyncEngine, viewer: Viewer) -> None:
        self.engine = engine
        self.viewer = viewer

    async def get_many(self, ids: Sequence[int]) -> list[ConversionRequest | None]:
        stmt = select(conversion_requests).where(
            conversion_requests.c.id.in_(set(ids)), visible(conversion_requests, self.viewer)
        )
        async with self.engine.connect() as conn:
            found = {r.id: request_from_row(r) for r in await conn.execute(stmt)}
        return [found.get(i) for i in ids]

    async def list_requests(
        self,
        filter: RequestFilter,
        sort: RequestSortField,
        direction: SortDirection,
        page: PageRequest,
    ) -> Listing:
        where, key, listed = self.requests_scope(filter, sort, direction)
        stmt = select(conversion_requests).where(listed)
        return await page_listing(
            self.engine, stmt, key, page, request_from_row, conversion_requests, where
        )

    def requests_scope(
        self, filter: RequestFilter, sort: RequestSortField, direction: SortDirection
    ) -> tuple[ColumnElement[bool], SortKey, ColumnElement[bool]]:
        """The conditions of the explorer (visibility and filter: what `totalCount` counts),
        its ordering, and the conditions of its pages; shared with the compiled read path
        (portal.schema.compiled)."""
        where = self._matching(filter)
        kind = {"commission": "decimal"}.get(sort.value, "datetime")
        column = conversion_requests.c[sort.value]
        key = SortKey(
            sort.name, column, conversion_requests.c.id, direction is SortDirection.DESC, kind
        )
        listed = where
        if sort is RequestSortField.TRACKING_TIME or sort is RequestSortField.COMMISSION:
            # Keyset comparison needs a value: rows without one are left out of such orderings.
            listed = and_(where, column.is_not(None))
        return where, key, listed

    def _matching(self, filter: RequestFilter) -> ColumnElement[bool]:
        return and_(visible(conversion_requests, self.viewer), *request_conditions(filter))

    async def matching(self, ids: Sequence[int], filter: RequestFilter) -> list[ConversionRequest]:
        """Those of these requests the explorer would list with `filter` (the viewer's
        visibility and the same conditions), by id; live updates use it
        (`conversionRequestsChanged`), so a subscription and the list never disagree."""
        stmt = (
            select(conversion_requests)
            .where(conversion_requests.c.id.in_(set(ids)), self._matching(filter))
            .order_by(conversion_requests.c.id)
        )
        async with self.engine.connect() as conn:
            return [request_from_row(r) for r in await conn.execute(stmt)]

    async def comments(self, request_id: int, page: PageRequest) -> Listing:
        c = conversion_request_comments.c
        where = and_(c.request_id == request_id, visible(conversion_request_comments, self.viewer))
        stmt = _comments_with_authors().where(where)
        key = SortKey("CREATED_AT", c.created_at, c.id, False, "datetime")
        return await page_listing(
            self.engine, stmt, key, page, _comment, conversion_request_comments, where
        )

    async def comments_by_id(self, ids: Sequence[int]) -> dict[int, Comment]:
        c = conversion_request_comments.c
        stmt = _comments_with_authors().where(
            c.id.in_(set(ids)), visible(conversion_request_comments, self.viewer)
        )
        async with self.engine.connect() as conn:
            return {r.id: _comment(r) for r in await conn.execute(stmt)}

    async def moves(self, request_ids: Sequence[int]) -> list[list[RequestEvent]]:
        """The kept status moves of each request (of those the viewer may see), oldest first."""
        e = conversion_request_events.c
        stmt = (
            select(conversion_request_events)
            .join(conversion_requests, conversion_requests.c.id == e.request_id)
            .where(e.request_id.in_(set(request_ids)), visible(conversion_requests, self.viewer))
            .order_by(e.request_id, e.id)
        )
        grouped: dict[int, list[RequestEvent]] = {i: [] for i in request_ids}
        async with self.engine.connect() as conn:
            for r in await conn.execute(stmt):
                grouped[r.request_id].append(
                    RequestEvent(
                        r.request_id,
                        RequestStatus(r.from_status),
                        RequestStatus(r.to_status),
                        r.actor_user_id,
                        r.created_at,
                        r.note,
                    )
                )
        return [grouped[i] for i in request_ids]

    async def competing(
        self, requests: Sequence[ConversionRequest]
    ) -> list[list[ConversionRequest]]:
        """For each CREATE_NEW request, the other partners' open CREATE_NEW requests for the
        same order, as far as the viewer may see them (a partner sees none: only its own)."""
        orders = {
            (r.program_id, r.requested.order_id)
            for r in requests
            if r.kind is RequestKind.CREATE_NEW and r.requested.order_id is not None
        }
        found: dict[tuple[int, str], list[ConversionRequest]] = {}
        if orders:
            c = conversion_requests.c
            stmt = (
                select(conversion_requests)
                .where(
                    tuple_(c.program_id, c.order_id).in_(list(orders)),
                    c.kind == RequestKind.CREATE_NEW.value,
                    c.status.in_([s.value for s in OPEN_STATUSES]),
                    visible(conversion_requests, self.viewer),
                )
                .order_by(c.id)
            )
            async with self.engine.connect() as conn:
                for row in await conn.execute(stmt):
                    other = request_from_row(row)
                    key = (other.program_id, other.requested.order_id or "")
                    found.setdefault(key, []).append(other)
        return [
            [
                other
                for other in found.get((r.program_id, r.requested.order_id or ""), [])
                if other.partner_id != r.partner_id
            ]
            if r.kind is RequestKind.CREATE_NEW
            else []
            for r in requests
        ]

    async def actors(self, user_ids: Sequence[int]) -> list[Actor | None]:
        """Names and roles of users who acted on objects the viewer can see (not e-mails)."""
        async with self.engine.connect() as conn:
            found = {
                r.id: Actor(r.id, r.name, Role(r.role))
                for r in await conn.execute(
                    select(users.c.id, users.c.name, users.c.role).where(
                        users.c.id.in_(set(user_ids))
                    )
                )
            }
        return [found.get(i) for i in user_ids]


def _comment(row: Any) -> Comment:
    m = row._mapping
    return Comment(
        id=m["id"],
        request_id=m["request_id"],
        author_id=m["author_id"],
        author_name=m["author_name"],
        author_role=Role(m["author_role"]),
        visibility=CommentVisibility(m["visibility"]),
        body=m["body"],
        created_at=m["created_at"],
    )


def _comments_with_authors() -> Select[Any]:
    """Comments with their author's name and role (what a comment shows)."""
    c = conversion_request_comments.c
    return select(
        conversion_request_comments,
        users.c.name.label("author_name"),
        users.c.role.label("author_role"),
    ).join(users, users.c.id == c.author_id)
