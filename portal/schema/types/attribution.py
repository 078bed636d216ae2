"""Attribution decisions as `recordOrder` answers them (SPEC §5)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import strawberry

from portal.domain.attribution import AttributionRule as DomainRule
from portal.domain.attribution import Touchpoint as DomainTouchpoint
from portal.domain.attribution import TouchpointKind
from portal.schema.types.partners import Partner
from portal.services.order_types import ALREADY_RECORDED, OrderAttribution

if TYPE_CHECKING:
    from portal.schema.context import Context

TouchpointKindEnum = strawberry.enum(
    TouchpointKind,
    description="Evidence that a partner referred an order. A CLICK_ID ranks like a COOKIE; "
    "both beat a COUPON.",
)


@strawberry.enum(description="The rule that decided who earns an order (SPEC §5).")
class AttributionRule(enum.Enum):
    COOKIE = strawberry.enum_value("COOKIE", description="New customer or lead: a cookie won.")
    CLICK_ID = strawberry.enum_value(
        "CLICK_ID", description="New customer or lead: a click id won."
    )
    COUPON = strawberry.enum_value(
        "COUPON",
        description="New customer or lead: a coupon won (no cookie or click id counted).",
    )
    NO_TOUCHPOINT = strawberry.enum_value(
        "NO_TOUCHPOINT",
        description="New customer or lead: no touchpoint counted; nobody earns it.",
    )
    FOLLOW_UP_FIRST_ORDER_ONLY = strawberry.enum_value(
        "FOLLOW_UP_FIRST_ORDER_ONLY",
        description="Returning customer, policy FIRST_ORDER_ONLY: nobody earns it.",
    )
    FOLLOW_UP_IN_WINDOW = strawberry.enum_value(
        "FOLLOW_UP_IN_WINDOW",
        description="Returning customer inside the follow-up window: the original referrer.",
    )
    FOLLOW_UP_WINDOW_EXPIRED = strawberry.enum_value(
        "FOLLOW_UP_WINDOW_EXPIRED",
        description="Returning customer after the follow-up window: nobody earns it.",
    )
    FOLLOW_UP_LIFETIME = strawberry.enum_value(
        "FOLLOW_UP_LIFETIME",
        description="Returning customer, policy LIFETIME: the original referrer.",
    )
    FOLLOW_UP_WHENEVER_TRACKED = strawberry.enum_value(
        "FOLLOW_UP_WHENEVER_TRACKED",
        description="Returning customer, policy WHENEVER_TRACKED: whoever the touchpoints name.",
    )
    ORIGINAL_REFERRER_INELIGIBLE = strawberry.enum_value(
        "ORIGINAL_REFERRER_INELIGIBLE",
        description="The original referrer would earn it but has no ACTIVE relationship: nobody.",
    )
    SAME_ORDER = strawberry.enum_value(
        "SAME_ORDER",
        description="The order id has a conversion of the other target kind (its sale, or its "
        "lead) already: an order belongs to one partner, so that partner earns this one too "
        "(nobody when its relationship does not earn any more).",
    )
    ALREADY_RECORDED = strawberry.enum_value(
        ALREADY_RECORDED,
        description="The order was recorded before: the existing conversion answers, "
        "nothing was created or changed.",
    )


assert {r.name for r in DomainRule} | {ALREADY_RECORDED} == {r.name for r in AttributionRule}


@strawberry.type(description="A touchpoint of the order, as sent with it.")
class Touchpoint:
    kind: TouchpointKindEnum = strawberry.field(description="Cookie, click id or coupon.")  # type: ignore[valid-type]
    at: datetime = strawberry.field(description="When it was set (or the coupon redeemed).")
    consent: bool | None = strawberry.field(description="Consent as sent; null = unknown.")
    reference: str | None = strawberry.field(description="Cookie id, click id or coupon code.")
    partner_pk: strawberry.Private[int]

    @classmethod
    def from_domain(cls, t: DomainTouchpoint) -> Touchpoint:
        return cls(
            kind=t.kind, at=t.at, consent=t.consent, reference=t.reference, partner_pk=t.partner_id
        )

    @strawberry.field(description="The partner it names (null where not visible to the viewer).")
    async def partner(self, info: strawberry.Info[Context, None]) -> Partner | None:
        return await info.context.loaders.load_as("Partner", self.partner_pk, Partner.from_domain)


@strawberry.type(description="Who earns an order and why; also answered when nobody does.")
class Attribution:
    rule: AttributionRule = strawberry.field(description="The rule that decided.")
    reason: str = strawberry.field(
        description="The decision in words: the rule, the winning touchpoint, the ones it beat "
        "and the ones that did not count. Partners are named by name and public id (the id "
        "`partner { id }` answers), e.g. `Cashback Club (UGFydG5lcjox)`; a partner without a "
        "relationship to the program by public id only."
    )
    touchpoint: Touchpoint | None = strawberry.field(
        description="The touchpoint that won; null when a follow-up rule decided or nobody won."
    )
    returning_customer: bool = strawberry.field(
        description="Whether an earlier attributed order of the program matched the customer "
        "by customer id or e-mail."
    )
    partner_pk: strawberry.Private[int | None]

    @classmethod
    def from_service(cls, a: OrderAttribution) -> Attribution:
        return cls(
            rule=AttributionRule(a.rule),
            reason=a.reason,
            touchpoint=Touchpoint.from_domain(a.touchpoint) if a.touchpoint else None,
            returning_customer=a.returning_customer,
            partner_pk=a.partner_id,
        )

    @strawberry.field(description="The partner that earns the order; null = nobody.")
    async def partner(self, info: strawberry.Info[Context, None]) -> Partner | None:
        return await info.context.loaders.load_as("Partner", self.partner_pk, Partner.from_domain)
