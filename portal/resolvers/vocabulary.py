"""createTrackingCategory, createConversionTarget, createConversionNote."""

from __future__ import annotations

from typing import Annotated

import strawberry

from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.programs import TargetKind
from portal.resolvers.support import Info, require_pk, run_in_uow, user_error_type
from portal.schema.types.enums import TargetKindEnum
from portal.schema.types.programs import ConversionNote, ConversionTarget, TrackingCategory
from portal.services import vocabulary

KEYED_CODES = ["INVALID_KEY", "BLANK", "TOO_LONG"]
CreateTrackingCategoryErrorCode, CreateTrackingCategoryUserError = user_error_type(
    "CreateTrackingCategory", [*KEYED_CODES, "DUPLICATE_KEY"]
)
CreateConversionTargetErrorCode, CreateConversionTargetUserError = user_error_type(
    "CreateConversionTarget", [*KEYED_CODES, "DUPLICATE_KEY"]
)
CreateConversionNoteErrorCode, CreateConversionNoteUserError = user_error_type(
    "CreateConversionNote", [*KEYED_CODES, "DUPLICATE_CODE"]
)
KEY_RULE = "1–64 letters, digits, `_` or `-`; unique in the program, whatever the case"


@strawberry.input(description="A new tracking category of a program.")
class CreateTrackingCategoryInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    key: str = strawberry.field(description=f"Key used in orders, requests and files ({KEY_RULE}).")
    name: str = strawberry.field(description="Display name.")
    active: bool = strawberry.field(
        default=True, description="Inactive categories are refused in new orders."
    )


@strawberry.type(description="The created tracking category.")
class CreateTrackingCategoryPayload:
    tracking_category: TrackingCategory | None = strawberry.field(
        description="The category; null on errors."
    )
    user_errors: list[CreateTrackingCategoryUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems."
    )


@strawberry.input(description="A new conversion target of a program (e.g. SALE_NEW_CUSTOMER).")
class CreateConversionTargetInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    key: str = strawberry.field(description=f"Key used in orders, requests and files ({KEY_RULE}).")
    name: str = strawberry.field(description="Display name.")
    active: bool = strawberry.field(
        default=True, description="Inactive targets are refused in new orders."
    )
    kind: TargetKindEnum | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description="SALE (an order) or LEAD (no order); default LEAD for the key `LEAD`, "
        "else SALE.",
    )


@strawberry.type(description="The created conversion target.")
class CreateConversionTargetPayload:
    conversion_target: ConversionTarget | None = strawberry.field(
        description="The target; null on errors."
    )
    user_errors: list[CreateConversionTargetUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems."
    )


@strawberry.input(description="A new conversion note (a coded reason for a status change).")
class CreateConversionNoteInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    code: str = strawberry.field(description=f"The code, e.g. OUT_OF_STOCK ({KEY_RULE}).")
    text: str = strawberry.field(description="What the code means (at most 500 characters).")


@strawberry.type(description="The created conversion note.")
class CreateConversionNotePayload:
    conversion_note: ConversionNote | None = strawberry.field(
        description="The note; null on errors."
    )
    user_errors: list[CreateConversionNoteUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems."
    )


CreateTrackingCategoryArgument = Annotated[
    CreateTrackingCategoryInput, strawberry.argument(description="The category to add.")
]

CreateConversionTargetArgument = Annotated[
    CreateConversionTargetInput, strawberry.argument(description="The target to add.")
]

CreateConversionNoteArgument = Annotated[
    CreateConversionNoteInput, strawberry.argument(description="The note to add.")
]


@strawberry.type
class VocabularyMutations:
    @strawberry.mutation(
        description="Add a tracking category to a program (admins, or the program's advertiser)."
    )
    async def create_tracking_category(
        self, info: Info, input: CreateTrackingCategoryArgument
    ) -> CreateTrackingCategoryPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> TrackingCategory:
            created = await vocabulary.create_tracking_category(
                uow,
                viewer,
                program_id=require_pk(input.program_id, "Program", "programId"),
                key=input.key,
                name=input.name,
                active=input.active,
            )
            return TrackingCategory.from_domain(created)

        category, errors = await run_in_uow(
            info, CreateTrackingCategoryUserError, CreateTrackingCategoryErrorCode, use_case
        )
        return CreateTrackingCategoryPayload(tracking_category=category, user_errors=errors)

    @strawberry.mutation(
        description="Add a conversion target to a program (admins, or the program's advertiser)."
    )
    async def create_conversion_target(
        self, info: Info, input: CreateConversionTargetArgument
    ) -> CreateConversionTargetPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> ConversionTarget:
            created = await vocabulary.create_conversion_target(
                uow,
                viewer,
                program_id=require_pk(input.program_id, "Program", "programId"),
                key=input.key,
                name=input.name,
                active=input.active,
                kind=TargetKind(input.kind.value) if input.kind else None,
            )
            return ConversionTarget.from_domain(created)

        target, errors = await run_in_uow(
            info, CreateConversionTargetUserError, CreateConversionTargetErrorCode, use_case
        )
        return CreateConversionTargetPayload(conversion_target=target, user_errors=errors)

    @strawberry.mutation(
        description="Add a conversion note to a program (admins, or the program's advertiser)."
    )
    async def create_conversion_note(
        self, info: Info, input: CreateConversionNoteArgument
    ) -> CreateConversionNotePayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> ConversionNote:
            created = await vocabulary.create_conversion_note(
                uow,
                viewer,
                program_id=require_pk(input.program_id, "Program", "programId"),
                code=input.code,
                text=input.text,
            )
            return ConversionNote.from_domain(created)

        note, errors = await run_in_uow(
            info, CreateConversionNoteUserError, CreateConversionNoteErrorCode, use_case
        )
        return CreateConversionNotePayload(conversion_note=note, user_errors=errors)
