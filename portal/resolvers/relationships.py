"""applyToProgram, setRelationship."""

from __future__ import annotations

from typing import Annotated

import strawberry

from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.resolvers.support import Info, pk, require_pk, run_in_uow, user_error_type
from portal.schema.types.enums import FollowUpPolicyEnum, RelationshipStatusEnum
from portal.schema.types.partners import Relationship
from portal.services import relationships

ApplyToProgramErrorCode, ApplyToProgramUserError = user_error_type(
    "ApplyToProgram", ["ALREADY_APPLIED", "BLOCKED", "REQUIRED"]
)
SetRelationshipErrorCode, SetRelationshipUserError = user_error_type(
    "SetRelationship",
    [
        "INVALID_TRANSITION",
        "COMMISSION_MODEL_REQUIRED",
        "OUT_OF_RANGE",
        "CONFLICTING_INPUT",
        "CONFLICT",
    ],
)


@strawberry.input(description="A partner's application to a program.")
class ApplyToProgramInput:
    program_id: strawberry.ID = strawberry.field(description="The program to apply to.")
    partner_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Admins: the partner that applies. Partner users: ignored (their own).",
    )


@strawberry.type(description="The relationship in status APPLIED.")
class ApplyToProgramPayload:
    relationship: Relationship | None = strawberry.field(
        description="The relationship; null on errors."
    )
    user_errors: list[ApplyToProgramUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems."
    )


@strawberry.input(
    description="Invite a partner to a program or change its relationship; omitted fields keep "
    "their value."
)
class SetRelationshipInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    partner_id: strawberry.ID = strawberry.field(description="The partner.")
    status: RelationshipStatusEnum | None = strawberry.field(
        default=None,
        description="New status. Null keeps the current one; a new relationship (an invitation) "
        "defaults to ACTIVE and may only start ACTIVE or BLOCKED.",
    )
    commission_model_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Commission model of the same program; required to become ACTIVE unless the "
        "relationship has one. Null keeps the current one.",
    )
    follow_up_policy: FollowUpPolicyEnum | None = strawberry.field(
        default=None,
        description="Override of the program's follow-up policy for customers this partner "
        "referred first. Null keeps the current override.",
    )
    follow_up_window_days: int | None = strawberry.field(
        default=None,
        description="Override of the program's follow-up window (1–3650 days). Null keeps the "
        "current override.",
    )
    clear_follow_up_override: bool = strawberry.field(
        default=False,
        description="Drop the follow-up overrides, so the program's settings apply again. "
        "Cannot be combined with followUpPolicy or followUpWindowDays.",
    )


@strawberry.type(description="The created or changed relationship.")
class SetRelationshipPayload:
    relationship: Relationship | None = strawberry.field(
        description="The relationship; null on errors."
    )
    user_errors: list[SetRelationshipUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems."
    )


ApplyToProgramArgument = Annotated[
    ApplyToProgramInput, strawberry.argument(description="The program to apply to.")
]

SetRelationshipArgument = Annotated[
    SetRelationshipInput, strawberry.argument(description="The relationship and what to change.")
]


@strawberry.type
class RelationshipMutations:
    @strawberry.mutation(
        description="Apply to a program (partners; admins name the partner). Creates an APPLIED "
        "relationship, or applies again after a rejection; a blocked partner cannot apply."
    )
    async def apply_to_program(
        self, info: Info, input: ApplyToProgramArgument
    ) -> ApplyToProgramPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> Relationship:
            applied = await relationships.apply_to_program(
                uow,
                viewer,
                program_id=require_pk(input.program_id, "Program", "programId"),
                partner_id=pk(input.partner_id, "Partner", "partnerId"),
            )
            return Relationship.from_domain(applied)

        found, errors = await run_in_uow(
            info, ApplyToProgramUserError, ApplyToProgramErrorCode, use_case
        )
        return ApplyToProgramPayload(relationship=found, user_errors=errors)

    @strawberry.mutation(
        description="Invite a partner (ACTIVE) or change a relationship's status, commission "
        "model and follow-up override (admins, or the program's advertiser)."
    )
    async def set_relationship(
        self, info: Info, input: SetRelationshipArgument
    ) -> SetRelationshipPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> Relationship:
            change = relationships.RelationshipChange(
                status=input.status,
                commission_model_id=pk(
                    input.commission_model_id, "CommissionModel", "commissionModelId"
                ),
                follow_up_policy=input.follow_up_policy,
                follow_up_window_days=input.follow_up_window_days,
                clear_follow_up_override=input.clear_follow_up_override,
            )
            changed = await relationships.set_relationship(
                uow,
                viewer,
                program_id=require_pk(input.program_id, "Program", "programId"),
                partner_id=require_pk(input.partner_id, "Partner", "partnerId"),
                change=change,
            )
            return Relationship.from_domain(changed)

        found, errors = await run_in_uow(
            info, SetRelationshipUserError, SetRelationshipErrorCode, use_case
        )
        return SetRelationshipPayload(relationship=found, user_errors=errors)
