"""Conversion requests, their comments, previews and decisions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from portal.adapters.request_reader import Actor as DomainActor
from portal.adapters.request_reader import Comment as DomainComment
from portal.adapters.request_reader import RequestReader
from portal.domain import requests as domain
from portal.domain.conversions import FieldChange as DomainChange
from portal.domain.money import canonical, without_padding
from portal.schema.ids import encode_id
from portal.schema.scalars import CurrencyCode
from portal.schema.types.base import Connection, Money, Node, money
from portal.schema.types.conversions import Conversion, FieldChange
from portal.schema.types.enums import ConversionStatusEnum, RoleEnum
from portal.schema.types.partners import Partner
from portal.schema.types.programs import Program

if TYPE_CHECKING:
    from portal.schema.context import Context

RequestKindEnum = strawberry.enum(
    domain.RequestKind, description="CREATE_NEW: a sale tracking missed; CHANGE_EXISTING: fix one."
)
RequestStatusEnum = strawberry.enum(
    domain.RequestStatus,
    description="INQUIRED → ACCEPTED | REJECTED | WITHDRAWN; ACCEPTED → PROCESSED | FAILED; "
    "FAILED → ACCEPTED (retry).",
)
CommentVisibilityEnum = strawberry.enum(
    domain.CommentVisibility,
    description="SHARED with the partner, or INTERNAL (never shown to partners).",
)
DecisionEnum = strawberry.enum(domain.Decision, description="Accept or reject a request.")


def _reader(info: strawberry.Info[Context, None]) -> RequestReader:
    return RequestReader(info.context.engine, info.context.require_viewer())


async def load_actor(info: strawberry.Info[Context, None], user_id: int | None) -> Actor | None:
    if user_id is None:
        return None

    async def batch(ids: Any) -> list[Any]:
        return await _reader(info).actors(ids)

    found = await info.context.loaders.batched("actors", batch).load(user_id)
    return Actor.from_domain(found) if found else None


@strawberry.type(description="A user as the other side sees it: name and role (no e-mail).")
class Actor:
    id: strawberry.ID = strawberry.field(description="Global id of the user.")
    name: str = strawberry.field(description="Display name.")
    role: RoleEnum = strawberry.field(description="Role.")

    @classmethod
    def from_domain(cls, a: DomainActor) -> Actor:
        return cls(id=strawberry.ID(encode_id("User", a.id)), name=a.name, role=a.role)


def _amount(value: Decimal | None, currency: str | None) -> Decimal | None:
    if value is None:
        return None
    return canonical(value, currency) if currency else without_padding(value)


@strawberry.type(description="What a request asks for (CHANGE_EXISTING: null = unchanged).")
class RequestedValues:
    order_id: str | None = strawberry.field(description="Order id.")
    conversion_target: str | None = strawberry.field(description="Conversion target key.")
    tracking_category: str | None = strawberry.field(description="Tracking category key.")
    tracking_time: datetime | None = strawberry.field(description="Tracking time.")
    order_value: Decimal | None = strawberry.field(description="Net order value, in `currency`.")
    currency: CurrencyCode | None = strawberry.field(description="Currency of the order value.")  # type: ignore[valid-type]
    status: ConversionStatusEnum | None = strawberry.field(
        description="Requested conversion status."
    )
    commission: Decimal | None = strawberry.field(description="Requested explicit commission.")
    sub_ids: list[str | None] | None = strawberry.field(description="Sub IDs 1–6.")
    device: str | None = strawberry.field(description="Device.")
    conversion_note: str | None = strawberry.field(description="Conversion note code.")

    @classmethod
    def from_domain(cls, v: domain.RequestedValues) -> RequestedValues:
        return cls(
            order_id=v.order_id,
            conversion_target=v.target,
            tracking_category=v.category,
            tracking_time=v.tracking_time,
            order_value=_amount(v.order_value, v.currency),
            currency=v.currency,
            status=v.status,
            commission=None if v.commission is None else without_padding(v.commission),
            sub_ids=list(v.sub_ids) if v.sub_ids is not None else None,
            device=v.device,
            conversion_note=v.conversion_note,
        )


@strawberry.type(
    description="What accepting would do: each changed field old → new, and the commission."
)
class RequestPreview:
    changes: list[FieldChange] = strawberry.field(description="Changed fields, old → new.")
    commission: Money = strawberry.field(description="The (revised) commission.")
    commission_model_name: str | None = strawberry.field(description="Model that rated it.")
    breakdown: JSON = strawberry.field(description="How the commission came about.")


def preview_of(
    changes: tuple[DomainChange, ...],
    commission: Decimal,
    currency: str,
    model_name: str | None,
    breakdown: Any,
) -> RequestPreview:
    return RequestPreview(
        changes=[FieldChange(field=c.field, from_=c.old, to=c.new) for c in changes],
        commission=Money(amount=canonical(commission, currency), currency=currency),
        commission_model_name=model_name,
        breakdown=breakdown,
    )


@strawberry.type(description="A comment on a request.")
class RequestComment(Node):
    body: str = strawberry.field(description="Text.")
    visibility: CommentVisibilityEnum = strawberry.field(description="SHARED or INTERNAL.")
    created_at: datetime = strawberry.field(description="When.")
    author: Actor = strawberry.field(description="Who wrote it.")

    @classmethod
    def from_domain(cls, c: DomainComment) -> RequestComment:
        return cls(
            id=strawberry.ID(encode_id("RequestComment", c.id)),
            body=c.body,
            visibility=c.visibility,
            created_at=c.created_at,
            author=Actor(
                id=strawberry.ID(encode_id("User", c.author_id)),
                name=c.author_name,
                role=c.author_role,
            ),
        )


@strawberry.type(description="Who decided, when, and why.")
class RequestDecision:
    decided_at: datetime = strawberry.field(description="When.")
    conversion_note: str | None = strawberry.field(description="Conversion note code (rejections).")
    reason: str | None = strawberry.field(description="Reason text.")
    decided_by_pk: strawberry.Private[int | None]

    @strawberry.field(description="The decider.")
    async def decided_by(self, info: strawberry.Info[Context, None]) -> Actor | None:
        return await load_actor(info, self.decided_by_pk)


@strawberry.type(description="One step of a request's life.")
class RequestEvent:
    status: RequestStatusEnum = strawberry.field(description="The status it reached.")
    at: datetime = strawberry.field(description="When.")
    actor_pk: strawberry.Private[int | None]

    @strawberry.field(description="Who moved it there (null for the system).")
    async def actor(self, info: strawberry.Info[Context, None]) -> Actor | None:
        return await load_actor(info, self.actor_pk)


@strawberry.type(description="A request to create a conversion tracking missed, or to change one.")
class ConversionRequest(Node):
    kind: RequestKindEnum = strawberry.field(description="CREATE_NEW or CHANGE_EXISTING.")
    status: RequestStatusEnum = strawberry.field(description="Where it is in the workflow.")
    requested: RequestedValues = strawberry.field(description="What it asks for.")
    comment: str | None = strawberry.field(description="The author's note on raising it.")
    commission: Money | None = strawberry.field(
        description="Commission at the rate in effect at the tracking time (assigned on create)."
    )
    commission_model_name: str | None = strawberry.field(
        description="Name of that commission model."
    )
    failure: str | None = strawberry.field(
        description="Why processing failed (FAILED only): `CODE: message`; INTERNAL names an "
        "error id that is in the server log. A transient database failure is retried, never "
        "kept here."
    )
    created_at: datetime = strawberry.field(description="When it was raised.")
    updated_at: datetime = strawberry.field(description="Last change.")
    processed_at: datetime | None = strawberry.field(description="When it was applied.")
    entity: strawberry.Private[domain.ConversionRequest]

    @classmethod
    def from_domain(cls, r: domain.ConversionRequest) -> ConversionRequest:
        return cls(
            id=strawberry.ID(encode_id("ConversionRequest", r.id)),
            kind=r.kind,
            status=r.status,
            requested=RequestedValues.from_domain(r.requested),
            comment=r.comment,
            commission=money(r.commission, r.commission_currency),
            commission_model_name=r.commission_model_name,
            failure=r.failure,
            created_at=r.created_at,
            updated_at=r.updated_at,
            processed_at=r.processed_at,
            entity=r,
        )

    @strawberry.field(description="The program.")
    async def program(self, info: strawberry.Info[Context, None]) -> Program | None:
        found = await info.context.loaders.load("Program", self.entity.program_id)
        return Program.from_domain(found) if found else None

    @strawberry.field(description="The partner the request is for.")
    async def partner(self, info: strawberry.Info[Context, None]) -> Partner | None:
        found = await info.context.loaders.load("Partner", self.entity.partner_id)
        return Partner.from_domain(found) if found else None

    @strawberry.field(description="The conversion to change, or the one created once processed.")
    async def conversion(self, info: strawberry.Info[Context, None]) -> Conversion | None:
        found = await info.context.loaders.load("Conversion", self.entity.conversion_id)
        return Conversion.from_domain(found) if found else None

    @strawberry.field(description="Who raised it.")
    async def created_by(self, info: strawberry.Info[Context, None]) -> Actor | None:
        return await load_actor(info, self.entity.created_by)

    @strawberry.field(description="The decision, once decided.")
    def decision(self) -> RequestDecision | None:
        r = self.entity
        if r.decided_at is None:
            return None
        return RequestDecision(
            decided_at=r.decided_at,
            conversion_note=r.decision_note,
            reason=r.decision_reason,
            decided_by_pk=r.decided_by,
        )

    @strawberry.field(description="The steps of its life so far, oldest first.")
    def history(self) -> list[RequestEvent]:
        r = self.entity
        events = [
            RequestEvent(
                status=domain.RequestStatus.INQUIRED, at=r.created_at, actor_pk=r.created_by
            )
        ]
        if r.decided_at is not None:
            decided = (
                domain.RequestStatus.REJECTED
                if r.status is domain.RequestStatus.REJECTED
                else domain.RequestStatus.ACCEPTED
            )
            events.append(RequestEvent(status=decided, at=r.decided_at, actor_pk=r.decided_by))
        if r.status is domain.RequestStatus.WITHDRAWN:
            events.append(RequestEvent(status=r.status, at=r.updated_at, actor_pk=r.created_by))
        if r.status is domain.RequestStatus.FAILED:
            events.append(RequestEvent(status=r.status, at=r.updated_at, actor_pk=None))
        if r.processed_at is not None:
            events.append(
                RequestEvent(
                    status=domain.RequestStatus.PROCESSED, at=r.processed_at, actor_pk=None
                )
            )
        return events

    @strawberry.field(
        description="What accepting would do, computed now (for a detail view; it costs a few "
        "statements per request, so leave it out of lists)."
    )
    async def preview(self, info: strawberry.Info[Context, None]) -> RequestPreview | None:
        from portal.adapters.unit_of_work import UnitOfWork
        from portal.domain.errors import DomainError, ValidationFailed
        from portal.services.requests import preview_request

        if self.entity.status in domain.FINAL_STATUSES:
            return None
        async with UnitOfWork(info.context.engine) as uow:
            try:
                result = await preview_request(uow, info.context.require_viewer(), self.entity.id)
            except (DomainError, ValidationFailed):
                return None
        new = result.revised.conversion
        return preview_of(
            result.changes,
            new.commission,
            new.currency,
            new.commission_model_name,
            new.commission_breakdown,
        )

    @strawberry.field(
        description="The discussion, oldest first (partners never see INTERNAL ones)."
    )
    async def comments(
        self,
        info: strawberry.Info[Context, None],
        first: Annotated[
            int | None, strawberry.argument(description="First n (1–100, default 50).")
        ] = None,
        after: Annotated[str | None, strawberry.argument(description="After this cursor.")] = None,
    ) -> Connection[RequestComment]:
        from portal.adapters.pagination import PageRequest
        from portal.domain.errors import DomainError
        from portal.schema.errors import bad_input

        try:
            listing = await _reader(info).comments(
                self.entity.id, PageRequest(first=first, after=after)
            )
        except DomainError as error:
            raise bad_input(error) from None
        return Connection.of(listing, RequestComment.from_domain)  # type: ignore[no-any-return]
