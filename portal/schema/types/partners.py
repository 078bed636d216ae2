"""Partners and their relationships to programs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry

from portal.domain import partners as domain
from portal.schema.ids import encode_id
from portal.schema.scalars import CurrencyCode
from portal.schema.types.base import Node
from portal.schema.types.billing_data import PartnerBilling
from portal.schema.types.commission import CommissionModel
from portal.schema.types.enums import FollowUpPolicyEnum, RelationshipStatusEnum
from portal.schema.types.programs import Program

if TYPE_CHECKING:
    from portal.schema.context import Context


@strawberry.type(description="A publisher: cashback portal, coupon site, content site …")
class Partner(Node):
    name: str = strawberry.field(description="Display name.")
    payout_currency: CurrencyCode = strawberry.field(  # type: ignore[valid-type]
        description="Currency the partner is paid in."
    )
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 country (for VAT).")
    created_at: datetime = strawberry.field(description="When the partner was created.")
    pk: strawberry.Private[int]

    @classmethod
    def from_domain(cls, p: domain.Partner) -> Partner:
        return cls(
            id=strawberry.ID(encode_id("Partner", p.id)),
            pk=p.id,
            name=p.name,
            payout_currency=p.payout_currency,
            country=p.country,
            created_at=p.created_at,
        )

    @strawberry.field(
        description="Billing data (VAT id, tax status, payout minimum, bank account, address): "
        "the partner itself and admins only; null for others."
    )
    async def billing(self, info: strawberry.Info[Context, None]) -> PartnerBilling | None:
        from portal.adapters.billing_reader import BillingReader

        reader = BillingReader(info.context.engine, info.context.require_viewer())
        found = await info.context.loaders.batched("partner_billing", reader.partner_billing).load(
            self.pk
        )
        return None if found is None else PartnerBilling.of(found if found != "DEFAULT" else None)


@strawberry.type(description="A partner's standing in a program, with its commission model.")
class Relationship(Node):
    status: RelationshipStatusEnum = strawberry.field(description="Current status.")
    follow_up_policy: FollowUpPolicyEnum | None = strawberry.field(
        description="Override of the program's follow-up policy for this partner's customers."
    )
    follow_up_window_days: int | None = strawberry.field(
        description="Override of the program's follow-up window."
    )
    created_at: datetime = strawberry.field(description="When the partner applied or was added.")
    updated_at: datetime = strawberry.field(description="Last change.")
    pk: strawberry.Private[int]
    partner_pk: strawberry.Private[int]
    program_pk: strawberry.Private[int]
    model_pk: strawberry.Private[int | None]

    @classmethod
    def from_domain(cls, r: domain.Relationship) -> Relationship:
        return cls(
            id=strawberry.ID(encode_id("Relationship", r.id)),
            pk=r.id,
            partner_pk=r.partner_id,
            program_pk=r.program_id,
            model_pk=r.commission_model_id,
            status=r.status,
            follow_up_policy=r.follow_up_policy,
            follow_up_window_days=r.follow_up_window_days,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )

    @strawberry.field(description="The partner.")
    async def partner(self, info: strawberry.Info[Context, None]) -> Partner | None:
        return await info.context.loaders.load_as("Partner", self.partner_pk, Partner.from_domain)

    @strawberry.field(description="The program.")
    async def program(self, info: strawberry.Info[Context, None]) -> Program | None:
        return await info.context.loaders.load_as("Program", self.program_pk, Program.from_domain)

    @strawberry.field(description="The commission model the partner earns under (ACTIVE only).")
    async def commission_model(
        self, info: strawberry.Info[Context, None]
    ) -> CommissionModel | None:
        return await info.context.loaders.load_as(
            "CommissionModel", self.model_pk, CommissionModel.from_domain
        )
