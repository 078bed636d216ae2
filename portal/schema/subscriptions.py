"""Subscriptions over WebSocket (graphql-transport-ws) at /graphql: authenticate with
`connection_init` `{"token": "<API token>"}`; an unauthenticated socket is closed with 4403.
Each update is read through the visibility rules, as the query of the same object is."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from portal.adapters.live_events import HUB
from portal.adapters.request_reader import RequestReader
from portal.domain.errors import NotFound
from portal.schema.context import Context
from portal.schema.errors import as_bad_input
from portal.schema.ids import decode_typed
from portal.schema.types.requests import ConversionRequest

Info = strawberry.Info[Context, None]


@strawberry.type(
    description="Live updates over WebSocket (`graphql-transport-ws` at /graphql; send "
    '`{"token": "<API token>"}` as the connection_init payload). No ordering or delivery '
    "promise beyond the connection: reconnect and read the object again after a drop."
)
class Subscription:
    @strawberry.subscription(
        description="The conversion request now, then again each time it changes (status, "
        "amendment, decision, processing). A request the viewer may not see is NOT_FOUND."
    )
    async def conversion_request_changed(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The request.")],
    ) -> AsyncGenerator[ConversionRequest, None]:
        viewer = info.context.require_viewer()
        with as_bad_input():
            pk = decode_typed(id, "ConversionRequest", ("id",))
        reader = RequestReader(info.context.engine, viewer)
        with HUB.subscription() as updates:  # listening before the first read: none is lost
            found = (await reader.get_many([pk]))[0]
            if found is None:
                with as_bad_input():
                    raise NotFound("conversion request", ("id",))
            yield ConversionRequest.from_domain(found)
            while True:
                event = await updates.get()
                if event.object_kind != "conversion_request" or event.object_id != pk:
                    continue
                info.context.loaders.clear_all()
                found = (await reader.get_many([pk]))[0]
                if found is None:  # no longer visible (it never becomes another's)
                    return
                yield ConversionRequest.from_domain(found)
