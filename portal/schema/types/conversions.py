"""Conversions, their basket positions and revision history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from portal.domain import conversions as domain
from portal.domain.money import canonical, without_padding
from portal.schema.ids import encode_id
from portal.schema.types.base import Money, Node, money, to_money
from portal.schema.types.enums import ConversionStatusEnum, RevisionSourceEnum
from portal.schema.types.partners import Partner
from portal.schema.types.programs import Program

if TYPE_CHECKING:
    from portal.schema.context import Context
    from portal.schema.types.billing import PayoutEntry


@strawberry.type(description="One line of an order, rated with its own category.")
class BasketPosition:
    position: int = strawberry.field(description="1-based line number.")
    tracking_category: str = strawberry.field(description="Category key of the line.")
    order_value: Decimal = strawberry.field(description="Net value of the line.")
    commission: Decimal = strawberry.field(description="Commission share of the line.")
    status: ConversionStatusEnum = strawberry.field(description="Status of the line.")
    product_id: str | None = strawberry.field(description="The shop's product id, if sent.")
    quantity: int = strawberry.field(description="Quantity.")
    shop_category: str | None = strawberry.field(
        default=None, description="The shop's category path, if sent."
    )
    sku: str | None = strawberry.field(default=None, description="The shop's SKU, if any.")
    brand: str | None = strawberry.field(default=None, description="The brand, if sent.")
    on_sale: bool | None = strawberry.field(default=None, description="The sale flag, if sent.")
    mapped: bool = strawberry.field(
        default=False,
        description="Whether the category came from the program's cart mapping (no explicit "
        "category was sent); the commission breakdown names the rule.",
    )


@strawberry.type(description="One changed field of a revision: old → new (as text).")
class FieldChange:
    field: str = strawberry.field(description="Field name, e.g. `commission`.")
    from_: str | None = strawberry.field(name="from", description="Value before (null = unset).")
    to: str | None = strawberry.field(description="Value after (null = unset).")


@strawberry.type(description="A recorded change of a conversion: who, when, why and what.")
class ConversionRevision:
    number: int = strawberry.field(description="1 for the creation, then counting up.")
    source: RevisionSourceEnum = strawberry.field(description="What caused the change.")
    created_at: datetime = strawberry.field(description="When.")
    changes: list[FieldChange] = strawberry.field(description="Field-level diff.")
    request_id: strawberry.ID | None = strawberry.field(
        description="The conversion request that caused it, if any."
    )
    actor_pk: strawberry.Private[int | None]

    @strawberry.field(
        description="E-mail of the user who made the change, where the viewer may see that user "
        "(admins, and the user itself); null otherwise and for the system."
    )
    async def actor_email(self, info: strawberry.Info[Context, None]) -> str | None:
        found = await info.context.loaders.load("User", self.actor_pk)
        return found.email if found else None


@strawberry.type(description="A rated sale or lead.")
class Conversion(Node):
    order_id: str = strawberry.field(description="The advertiser's order id.")
    conversion_target: str = strawberry.field(description="Key of the conversion target.")
    tracking_category: str = strawberry.field(description="Key of the tracking category.")
    tracking_time: datetime = strawberry.field(description="When the sale or lead was tracked.")
    order_value: Money = strawberry.field(description="Net order value in the program currency.")
    original_order_value: Money | None = strawberry.field(
        description="The order value as reported, when it was in another currency."
    )
    exchange_rate: Decimal | None = strawberry.field(
        description="Rate the original value was converted at (program units per original "
        "unit), rounded half-up to 12 places. The order value itself was converted exactly "
        "from the reference rates (÷ the rate into the base, × the rate out of it: "
        "`commissionBreakdown.exchange`) and rounded once."
    )
    commission: Money = strawberry.field(description="Commission in the program currency.")
    commission_model_name: str | None = strawberry.field(
        description="Name of the commission model that rated it (snapshot)."
    )
    commission_breakdown: JSON = strawberry.field(
        description="How the commission came about: period, rates, bases, amounts (snapshot)."
    )
    commission_overridden: bool = strawberry.field(
        description="Whether an admin or advertiser set the commission explicitly."
    )
    status: ConversionStatusEnum = strawberry.field(description="OPEN, CONFIRMED or REJECTED.")
    conversion_note: str | None = strawberry.field(description="Code of the status reason.")
    sub_ids: list[str | None] = strawberry.field(description="Sub IDs 1–6 (null where unset).")
    device: str | None = strawberry.field(description="Device class, if reported.")

    @strawberry.field(description="Basket positions, if any.")
    def basket(self) -> list[BasketPosition]:
        # Built when asked for: most answers (a recorded batch, a list page) leave it out.
        currency = self.order_value.currency
        return [
            BasketPosition(
                position=p.position,
                tracking_category=p.category,
                order_value=canonical(p.order_value, currency),
                commission=canonical(p.commission, currency),
                status=p.status,
                product_id=p.product_id,
                quantity=p.quantity,
                shop_category=p.shop.shop_category if p.shop else None,
                sku=p.shop.sku if p.shop else None,
                brand=p.shop.brand if p.shop else None,
                on_sale=p.shop.on_sale if p.shop else None,
                mapped=p.mapped,
            )
            for p in self.basket_positions
        ]

    paid: bool = strawberry.field(
        description="In a CONFIRMED or PAID payout entry: can no longer change."
    )
    payout_reserved: bool = strawberry.field(
        description="In a PREVIEW payout entry: cannot change unless the entry is cancelled."
    )
    created_at: datetime = strawberry.field(description="When the conversion was stored.")
    updated_at: datetime = strawberry.field(description="Last change.")
    pk: strawberry.Private[int]
    program_pk: strawberry.Private[int]
    partner_pk: strawberry.Private[int]
    payout_entry_pk: strawberry.Private[int | None]
    basket_positions: strawberry.Private[tuple[domain.BasketPosition, ...]]

    @classmethod
    def from_domain(cls, c: domain.Conversion) -> Conversion:
        return cls(
            id=strawberry.ID(encode_id("Conversion", c.id)),
            pk=c.id,
            program_pk=c.program_id,
            partner_pk=c.partner_id,
            order_id=c.order_id,
            conversion_target=c.target,
            tracking_category=c.category,
            tracking_time=c.tracking_time,
            order_value=to_money(c.order_value, c.currency),
            original_order_value=money(c.original_order_value, c.original_currency),
            exchange_rate=None if c.exchange_rate is None else without_padding(c.exchange_rate),
            commission=to_money(c.commission, c.currency),
            commission_model_name=c.commission_model_name,
            commission_breakdown=c.commission_breakdown,
            commission_overridden=c.commission_overridden,
            status=c.status,
            conversion_note=c.conversion_note,
            sub_ids=list(c.sub_ids),
            device=c.device,
            basket_positions=c.basket,
            paid=c.paid,
            payout_reserved=c.reserved,
            payout_entry_pk=c.payout_entry_id,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )

    @strawberry.field(description="The program.")
    async def program(self, info: strawberry.Info[Context, None]) -> Program | None:
        return await info.context.loaders.load_as("Program", self.program_pk, Program.from_domain)

    @strawberry.field(
        description="The payout entry that pays it (null: not billed yet, or not visible)."
    )
    async def payout_entry(
        self, info: strawberry.Info[Context, None]
    ) -> Annotated[PayoutEntry, strawberry.lazy("portal.schema.types.billing")] | None:
        from portal.schema.types.billing import PayoutEntry

        return await info.context.loaders.load_as(
            "PayoutEntry", self.payout_entry_pk, PayoutEntry.from_domain
        )

    @strawberry.field(description="The partner that earns the commission.")
    async def partner(self, info: strawberry.Info[Context, None]) -> Partner | None:
        return await info.context.loaders.load_as("Partner", self.partner_pk, Partner.from_domain)

    @strawberry.field(description="Every revision, oldest first.")
    async def history(self, info: strawberry.Info[Context, None]) -> list[ConversionRevision]:
        found = await info.context.loaders.history().load(self.pk)
        return [
            ConversionRevision(
                number=r.number,
                source=r.source,
                created_at=r.created_at,
                changes=[FieldChange(field=c.field, from_=c.old, to=c.new) for c in r.changes],
                request_id=strawberry.ID(encode_id("ConversionRequest", r.request_id))
                if r.request_id
                else None,
                actor_pk=r.actor_user_id,
            )
            for r in found
        ]
