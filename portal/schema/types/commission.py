"""Commission models, their periods and rates."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from portal.domain import commission as domain
from portal.domain.money import without_padding
from portal.schema.ids import encode_id
from portal.schema.types.base import Node

if TYPE_CHECKING:
    from portal.schema.context import Context
    from portal.schema.types.programs import Program

ProgramRef = Annotated["Program", strawberry.lazy("portal.schema.types.programs")]


@strawberry.type(description="The rate for one conversion target × tracking category.")
class CommissionRate:
    conversion_target: str = strawberry.field(description="Key of the conversion target.")
    tracking_category: str = strawberry.field(
        description="Key of the tracking category (`default` applies to categories without a rate)."
    )
    percentage: Decimal | None = strawberry.field(description="Percent of the net order value.")
    fixed_amount: Decimal | None = strawberry.field(
        description="Fixed amount per conversion in the program currency."
    )


@strawberry.type(description="Rates valid from `validFrom` (inclusive) to `validTo` (exclusive).")
class CommissionPeriod(Node):
    valid_from: datetime = strawberry.field(description="First instant the rates apply.")
    valid_to: datetime | None = strawberry.field(
        description="First instant they no longer apply; null = open-ended."
    )
    rates: list[CommissionRate] = strawberry.field(description="The rates of this period.")

    @classmethod
    def from_domain(cls, p: domain.CommissionPeriod) -> CommissionPeriod:
        return cls(
            id=strawberry.ID(encode_id("CommissionPeriod", p.id)),
            valid_from=p.valid_from,
            valid_to=p.valid_to,
            rates=[
                CommissionRate(
                    conversion_target=r.target,
                    tracking_category=r.category,
                    percentage=None if r.percentage is None else without_padding(r.percentage),
                    fixed_amount=None
                    if r.fixed_amount is None
                    else without_padding(r.fixed_amount),
                )
                for r in p.rates
            ],
        )


@strawberry.type(description="A named set of rates of a program, with validity periods.")
class CommissionModel(Node):
    name: str = strawberry.field(
        description="Name, unique in the program (`default`, `premium` …)."
    )
    discount_rating: bool = strawberry.field(
        description="Whether percentages apply to the order value after discount."
    )
    periods: list[CommissionPeriod] = strawberry.field(description="Periods, oldest first.")
    pk: strawberry.Private[int]
    program_pk: strawberry.Private[int]

    @classmethod
    def from_domain(cls, m: domain.CommissionModel) -> CommissionModel:
        return cls(
            id=strawberry.ID(encode_id("CommissionModel", m.id)),
            pk=m.id,
            program_pk=m.program_id,
            name=m.name,
            discount_rating=m.discount_rating,
            periods=[CommissionPeriod.from_domain(p) for p in m.periods],
        )

    @strawberry.field(description="The program the model belongs to.")
    async def program(self, info: strawberry.Info[Context, None]) -> ProgramRef | None:
        from portal.schema.types.programs import Program

        return await info.context.loaders.load_as("Program", self.program_pk, Program.from_domain)
