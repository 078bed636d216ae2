"""Explorer queries: `conversionRequests` and `conversionRequest`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from portal.adapters.pagination import PageRequest
from portal.adapters.reader import SortDirection
from portal.adapters.request_reader import RequestFilter, RequestReader, RequestSortField
from portal.schema.arguments import After, Before, First, Last
from portal.schema.context import Context
from portal.schema.errors import as_bad_input
from portal.schema.ids import decode_typed
from portal.schema.types.base import Connection
from portal.schema.types.enums import SortDirectionEnum
from portal.schema.types.requests import ConversionRequest, RequestKindEnum, RequestStatusEnum

Info = strawberry.Info[Context, None]

RequestSortFieldEnum = strawberry.enum(
    RequestSortField, description="What requests can be ordered by."
)


@strawberry.input(
    description="Filter of the conversion request explorer; all given conditions apply."
)
class ConversionRequestFilterInput:
    statuses: list[RequestStatusEnum] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    kinds: list[RequestKindEnum] | None = strawberry.field(default=None, description="Kinds.")
    program_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Programs."
    )
    partner_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Partners."
    )
    created_by_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Raised by these users."
    )
    created_from: datetime | None = strawberry.field(
        default=None, description="Raised at or after."
    )
    created_to: datetime | None = strawberry.field(default=None, description="Raised before.")
    order_id: str | None = strawberry.field(default=None, description="Exact order id.")
    advertiser_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Requests of these advertisers' programs."
    )
    tracked_from: datetime | None = strawberry.field(
        default=None,
        description="Tracking time at or after (the requested one; for a change request that "
        "keeps it, its conversion's).",
    )
    tracked_to: datetime | None = strawberry.field(
        default=None, description="Tracking time before (as `trackedFrom`)."
    )
    commission_model_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Rated with these commission models."
    )
    decided_from: datetime | None = strawberry.field(
        default=None, description="Decided (accepted or rejected) at or after."
    )
    decided_to: datetime | None = strawberry.field(default=None, description="Decided before.")


@strawberry.input(description="Ordering of the explorer.")
class ConversionRequestOrder:
    field: RequestSortFieldEnum | None = strawberry.field(
        default=None, description="Default CREATED_AT."
    )
    direction: SortDirectionEnum | None = strawberry.field(
        default=None, description="Default DESC."
    )


def request_filter(f: ConversionRequestFilterInput | None) -> RequestFilter:
    """The domain filter of the input; malformed ids are BAD_USER_INPUT."""
    f = f or ConversionRequestFilterInput()
    with as_bad_input():
        return RequestFilter(
            statuses=tuple(f.statuses or ()),
            kinds=tuple(f.kinds or ()),
            program_ids=tuple(
                decode_typed(i, "Program", ("programIds",)) for i in f.program_ids or ()
            ),
            partner_ids=tuple(
                decode_typed(i, "Partner", ("partnerIds",)) for i in f.partner_ids or ()
            ),
            created_by=tuple(
                decode_typed(i, "User", ("createdByIds",)) for i in f.created_by_ids or ()
            ),
            created_from=f.created_from,
            created_to=f.created_to,
            order_id=f.order_id,
            advertiser_ids=tuple(
                decode_typed(i, "Advertiser", ("advertiserIds",)) for i in f.advertiser_ids or ()
            ),
            tracked_from=f.tracked_from,
            tracked_to=f.tracked_to,
            commission_model_ids=tuple(
                decode_typed(i, "CommissionModel", ("commissionModelIds",))
                for i in f.commission_model_ids or ()
            ),
            decided_from=f.decided_from,
            decided_to=f.decided_to,
        )


def conversion_requests_request(
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: ConversionRequestFilterInput | None,
    order_by: ConversionRequestOrder | None,
) -> tuple[RequestFilter, RequestSortField, SortDirection, PageRequest]:
    """The arguments of `conversionRequests` as the reader takes them (the resolver and the
    compiled read path share this)."""
    order = order_by or ConversionRequestOrder()
    return (
        request_filter(filter),
        order.field or RequestSortField.CREATED_AT,
        order.direction or SortDirection.DESC,
        PageRequest(first, after, last, before),
    )


@strawberry.type
class RequestQueries:
    @strawberry.field(description="Conversion requests (explorer), newest first by default.")
    async def conversion_requests(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            ConversionRequestFilterInput | None,
            strawberry.argument(description="Conditions; all given ones apply."),
        ] = None,
        order_by: Annotated[
            ConversionRequestOrder | None,
            strawberry.argument(description="Ordering (id breaks ties)."),
        ] = None,
    ) -> Connection[ConversionRequest]:
        reader = RequestReader(info.context.engine, info.context.require_viewer())
        with as_bad_input():
            listing = await reader.list_requests(
                *conversion_requests_request(first, after, last, before, filter, order_by)
            )
        return Connection.of(listing, ConversionRequest.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="One conversion request; null when missing or not visible.")
    async def conversion_request(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
    ) -> ConversionRequest | None:
        with as_bad_input():
            pk = decode_typed(id, "ConversionRequest")
        reader = RequestReader(info.context.engine, info.context.require_viewer())
        found = (await reader.get_many([pk]))[0]
        return ConversionRequest.from_domain(found) if found else None
