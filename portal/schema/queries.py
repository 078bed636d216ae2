"""Root query fields. Thin: decode arguments, ask the viewer's reader, map to types."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import strawberry

from portal.adapters.named_filters import MAX_SEARCH_LENGTH, NamedFilter
from portal.adapters.pagination import PageRequest
from portal.adapters.reader import (
    NODE_KINDS,
    ConversionFilter,
    ConversionSortField,
    Listing,
    RelationshipFilter,
    SortDirection,
)
from portal.schema.arguments import After, Before, Direction, FilterArg, First, Last, OrderArg
from portal.schema.context import Context
from portal.schema.errors import BadUserInput, as_bad_input
from portal.schema.ids import decode_id, decode_typed
from portal.schema.types.access import ApiToken, User, Viewer
from portal.schema.types.base import Connection, Node
from portal.schema.types.billing import BILLING_TYPES
from portal.schema.types.commission import CommissionModel, CommissionPeriod
from portal.schema.types.conversions import Conversion
from portal.schema.types.enums import (
    ConversionSortFieldEnum,
    ConversionStatusEnum,
    RelationshipStatusEnum,
    SortDirectionEnum,
)
from portal.schema.types.imports import ImportJob
from portal.schema.types.jobs import ExportJob
from portal.schema.types.partners import Partner, Relationship
from portal.schema.types.programs import (
    Advertiser,
    ConversionNote,
    ConversionTarget,
    Program,
    TrackingCategory,
)
from portal.schema.types.reassignments import ConversionReassignment
from portal.schema.types.requests import ConversionRequest, RequestComment

Info = strawberry.Info[Context, None]

TYPES: dict[str, Any] = {
    "Advertiser": Advertiser,
    "Program": Program,
    "Partner": Partner,
    "Relationship": Relationship,
    "CommissionModel": CommissionModel,
    "Conversion": Conversion,
    "User": User,
    "ConversionRequest": ConversionRequest,
    "ExportJob": ExportJob,
    "ImportJob": ImportJob,
    "ApiToken": ApiToken,
    "TrackingCategory": TrackingCategory,
    "ConversionTarget": ConversionTarget,
    "ConversionNote": ConversionNote,
    "CommissionPeriod": CommissionPeriod,
    "RequestComment": RequestComment,
    "ConversionReassignment": ConversionReassignment,
    **BILLING_TYPES,
}
MAX_NODES = 100

IdArg = Annotated[strawberry.ID, strawberry.argument(description="A global id (opaque).")]


def _pks(ids: list[strawberry.ID] | None, kind: str, field: str) -> tuple[int, ...]:
    with as_bad_input():
        return tuple(decode_typed(i, kind, (field,)) for i in ids or ())


async def _list(fetch: Callable[[], Awaitable[Listing]], convert: Callable[[Any], Any]) -> Any:
    with as_bad_input():
        listing = await fetch()
    return Connection.of(listing, convert)


@strawberry.input(description="Filter of the conversions list; all given conditions apply.")
class ConversionFilterInput:
    program_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Programs."
    )
    partner_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Partners."
    )
    statuses: list[ConversionStatusEnum] | None = strawberry.field(
        default=None, description="Statuses."
    )
    tracked_from: datetime | None = strawberry.field(
        default=None, description="Tracking time at or after this instant."
    )
    tracked_to: datetime | None = strawberry.field(
        default=None, description="Tracking time before this instant."
    )
    order_id: str | None = strawberry.field(default=None, description="Exact order id.")
    tracking_categories: list[str] | None = strawberry.field(
        default=None, description="Category keys."
    )
    conversion_targets: list[str] | None = strawberry.field(
        default=None, description="Target keys."
    )


@strawberry.input(description="Ordering of the conversions list.")
class ConversionOrder:
    field: ConversionSortFieldEnum | None = strawberry.field(
        default=None, description="What to order by (default TRACKING_TIME)."
    )
    direction: SortDirectionEnum | None = strawberry.field(
        default=None, description="Direction (default DESC)."
    )


@strawberry.input(
    description="Filter of the advertisers, programs, partners and commission models lists; "
    "every field works on each of them, and all given conditions apply."
)
class NamedFilterInput:
    search: str | None = strawberry.field(
        default=None,
        description=f"Part of the name, case-insensitive; at most {MAX_SEARCH_LENGTH} characters "
        "(longer is BAD_USER_INPUT, reason TOO_LONG).",
    )
    program_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="These programs: `programs` lists them, `advertisers` their advertisers, "
        "`partners` the partners with a relationship to one of them, `commissionModels` "
        "their models.",
    )
    advertiser_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="These advertisers: `advertisers` lists them, `programs` their programs, "
        "`partners` the partners with a relationship to one of their programs, "
        "`commissionModels` the models of their programs.",
    )


@strawberry.input(description="Filter of the conversion reassignments.")
class ReassignmentFilterInput:
    program_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Programs."
    )


@strawberry.input(description="Filter of the relationships list.")
class RelationshipFilterInput:
    program_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Programs."
    )
    partner_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Partners."
    )
    statuses: list[RelationshipStatusEnum] | None = strawberry.field(
        default=None, description="Statuses."
    )


def conversion_filter(filter: ConversionFilterInput | None) -> ConversionFilter:
    """The domain filter of the input (shared by the list and exports)."""
    f = filter or ConversionFilterInput()
    return ConversionFilter(
        program_ids=_pks(f.program_ids, "Program", "programIds"),
        partner_ids=_pks(f.partner_ids, "Partner", "partnerIds"),
        statuses=tuple(f.statuses or ()),
        tracked_from=f.tracked_from,
        tracked_to=f.tracked_to,
        order_id=f.order_id,
        categories=tuple(f.tracking_categories or ()),
        targets=tuple(f.conversion_targets or ()),
    )


def conversions_request(
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: ConversionFilterInput | None,
    order_by: ConversionOrder | None,
) -> tuple[ConversionFilter, ConversionSortField, SortDirection, PageRequest]:
    """The arguments of `conversions` as the reader takes them (the resolver and the compiled
    read path share this)."""
    order = order_by or ConversionOrder()
    return (
        conversion_filter(filter),
        order.field or ConversionSortField.TRACKING_TIME,
        order.direction or SortDirection.DESC,
        PageRequest(first, after, last, before),
    )


def _named(filter: NamedFilterInput | None) -> NamedFilter:
    if filter is None:
        return NamedFilter()
    return NamedFilter(
        search=filter.search,
        program_ids=_pks(filter.program_ids, "Program", "programIds"),
        advertiser_ids=_pks(filter.advertiser_ids, "Advertiser", "advertiserIds"),
    )


def _named_list(node: Any, description: str, read: Callable[..., Awaitable[Listing]]) -> Any:
    """A root list of named objects (name search, direction, both-way paging): one resolver."""

    async def resolve(
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[NamedFilterInput | None, FilterArg] = None,
        direction: Direction = None,
    ) -> Any:
        page = PageRequest(first, after, last, before)
        return await _list(
            lambda: read(info.context.reader, _named(filter), direction or SortDirection.ASC, page),
            node.from_domain,
        )

    resolve.__annotations__["return"] = Connection[node]
    return strawberry.field(resolver=resolve, description=description)


async def _one(info: Info, id: strawberry.ID, kind: str) -> Any:
    with as_bad_input():
        pk = decode_typed(id, kind)
    return await info.context.loaders.load_as(kind, pk, TYPES[kind].from_domain)


async def _node(info: Info, id: strawberry.ID) -> Any:
    info.context.require_viewer()
    with as_bad_input():
        kind, pk = decode_id(id)
    if kind not in NODE_KINDS:
        raise BadUserInput(
            f"{id!r} is not the id of an object of this API", argument=["id"], reason="INVALID_ID"
        )
    return await info.context.loaders.load_as(kind, pk, TYPES[kind].from_domain)


@strawberry.type(description="Reads. Every list and object is limited to what the viewer may see.")
class Query:
    @strawberry.field(description="The authenticated user and its organisation.")
    def viewer(self, info: Info) -> Viewer:
        return Viewer(user_pk=info.context.require_viewer().user_id)

    @strawberry.field(description="Any object by global id; null when missing or not visible.")
    async def node(self, info: Info, id: IdArg) -> Node | None:
        return await _node(info, id)

    @strawberry.field(
        description="Objects by global ids, in order; null where missing or not visible."
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID], strawberry.argument(description="Up to 100 global ids.")
        ],
    ) -> list[Node | None]:
        # Not `self.node(...)`: resolvers of the root type receive the root value (None) as self.
        info.context.require_viewer()
        if len(ids) > MAX_NODES:
            raise BadUserInput(f"at most {MAX_NODES} ids per call", reason="TOO_MANY_IDS")
        return list(await asyncio.gather(*(_node(info, i) for i in ids)))

    advertisers = _named_list(
        Advertiser,
        "Advertisers (admins see all, others their own).",
        lambda reader, *query: reader.list_named("Advertiser", *query),
    )

    programs = _named_list(
        Program,
        "Programs, ordered by name.",
        lambda reader, *query: reader.list_named("Program", *query),
    )

    @strawberry.field(description="One program by id; null when missing or not visible.")
    async def program(self, info: Info, id: IdArg) -> Program | None:
        return await _one(info, id, "Program")  # type: ignore[no-any-return]

    partners = _named_list(
        Partner,
        "Partners, ordered by name.",
        lambda reader, *query: reader.list_named("Partner", *query),
    )

    @strawberry.field(description="Relationships, most recently changed first by default.")
    async def relationships(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[RelationshipFilterInput | None, FilterArg] = None,
        direction: Direction = None,
    ) -> Connection[Relationship]:
        f = filter or RelationshipFilterInput()
        domain_filter = RelationshipFilter(
            program_ids=_pks(f.program_ids, "Program", "programIds"),
            partner_ids=_pks(f.partner_ids, "Partner", "partnerIds"),
            statuses=tuple(f.statuses or ()),
        )
        page = PageRequest(first, after, last, before)
        return await _list(  # type: ignore[no-any-return]
            lambda: info.context.reader.list_relationships(
                domain_filter, direction or SortDirection.DESC, page
            ),
            Relationship.from_domain,
        )

    commission_models = _named_list(
        CommissionModel,
        "Commission models, ordered by name.",
        lambda reader, *query: reader.list_commission_models(*query),
    )

    @strawberry.field(description="Conversions, newest tracking time first by default.")
    async def conversions(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[ConversionFilterInput | None, FilterArg] = None,
        order_by: Annotated[ConversionOrder | None, OrderArg] = None,
    ) -> Connection[Conversion]:
        request = conversions_request(first, after, last, before, filter, order_by)
        return await _list(  # type: ignore[no-any-return]
            lambda: info.context.reader.list_conversions(*request), Conversion.from_domain
        )

    @strawberry.field(description="One conversion by id; null when missing or not visible.")
    async def conversion(self, info: Info, id: IdArg) -> Conversion | None:
        return await _one(info, id, "Conversion")  # type: ignore[no-any-return]

    @strawberry.field(
        description="Conversions that accepted attribution claims moved to another partner, "
        "newest first: a partner sees those taken from it (not who took them), an advertiser "
        "those of its programs."
    )
    async def conversion_reassignments(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[ReassignmentFilterInput | None, FilterArg] = None,
    ) -> Connection[ConversionReassignment]:
        program_ids = _pks(filter.program_ids if filter else None, "Program", "programIds")
        page = PageRequest(first, after, last, before)
        return await _list(  # type: ignore[no-any-return]
            lambda: info.context.reader.list_reassignments(program_ids, page),
            ConversionReassignment.from_domain,
        )
