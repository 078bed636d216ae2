"""Advertisers, programs and a program's vocabularies."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from portal.domain import programs as domain
from portal.schema.ids import encode_id
from portal.schema.scalars import CurrencyCode
from portal.schema.types.base import Node
from portal.schema.types.billing_data import AdvertiserBilling, NetworkFee
from portal.schema.types.enums import ConsentModeEnum, FollowUpPolicyEnum, TargetKindEnum

if TYPE_CHECKING:
    from portal.schema.context import Context
    from portal.schema.types.commission import CommissionModel


CommissionModelRef = Annotated["CommissionModel", strawberry.lazy("portal.schema.types.commission")]


@strawberry.type(description="A company that runs partner programs.")
class Advertiser(Node):
    name: str = strawberry.field(description="Display name.")
    created_at: datetime = strawberry.field(description="When the advertiser was created.")
    pk: strawberry.Private[int]

    @classmethod
    def from_domain(cls, a: domain.Advertiser) -> Advertiser:
        return cls(
            id=strawberry.ID(encode_id("Advertiser", a.id)),
            pk=a.id,
            name=a.name,
            created_at=a.created_at,
        )

    @strawberry.field(
        description="Billing data (country, VAT id, address): the advertiser itself and admins; "
        "null for others."
    )
    async def billing(self, info: strawberry.Info[Context, None]) -> AdvertiserBilling | None:
        from portal.adapters.billing_reader import BillingReader

        reader = BillingReader(info.context.engine, info.context.require_viewer())
        found = await info.context.loaders.batched(
            "advertiser_billing", reader.advertiser_billing
        ).load(self.pk)
        return (
            None if found is None else AdvertiserBilling.of(found if found != "DEFAULT" else None)
        )


@strawberry.type(description="A commercial grouping of products inside a program (e.g. `fashion`).")
class TrackingCategory(Node):
    key: str = strawberry.field(description="Stable key used in orders, requests and files.")
    name: str = strawberry.field(description="Display name.")
    active: bool = strawberry.field(description="Inactive categories are refused in new orders.")

    @classmethod
    def from_domain(cls, c: domain.TrackingCategory) -> TrackingCategory:
        return cls(
            id=strawberry.ID(encode_id("TrackingCategory", c.id)),
            key=c.key,
            name=c.name,
            active=c.active,
        )


@strawberry.type(description="A kind of rated event, e.g. SALE_NEW_CUSTOMER or LEAD.")
class ConversionTarget(Node):
    key: str = strawberry.field(description="Stable key used in orders, requests and files.")
    name: str = strawberry.field(description="Display name.")
    active: bool = strawberry.field(description="Inactive targets are refused in new orders.")
    kind: TargetKindEnum = strawberry.field(  # type: ignore[valid-type]
        description="SALE (an order) or LEAD (no order)."
    )

    @classmethod
    def from_domain(cls, t: domain.ConversionTarget) -> ConversionTarget:
        return cls(
            id=strawberry.ID(encode_id("ConversionTarget", t.id)),
            key=t.key,
            name=t.name,
            active=t.active,
            kind=t.kind,
        )


@strawberry.type(description="A coded reason for a status change (RETURNED, DUPLICATE …).")
class ConversionNote(Node):
    code: str = strawberry.field(description="The code, e.g. RETURNED.")
    text: str = strawberry.field(description="What the code means.")

    @classmethod
    def from_domain(cls, n: domain.ConversionNote) -> ConversionNote:
        return cls(id=strawberry.ID(encode_id("ConversionNote", n.id)), code=n.code, text=n.text)


@strawberry.type(description="One partner program of an advertiser.")
class Program(Node):
    name: str = strawberry.field(description="Display name.")
    currency: CurrencyCode = strawberry.field(  # type: ignore[valid-type]
        description="Currency of order values and commissions; fixed once conversions exist."
    )
    cookie_lifetime_days: int = strawberry.field(
        description="A cookie set longer ago than this before an order does not count."
    )
    consent_mode: ConsentModeEnum = strawberry.field(description="How consent affects attribution.")
    follow_up_policy: FollowUpPolicyEnum = strawberry.field(
        description="Default follow-up-order policy (a relationship may override it)."
    )
    follow_up_window_days: int = strawberry.field(
        description="Window of FIRST_ORDER_AND_WINDOW, counted from the first attributed order."
    )
    allow_self_acceptance: bool = strawberry.field(
        description="Whether a user may accept a conversion request the same user raised."
    )
    publicly_listed: bool = strawberry.field(
        description="Whether partners without a relationship see the program (its public "
        "fields) and may apply to it (`applyToProgram`). Partners never see an unlisted program "
        "they have no relationship with; its advertiser adds partners it already works with, "
        "an admin any partner (`setRelationship`)."
    )
    strict_tracking_categories: bool = strawberry.field(
        description="Whether an explicit tracking category an order names (on the order or a "
        "basket "
        "position) must be a known, active key of the program: strict refuses others "
        "(UNKNOWN_CATEGORY / INACTIVE_CATEGORY); not strict books an unknown key as `default`. "
        "New programs are strict; programs created before are not."
    )
    created_at: datetime = strawberry.field(description="When the program was created.")
    pk: strawberry.Private[int]
    advertiser_pk: strawberry.Private[int]

    @classmethod
    def from_domain(cls, p: domain.Program) -> Program:
        return cls(
            id=strawberry.ID(encode_id("Program", p.id)),
            pk=p.id,
            advertiser_pk=p.advertiser_id,
            name=p.name,
            currency=p.currency,
            cookie_lifetime_days=p.cookie_lifetime_days,
            consent_mode=p.consent_mode,
            follow_up_policy=p.follow_up_policy,
            follow_up_window_days=p.follow_up_window_days,
            allow_self_acceptance=p.allow_self_acceptance,
            publicly_listed=p.publicly_listed,
            strict_tracking_categories=p.strict_tracking_categories,
            created_at=p.created_at,
        )

    @strawberry.field(
        description="The network fees charged to the advertiser, by start (the advertiser and "
        "admins; empty for partners)."
    )
    async def network_fees(self, info: strawberry.Info[Context, None]) -> list[NetworkFee]:
        from portal.adapters.billing_reader import BillingReader

        reader = BillingReader(info.context.engine, info.context.require_viewer())
        found = await info.context.loaders.batched("network_fees", reader.network_fees).load(
            self.pk
        )
        return [NetworkFee.of(f) for f in found]

    @strawberry.field(description="The advertiser running the program.")
    async def advertiser(self, info: strawberry.Info[Context, None]) -> Advertiser | None:
        return await info.context.loaders.load_as(
            "Advertiser", self.advertiser_pk, Advertiser.from_domain
        )

    @strawberry.field(description="Tracking categories; `default` always exists.")
    async def tracking_categories(
        self, info: strawberry.Info[Context, None]
    ) -> list[TrackingCategory]:
        found = await info.context.loaders.vocabulary("categories").load(self.pk)
        return [TrackingCategory.from_domain(c) for c in found]

    @strawberry.field(description="Conversion targets of the program.")
    async def conversion_targets(
        self, info: strawberry.Info[Context, None]
    ) -> list[ConversionTarget]:
        found = await info.context.loaders.vocabulary("targets").load(self.pk)
        return [ConversionTarget.from_domain(t) for t in found]

    @strawberry.field(description="Conversion notes (reasons for status changes) of the program.")
    async def conversion_notes(self, info: strawberry.Info[Context, None]) -> list[ConversionNote]:
        found = await info.context.loaders.vocabulary("notes").load(self.pk)
        return [ConversionNote.from_domain(n) for n in found]

    @strawberry.field(
        description=(
            "Commission models of the program (a partner sees only the ones it works under)."
        )
    )
    async def commission_models(
        self, info: strawberry.Info[Context, None]
    ) -> list[CommissionModelRef]:
        from portal.schema.types.commission import CommissionModel

        found = await info.context.loaders.program_models().load(self.pk)
        return [CommissionModel.from_domain(m) for m in found]
