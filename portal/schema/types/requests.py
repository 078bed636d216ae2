"""Conversion requests, their comments, previews and decisions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.scalars import JSON

from portal.adapters.request_reader import Actor as DomainActor
from portal.adapters.request_reader import Comment as DomainComment
from portal.adapters.request_reader import RequestReader
from portal.domain import requests as domain
from portal.domain.conversions import FieldChange as DomainChange
from portal.domain.money import canonical, without_padding
from portal.domain.rating import applied_rate
from portal.schema.arguments import After, First
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
    description="Where a request is in its workflow. The moves, and who makes them: "
    + domain.describe_transitions()
    + ". The system rejects an INQUIRED request when another partner's request for the same "
    "order is accepted, or when the conversion a change request is about moves to another "
    "partner.",
)
CommentVisibilityEnum = strawberry.enum(
    domain.CommentVisibility,
    description="SHARED with the partner, or INTERNAL (never shown to partners).",
)
DecisionEnum = strawberry.enum(domain.Decision, description="Accept or reject a request.")


def _reader(info: strawberry.Info[Context, None]) -> RequestReader:
    return RequestReader(info.context.engine, info.context.require_viewer())


def _request_key(request: domain.ConversionRequest) -> int:
    return request.id


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


@strawberry.type(
    description="One step of a request's life, as kept (the history is append-only: a retry "
    "adds steps, it never replaces any)."
)
class RequestEvent:
    status: RequestStatusEnum = strawberry.field(description="The status it reached.")
    from_status: RequestStatusEnum | None = strawberry.field(  # type: ignore[valid-type]
        description="The status it left; null for the raising of the request."
    )
    at: datetime = strawberry.field(description="When.")
    note: str | None = strawberry.field(
        description="The reason of a decision, the failure of a processing attempt."
    )
    actor_pk: strawberry.Private[int | None]

    @strawberry.field(description="Who moved it there (null for the system).")
    async def actor(self, info: strawberry.Info[Context, None]) -> Actor | None:
        return await load_actor(info, self.actor_pk)


@strawberry.type(description="A commission rate as a rating applied it.")
class AppliedCommissionRate:
    percentage: Decimal | None = strawberry.field(
        description="Percent of the net order value (e.g. `5.5`); null when the rate has none."
    )
    fixed_amount: Money | None = strawberry.field(
        description="Fixed amount per conversion; null when the rate has none."
    )


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
        return await info.context.loaders.load_as(
            "Program", self.entity.program_id, Program.from_domain
        )

    @strawberry.field(description="The partner the request is for.")
    async def partner(self, info: strawberry.Info[Context, None]) -> Partner | None:
        return await info.context.loaders.load_as(
            "Partner", self.entity.partner_id, Partner.from_domain
        )

    @strawberry.field(
        description="The conversion to change, the one an attribution claim would move (see "
        "`claimedConversion`), or the one created once processed; null where the viewer may "
        "not see it."
    )
    async def conversion(self, info: strawberry.Info[Context, None]) -> Conversion | None:
        return await info.context.loaders.load_as(
            "Conversion", self.entity.conversion_id, Conversion.from_domain
        )

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

    @strawberry.field(
        description="Every step of its life, oldest first: raised, then each move as it was "
        "kept — who, when, from, to and why (a FAILED → ACCEPTED retry and the failure before "
        "it stay)."
    )
    async def history(self, info: strawberry.Info[Context, None]) -> list[RequestEvent]:
        async def batch(ids: Any) -> list[Any]:
            return await _reader(info).moves(ids)

        moves = await info.context.loaders.batched("request_moves", batch).load(self.entity.id)
        return [
            RequestEvent(
                status=e.to_status,
                from_status=e.from_status,
                at=e.at,
                note=e.note,
                actor_pk=e.actor_user_id,
            )
            for e in domain.history_of(self.entity, moves)
        ]

    @strawberry.field(
        description="The rate the request's commission was assigned at (the rate in effect at "
        "the tracking time, of `commissionModelName`); null without a rating."
    )
    def commission_rate(self) -> AppliedCommissionRate | None:
        found = applied_rate(self.entity.commission_breakdown)
        if found is None:
            return None
        return AppliedCommissionRate(
            percentage=None if found.percentage is None else without_padding(found.percentage),
            fixed_amount=money(found.fixed_amount, self.entity.commission_currency),
        )

    @strawberry.field(
        description="An attribution claim: a CREATE_NEW request for an order that tracking "
        "recorded for another partner (before the request was raised, or after: tracking "
        "links the waiting requests of the order it records). This is that partner's "
        "conversion, which accepting "
        "moves to the request's partner (rated again under its relationship). Null for any "
        "other request, once processed, and wherever the viewer may not see that conversion: "
        "the claiming partner is never told whether the order exists."
    )
    async def claimed_conversion(self, info: strawberry.Info[Context, None]) -> Conversion | None:
        r = self.entity
        if (
            r.kind is not domain.RequestKind.CREATE_NEW
            or r.status is domain.RequestStatus.PROCESSED
        ):
            return None
        found = await info.context.loaders.load("Conversion", r.conversion_id)
        if found is None or found.partner_id == r.partner_id:
            return None
        return Conversion.from_domain(found)

    @strawberry.field(
        description="Other partners' open CREATE_NEW requests for the same order id (competing "
        "claims), oldest first. Accepting one settles the order: the others still INQUIRED "
        "are rejected by the system. Partners see only their own requests, so for them this "
        "is always empty."
    )
    async def competing_requests(
        self, info: strawberry.Info[Context, None]
    ) -> list[ConversionRequest]:
        async def batch(requests: Any) -> list[Any]:
            return await _reader(info).competing(requests)

        if self.entity.kind is not domain.RequestKind.CREATE_NEW:
            return []
        loader = info.context.loaders.batched_by("competing_requests", batch, key=_request_key)
        found = await loader.load(self.entity)
        return [ConversionRequest.from_domain(r) for r in found]

    @strawberry.field(
        description="What accepting would do, computed now (for a detail view; it costs a few "
        "statements per request, so leave it out of lists). For an attribution claim: the "
        "claimed conversion moving to this partner, for those who may see it; for the "
        "claiming partner, the conversion as created."
    )
    async def preview(self, info: strawberry.Info[Context, None]) -> RequestPreview | None:
        from portal.domain.errors import DomainError, ValidationFailed
        from portal.services.requests import preview_without_saving

        if self.entity.status in domain.FINAL_STATUSES:
            return None
        try:
            result = await preview_without_saving(
                info.context.engine, info.context.require_viewer(), self.entity.id, None
            )
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
        first: First = None,
        after: After = None,
    ) -> Connection[RequestComment]:
        from portal.adapters.pagination import PageRequest
        from portal.schema.errors import as_bad_input

        with as_bad_input():
            listing = await _reader(info).comments(
                self.entity.id, PageRequest(first=first, after=after)
            )
        return Connection.of(listing, RequestComment.from_domain)  # type: ignore[no-any-return]
