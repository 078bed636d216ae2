"""createCommissionModel, addCommissionPeriod."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.commission import CommissionRate as DomainRate
from portal.resolvers.support import Info, require_pk, run_in_uow, user_error_type
from portal.schema.types.commission import CommissionModel, CommissionPeriod
from portal.services import commission

CreateCommissionModelErrorCode, CreateCommissionModelUserError = user_error_type(
    "CreateCommissionModel", ["BLANK", "TOO_LONG", "DUPLICATE_NAME"]
)
AddCommissionPeriodErrorCode, AddCommissionPeriodUserError = user_error_type(
    "AddCommissionPeriod",
    [
        "INVALID_PERIOD",
        "PERIOD_OVERLAP",
        "RATE_EMPTY",
        "DUPLICATE_RATE",
        "OUT_OF_RANGE",
        "TOO_PRECISE",
        "NEGATIVE_VALUE",
        "UNKNOWN_TARGET",
        "UNKNOWN_CATEGORY",
    ],
)


@strawberry.input(
    description="A new commission model of a program; add rates with addCommissionPeriod."
)
class CreateCommissionModelInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    name: str = strawberry.field(description="Name, unique in the program whatever the case.")
    discount_rating: bool = strawberry.field(
        default=False, description="Whether percentages apply to the order value after discount."
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Repeat a call with the same key to get the first call's model."
    )


@strawberry.type(description="The created commission model.")
class CreateCommissionModelPayload:
    commission_model: CommissionModel | None = strawberry.field(
        description="The model; null on errors."
    )
    user_errors: list[CreateCommissionModelUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems."
    )


@strawberry.input(description="The rate for one conversion target × tracking category.")
class CommissionRateInput:
    conversion_target: str = strawberry.field(
        description="Key of a conversion target of the program."
    )
    tracking_category: str = strawberry.field(
        description="Key of a tracking category of the program (`default` covers categories "
        "without a rate of their own)."
    )
    percentage: Decimal | None = strawberry.field(
        default=None, description="Percent of the net order value, 0–100, at most 4 decimals."
    )
    fixed_amount: Decimal | None = strawberry.field(
        default=None, description="Fixed amount per conversion in the program currency, ≥ 0."
    )


@strawberry.input(description="A new period of rates of a commission model.")
class AddCommissionPeriodInput:
    commission_model_id: strawberry.ID = strawberry.field(description="The commission model.")
    valid_from: datetime = strawberry.field(description="First instant the rates apply.")
    valid_to: datetime | None = strawberry.field(
        default=None,
        description="First instant they no longer apply (exclusive); null = open-ended. A period "
        "may start exactly where another ends, but never overlap it.",
    )
    rates: list[CommissionRateInput] = strawberry.field(
        description="At least one rate; each target × category at most once."
    )


@strawberry.type(description="The commission model with its new period.")
class AddCommissionPeriodPayload:
    commission_model: CommissionModel | None = strawberry.field(
        description="The model with all its periods; null on errors."
    )
    commission_period: CommissionPeriod | None = strawberry.field(
        description="The added period; null on errors."
    )
    user_errors: list[AddCommissionPeriodUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems."
    )


CreateCommissionModelArgument = Annotated[
    CreateCommissionModelInput, strawberry.argument(description="The model to create.")
]

AddCommissionPeriodArgument = Annotated[
    AddCommissionPeriodInput, strawberry.argument(description="The model and the period to add.")
]


@strawberry.type
class CommissionMutations:
    @strawberry.mutation(
        description="Create a commission model in a program (admins, or the program's advertiser)."
    )
    async def create_commission_model(
        self, info: Info, input: CreateCommissionModelArgument
    ) -> CreateCommissionModelPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> CommissionModel:
            created = await commission.create_commission_model(
                uow,
                viewer,
                program_id=require_pk(input.program_id, "Program", "programId"),
                name=input.name,
                discount_rating=input.discount_rating,
                idempotency_key=input.idempotency_key,
            )
            return CommissionModel.from_domain(created)

        model, errors = await run_in_uow(
            info, CreateCommissionModelUserError, CreateCommissionModelErrorCode, use_case
        )
        return CreateCommissionModelPayload(commission_model=model, user_errors=errors)

    @strawberry.mutation(
        description="Add a period of rates to a commission model (admins, or the program's "
        "advertiser). Conversions already rated keep their commission."
    )
    async def add_commission_period(
        self, info: Info, input: AddCommissionPeriodArgument
    ) -> AddCommissionPeriodPayload:
        async def use_case(
            uow: UnitOfWork, viewer: Viewer
        ) -> tuple[CommissionModel, CommissionPeriod]:
            model_id = require_pk(input.commission_model_id, "CommissionModel", "commissionModelId")
            rates = [
                DomainRate(r.conversion_target, r.tracking_category, r.percentage, r.fixed_amount)
                for r in input.rates
            ]
            model, period_id = await commission.add_commission_period(
                uow,
                viewer,
                model_id=model_id,
                valid_from=input.valid_from,
                valid_to=input.valid_to,
                rates=rates,
            )
            period = next(p for p in model.periods if p.id == period_id)
            return CommissionModel.from_domain(model), CommissionPeriod.from_domain(period)

        result, errors = await run_in_uow(
            info, AddCommissionPeriodUserError, AddCommissionPeriodErrorCode, use_case
        )
        return AddCommissionPeriodPayload(
            commission_model=result[0] if result else None,
            commission_period=result[1] if result else None,
            user_errors=errors,
        )
