"""Subscriptions over WebSocket (graphql-transport-ws) at /graphql: authenticate with
`connection_init` `{"token": "<API token>"}`, or with the session cookie on the upgrade request
and `{"csrfToken": "<the session's CSRF token>"}` (portal.web.auth.authenticate_socket); an
unauthenticated socket is closed with 4403. Each update is read through the visibility rules,
as the query of the same object is."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Iterator
from datetime import datetime
from typing import Annotated

import strawberry

from portal.adapters.job_store import billing_run_job, visible_job
from portal.adapters.live_events import HUB, LiveEvent, LiveFeed, LiveUpdatesLost
from portal.adapters.request_reader import RequestReader
from portal.domain.access import Viewer
from portal.domain.errors import DomainError, NotFound
from portal.global_ids import decode_id
from portal.schema.context import Context
from portal.schema.errors import as_bad_input
from portal.schema.ids import decode_typed
from portal.schema.request_queries import ConversionRequestFilterInput, request_filter
from portal.schema.types.conversions import Conversion
from portal.schema.types.requests import ConversionRequest

Info = strawberry.Info[Context, None]
MAX_PER_CONNECTION = 10
MAX_PER_USER = 50
"""Open subscriptions allowed per WebSocket and per user (in this process)."""
_open_per_user: dict[int, int] = {}
PROGRESS_POLL_SECONDS = 1.0
_JOB_IDS = {"ImportJob", "ExportJob", "BillingRun"}
_ENDED = {"SUCCEEDED", "FAILED", "CANCELLED"}
_REQUEST_EVENTS = {
    "conversion_request.created",
    "conversion_request.updated",
    "conversion_request.decided",
    "conversion_request.processed",
    "conversion_request.failed",
}


@strawberry.type(description="Where an import, export or billing run is.")
class JobProgressUpdate:
    id: strawberry.ID = strawberry.field(description="The id subscribed to.")
    status: str = strawberry.field(
        description="QUEUED, RUNNING, then SUCCEEDED, FAILED or CANCELLED (the last update)."
    )
    processed: int = strawberry.field(description="Rows (or conversions) done so far.")
    total: int | None = strawberry.field(description="Rows in all, once known.")
    created: int = strawberry.field(description="Objects created so far.")
    errors: int = strawberry.field(description="Rows refused so far.")
    error: str | None = strawberry.field(description="Why it failed.")
    finished_at: datetime | None = strawberry.field(description="When it ended.")


@contextlib.contextmanager
def _slot(info: Info, viewer: Viewer) -> Iterator[None]:
    """Counts the subscription against the connection's and the user's limits while it runs."""
    context = info.context
    if context.open_subscriptions >= MAX_PER_CONNECTION:
        with as_bad_input():
            raise DomainError(
                "TOO_MANY_SUBSCRIPTIONS", f"at most {MAX_PER_CONNECTION} per connection", ()
            )
    if _open_per_user.get(viewer.user_id, 0) >= MAX_PER_USER:
        with as_bad_input():
            raise DomainError("TOO_MANY_SUBSCRIPTIONS", f"at most {MAX_PER_USER} per user", ())
    context.open_subscriptions += 1
    _open_per_user[viewer.user_id] = _open_per_user.get(viewer.user_id, 0) + 1
    try:
        yield
    finally:
        context.open_subscriptions -= 1
        left = _open_per_user.pop(viewer.user_id, 1) - 1
        if left:
            _open_per_user[viewer.user_id] = left


async def _next_events(info: Info, feed: LiveFeed, wait: float | None = None) -> list[LiveEvent]:
    """The events of the next commits (empty after `wait` seconds without any), once the
    socket's credentials still hold. A feed that overflowed ends the subscription with
    LIVE_UPDATES_LOST: the client reads again and subscribes anew, rather than miss changes
    silently."""
    try:
        if wait is None:
            batch = await feed.next_batch()
        else:
            try:
                batch = await asyncio.wait_for(feed.next_batch(), wait)
            except TimeoutError:
                batch = []
    except LiveUpdatesLost:
        with as_bad_input():
            raise DomainError(
                "LIVE_UPDATES_LOST",
                "this subscription fell too far behind and missed updates: read again and "
                "subscribe anew",
                (),
            ) from None
    await info.context.require_still_signed_in()
    return batch


async def _changed_requests(reader: RequestReader, batch: list[LiveEvent]) -> list[int]:
    """The requests these events changed; a comment counts only where the viewer may read it
    (a partner never hears of an INTERNAL comment)."""
    changed = {e.object_id for e in batch if e.type in _REQUEST_EVENTS}
    comments = [e.object_id for e in batch if e.type == "conversion_request.commented"]
    if comments:
        changed |= {c.request_id for c in (await reader.comments_by_id(comments)).values()}
    return sorted(changed)


async def _job_pk(info: Info, viewer: Viewer, raw: strawberry.ID) -> int:
    with as_bad_input():
        kind, pk = decode_id(raw, ("id",))
        if kind not in _JOB_IDS:
            raise DomainError(
                "INVALID_ID", "give an ImportJob, ExportJob or BillingRun id", ("id",)
            )
    if kind != "BillingRun":
        return pk
    job_id = await billing_run_job(info.context.engine, viewer, pk)
    if job_id is None:
        with as_bad_input():
            raise NotFound("job", ("id",))
    return job_id


async def _progress(
    info: Info, viewer: Viewer, raw: strawberry.ID, job_id: int
) -> JobProgressUpdate | None:
    row = await visible_job(info.context.engine, viewer, job_id)
    if row is None:
        return None
    return JobProgressUpdate(
        id=raw,
        status=row.status.value,
        processed=row.processed,
        total=row.total,
        created=row.created_count,
        errors=row.error_count,
        error=row.error,
        finished_at=row.finished_at,
    )


@strawberry.type(
    description="Live updates over WebSocket (`graphql-transport-ws` at /graphql; send "
    '`{"token": "<API token>"}` as the connection_init payload, or, with the session cookie, '
    '`{"csrfToken": "<the session\'s CSRF token>"}`). No ordering or delivery promise beyond '
    "the connection: reconnect and read the objects again after a drop."
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
        with _slot(info, viewer), HUB.subscription() as updates:  # listening before reading
            found = (await reader.get_many([pk]))[0]
            if found is None:
                with as_bad_input():
                    raise NotFound("conversion request", ("id",))
            yield ConversionRequest.from_domain(found)
            while True:
                batch = await _next_events(info, updates)
                if not any(
                    e.object_kind == "conversion_request" and e.object_id == pk for e in batch
                ):
                    continue
                info.context.loaders.clear_all()
                found = (await reader.get_many([pk]))[0]
                if found is None:  # no longer visible (it never becomes another's)
                    return
                yield ConversionRequest.from_domain(found)

    @strawberry.subscription(
        description="Every conversion request the viewer may see that matches `filter` (the "
        "conditions of `conversionRequests`), each time one changes: created, updated, "
        "commented (a comment the viewer may read), decided, processed or failed (requests "
        "raised by an import are announced by the import only). Nothing at first: changes "
        "committed before the subscription started are not sent (read `conversionRequests` "
        "after subscribing)."
    )
    async def conversion_requests_changed(
        self,
        info: Info,
        filter: Annotated[
            ConversionRequestFilterInput | None,
            strawberry.argument(description="Conditions; all given ones apply."),
        ] = None,
    ) -> AsyncGenerator[ConversionRequest, None]:
        viewer = info.context.require_viewer()
        wanted = request_filter(filter)
        reader = RequestReader(info.context.engine, viewer)
        with _slot(info, viewer), HUB.subscription() as updates:
            while True:
                changed = await _changed_requests(reader, await _next_events(info, updates))
                if not changed:
                    continue
                # The explorer's own conditions and visibility: one home for the match rule.
                found = await reader.matching(changed, wanted)
                if found:
                    info.context.loaders.clear_all()
                for request in found:
                    yield ConversionRequest.from_domain(request)

    @strawberry.subscription(
        description="Each new conversion of the program that the viewer may see (an "
        "advertiser: of its own programs; a partner: its own conversions), once recorded "
        "(`recordOrder`, `recordOrders`, a processed request). A program the viewer may not "
        "see is NOT_FOUND, as `node(id:)` would answer."
    )
    async def conversion_recorded(
        self,
        info: Info,
        program_id: Annotated[strawberry.ID, strawberry.argument(description="The program.")],
    ) -> AsyncGenerator[Conversion, None]:
        viewer = info.context.require_viewer()
        with as_bad_input():
            program_pk = decode_typed(program_id, "Program", ("programId",))
        reader = info.context.reader
        with _slot(info, viewer), HUB.subscription() as updates:
            if (await reader.get_many("Program", [program_pk]))[0] is None:
                with as_bad_input():
                    raise NotFound("program", ("programId",))
            while True:
                recorded = sorted(
                    {
                        e.object_id
                        for e in await _next_events(info, updates)
                        if e.type == "conversion.recorded"
                    }
                )
                if not recorded:
                    continue
                info.context.loaders.clear_all()  # nested fields read as they are now
                for conversion in await reader.get_many("Conversion", recorded):
                    if conversion is not None and conversion.program_id == program_pk:
                        yield Conversion.from_domain(conversion)

    @strawberry.subscription(
        description="An import's, export's or billing run's progress (the ImportJob, "
        "ExportJob or BillingRun id): now, then at each change (checked every second and at "
        "once when it ends), until it has ended. Only its author and admins may follow it."
    )
    async def job_progress(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The job.")],
    ) -> AsyncGenerator[JobProgressUpdate, None]:
        viewer = info.context.require_viewer()
        job_id = await _job_pk(info, viewer, id)
        with _slot(info, viewer), HUB.subscription() as updates:
            last = await _progress(info, viewer, id, job_id)
            if last is None:
                with as_bad_input():
                    raise NotFound("job", ("id",))
            yield last
            while last.status not in _ENDED:
                await _next_events(info, updates, PROGRESS_POLL_SECONDS)
                now = await _progress(info, viewer, id, job_id)
                if now is None:
                    return
                if (now.status, now.processed, now.errors) != (
                    last.status,
                    last.processed,
                    last.errors,
                ):
                    yield now
                last = now
