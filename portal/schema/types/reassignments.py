"""Conversions that accepted attribution claims moved to another partner."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry

from portal.domain import conversions as domain
from portal.schema.ids import encode_id
from portal.schema.types.base import Money, Node, to_money
from portal.schema.types.conversions import Conversion
from portal.schema.types.partners import Partner
from portal.schema.types.programs import Program

if TYPE_CHECKING:
    from portal.schema.context import Context


@strawberry.type(
    description="A conversion that an accepted attribution claim moved from one partner to "
    "another (SPEC §5: an order goes to one partner). The former partner sees what it lost — "
    "the order and its former commission — never who claimed it; the advertiser sees both "
    "partners and the claim."
)
class ConversionReassignment(Node):
    reassigned_at: datetime = strawberry.field(description="When the conversion moved.")
    order_id: str = strawberry.field(description="The order id.")
    conversion_target: str = strawberry.field(description="Target key at the move.")
    tracking_category: str = strawberry.field(description="Category key at the move.")
    tracking_time: datetime = strawberry.field(description="Tracking time of the order.")
    previous_commission: Money = strawberry.field(
        description="The commission the former partner had."
    )
    entity: strawberry.Private[domain.Reassignment]

    @classmethod
    def from_domain(cls, r: domain.Reassignment) -> ConversionReassignment:
        return cls(
            id=strawberry.ID(encode_id("ConversionReassignment", r.id)),
            reassigned_at=r.reassigned_at,
            order_id=r.order_id,
            conversion_target=r.target,
            tracking_category=r.category,
            tracking_time=r.tracking_time,
            previous_commission=to_money(r.previous_commission, r.currency),
            entity=r,
        )

    @strawberry.field(description="The program.")
    async def program(self, info: strawberry.Info[Context, None]) -> Program | None:
        return await info.context.loaders.load_as(
            "Program", self.entity.program_id, Program.from_domain
        )

    @strawberry.field(description="The partner the conversion was taken from.")
    async def from_partner(self, info: strawberry.Info[Context, None]) -> Partner | None:
        return await info.context.loaders.load_as(
            "Partner", self.entity.from_partner_id, Partner.from_domain
        )

    @strawberry.field(
        description="The partner that claimed it; null for the former partner, which is not "
        "told who."
    )
    async def to_partner(self, info: strawberry.Info[Context, None]) -> Partner | None:
        return await info.context.loaders.load_as(
            "Partner", self.entity.to_partner_id, Partner.from_domain
        )

    @strawberry.field(
        description="The conversion as it is now; null where the viewer may not see it (the "
        "former partner)."
    )
    async def conversion(self, info: strawberry.Info[Context, None]) -> Conversion | None:
        return await info.context.loaders.load_as(
            "Conversion", self.entity.conversion_id, Conversion.from_domain
        )

    @strawberry.field(
        description="The id of the accepted claim that moved it; null for the former partner."
    )
    async def request_id(self, info: strawberry.Info[Context, None]) -> strawberry.ID | None:
        found = await info.context.loaders.load("ConversionRequest", self.entity.request_id)
        return strawberry.ID(encode_id("ConversionRequest", found.id)) if found else None
