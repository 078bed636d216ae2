"""Setup mutations: advertisers, programs, partners. `SetupMutations` also takes in the
vocabularies, relationships and commission models (their own modules)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.tools import merge_types

from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.programs import ConsentMode, FollowUpPolicy
from portal.resolvers.commission import CommissionMutations
from portal.resolvers.relationships import RelationshipMutations
from portal.resolvers.support import Info, pk, require_pk, run_in_uow, user_error_type
from portal.resolvers.vocabulary import VocabularyMutations
from portal.schema.scalars import CurrencyCode
from portal.schema.types.enums import ConsentModeEnum, FollowUpPolicyEnum
from portal.schema.types.partners import Partner
from portal.schema.types.programs import Advertiser, Program
from portal.services import setup

NAME_CODES = ["BLANK", "TOO_LONG"]
CreateAdvertiserErrorCode, CreateAdvertiserUserError = user_error_type(
    "CreateAdvertiser", NAME_CODES
)
CreatePartnerErrorCode, CreatePartnerUserError = user_error_type(
    "CreatePartner", [*NAME_CODES, "UNKNOWN_CURRENCY", "INVALID_COUNTRY"]
)
CreateProgramErrorCode, CreateProgramUserError = user_error_type(
    "CreateProgram", [*NAME_CODES, "UNKNOWN_CURRENCY", "OUT_OF_RANGE", "REQUIRED"]
)
UpdateProgramErrorCode, UpdateProgramUserError = user_error_type(
    "UpdateProgram", [*NAME_CODES, "UNKNOWN_CURRENCY", "OUT_OF_RANGE", "CURRENCY_LOCKED"]
)
UpdatePartnerErrorCode, UpdatePartnerUserError = user_error_type(
    "UpdatePartner", [*NAME_CODES, "UNKNOWN_CURRENCY", "INVALID_COUNTRY"]
)


@strawberry.input(description="A new advertiser.")
class CreateAdvertiserInput:
    name: str = strawberry.field(description="Display name.")


@strawberry.type(description="The created advertiser.")
class CreateAdvertiserPayload:
    advertiser: Advertiser | None = strawberry.field(description="The advertiser.")
    user_errors: list[CreateAdvertiserUserError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(description="A new partner.")
class CreatePartnerInput:
    name: str = strawberry.field(description="Display name.")
    payout_currency: CurrencyCode = strawberry.field(description="Currency the partner is paid in.")  # type: ignore[valid-type]
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 country.")


@strawberry.type(description="The created partner.")
class CreatePartnerPayload:
    partner: Partner | None = strawberry.field(description="The partner.")
    user_errors: list[CreatePartnerUserError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(
    description="A new program; it starts with the `default` category, the standard targets "
    "and notes."
)
class CreateProgramInput:
    name: str = strawberry.field(description="Display name.")
    currency: CurrencyCode = strawberry.field(  # type: ignore[valid-type]
        description="Program currency (fixed once conversions exist)."
    )
    advertiser_id: strawberry.ID | None = strawberry.field(
        default=None, description="Admins: the advertiser. Advertiser users: ignored (their own)."
    )
    cookie_lifetime_days: int = strawberry.field(default=30, description="Cookie lifetime in days.")
    consent_mode: ConsentModeEnum | None = strawberry.field(
        default=None, description="Consent mode (default RELAXED)."
    )
    follow_up_policy: FollowUpPolicyEnum | None = strawberry.field(
        default=None, description="Default follow-up policy (default WHENEVER_TRACKED)."
    )
    follow_up_window_days: int = strawberry.field(
        default=30, description="Follow-up window in days."
    )
    allow_self_acceptance: bool = strawberry.field(
        default=False, description="Whether users may accept requests they raised themselves."
    )
    publicly_listed: bool = strawberry.field(
        default=False,
        description="Whether partners without a relationship see the program (its public "
        "fields) and may apply to it (`applyToProgram`). Partners never see an unlisted program "
        "they have no relationship with; its advertiser adds partners it already works with, "
        "an admin any partner (`setRelationship`).",
    )
    strict_tracking_categories: bool = strawberry.field(
        default=True,
        description="Whether an explicit tracking category an order names (on the order or a "
        "basket "
        "position) must be a known, active key of the program: strict refuses others "
        "(UNKNOWN_CATEGORY / INACTIVE_CATEGORY); not strict books an unknown key as `default`. "
        "New programs are strict; programs created before are not.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Repeat a call with the same key to get the first call's program."
    )


@strawberry.type(description="The created program.")
class CreateProgramPayload:
    program: Program | None = strawberry.field(description="The program.")
    user_errors: list[CreateProgramUserError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(description="Changes to a program's settings; omitted fields keep their value.")
class UpdateProgramInput:
    program_id: strawberry.ID = strawberry.field(description="The program to change.")
    name: str | None = strawberry.field(default=None, description="New display name.")
    currency: CurrencyCode | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description="New program currency; refused (CURRENCY_LOCKED) once the program has "
        "conversions.",
    )
    cookie_lifetime_days: int | None = strawberry.field(
        default=None, description="New cookie lifetime in days (1–3650)."
    )
    consent_mode: ConsentModeEnum | None = strawberry.field(
        default=None, description="New consent mode."
    )
    follow_up_policy: FollowUpPolicyEnum | None = strawberry.field(
        default=None, description="New default follow-up policy (relationships may override it)."
    )
    follow_up_window_days: int | None = strawberry.field(
        default=None, description="New follow-up window in days (1–3650)."
    )
    allow_self_acceptance: bool | None = strawberry.field(
        default=None, description="Whether users may accept requests they raised themselves."
    )
    publicly_listed: bool | None = strawberry.field(
        default=None,
        description="Whether partners without a relationship see the program (its public "
        "fields) and may apply to it (`applyToProgram`). Partners never see an unlisted program "
        "they have no relationship with; its advertiser adds partners it already works with, "
        "an admin any partner (`setRelationship`).",
    )
    strict_tracking_categories: bool | None = strawberry.field(
        default=None,
        description="Whether an explicit tracking category an order names (on the order or a "
        "basket "
        "position) must be a known, active key of the program: strict refuses others "
        "(UNKNOWN_CATEGORY / INACTIVE_CATEGORY); not strict books an unknown key as `default`. "
        "New programs are strict; programs created before are not.",
    )


@strawberry.type(description="The changed program.")
class UpdateProgramPayload:
    program: Program | None = strawberry.field(description="The program; null on errors.")
    user_errors: list[UpdateProgramUserError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(
    description="Changes to a partner's master data; omitted fields keep their value."
)
class UpdatePartnerInput:
    partner_id: strawberry.ID = strawberry.field(description="The partner to change.")
    name: str | None = strawberry.field(default=None, description="New display name.")
    payout_currency: CurrencyCode | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="New payout currency (used from the next billing run on)."
    )
    country: str | None = strawberry.field(
        default=None, description="New ISO 3166-1 alpha-2 country (decides VAT)."
    )


@strawberry.type(description="The changed partner.")
class UpdatePartnerPayload:
    partner: Partner | None = strawberry.field(description="The partner; null on errors.")
    user_errors: list[UpdatePartnerUserError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


CreateAdvertiserArgument = Annotated[
    CreateAdvertiserInput, strawberry.argument(description="The advertiser to create.")
]

CreatePartnerArgument = Annotated[
    CreatePartnerInput, strawberry.argument(description="The partner to create.")
]

CreateProgramArgument = Annotated[
    CreateProgramInput, strawberry.argument(description="The program to create.")
]

UpdateProgramArgument = Annotated[
    UpdateProgramInput, strawberry.argument(description="The program and the settings to change.")
]

UpdatePartnerArgument = Annotated[
    UpdatePartnerInput, strawberry.argument(description="The partner and the data to change.")
]


@strawberry.type
class ProgramSetupMutations:
    @strawberry.mutation(description="Create an advertiser (admins).")
    async def create_advertiser(
        self, info: Info, input: CreateAdvertiserArgument
    ) -> CreateAdvertiserPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> Advertiser:
            created = await setup.create_advertiser(uow, viewer, name=input.name)
            return Advertiser.from_domain(created)

        advertiser, errors = await run_in_uow(
            info, CreateAdvertiserUserError, CreateAdvertiserErrorCode, use_case
        )
        return CreateAdvertiserPayload(advertiser=advertiser, user_errors=errors)

    @strawberry.mutation(description="Create a partner (admins).")
    async def create_partner(
        self, info: Info, input: CreatePartnerArgument
    ) -> CreatePartnerPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> Partner:
            created = await setup.create_partner(
                uow,
                viewer,
                name=input.name,
                payout_currency=input.payout_currency,
                country=input.country,
            )
            return Partner.from_domain(created)

        partner, errors = await run_in_uow(
            info, CreatePartnerUserError, CreatePartnerErrorCode, use_case
        )
        return CreatePartnerPayload(partner=partner, user_errors=errors)

    @strawberry.mutation(description="Create a program (admins, or advertisers for themselves).")
    async def create_program(
        self, info: Info, input: CreateProgramArgument
    ) -> CreateProgramPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> Program:
            created = await setup.create_program(
                uow,
                viewer,
                advertiser_id=pk(input.advertiser_id, "Advertiser", "advertiserId"),
                name=input.name,
                currency=input.currency,
                cookie_lifetime_days=input.cookie_lifetime_days,
                consent_mode=input.consent_mode or ConsentMode.RELAXED,
                follow_up_policy=input.follow_up_policy or FollowUpPolicy.WHENEVER_TRACKED,
                follow_up_window_days=input.follow_up_window_days,
                allow_self_acceptance=input.allow_self_acceptance,
                publicly_listed=input.publicly_listed,
                strict_tracking_categories=input.strict_tracking_categories,
                idempotency_key=input.idempotency_key,
            )
            return Program.from_domain(created)

        program, errors = await run_in_uow(
            info, CreateProgramUserError, CreateProgramErrorCode, use_case
        )
        return CreateProgramPayload(program=program, user_errors=errors)

    @strawberry.mutation(
        description="Change a program's settings (admins, or users of the program's advertiser)."
    )
    async def update_program(
        self, info: Info, input: UpdateProgramArgument
    ) -> UpdateProgramPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> Program:
            changes = setup.ProgramChanges(
                name=input.name,
                currency=input.currency,
                cookie_lifetime_days=input.cookie_lifetime_days,
                consent_mode=input.consent_mode,
                follow_up_policy=input.follow_up_policy,
                follow_up_window_days=input.follow_up_window_days,
                allow_self_acceptance=input.allow_self_acceptance,
                publicly_listed=input.publicly_listed,
                strict_tracking_categories=input.strict_tracking_categories,
            )
            program_id = require_pk(input.program_id, "Program", "programId")
            return Program.from_domain(await setup.update_program(uow, viewer, program_id, changes))

        program, errors = await run_in_uow(
            info, UpdateProgramUserError, UpdateProgramErrorCode, use_case
        )
        return UpdateProgramPayload(program=program, user_errors=errors)

    @strawberry.mutation(
        description="Change a partner's master data (admins, or the partner's own users)."
    )
    async def update_partner(
        self, info: Info, input: UpdatePartnerArgument
    ) -> UpdatePartnerPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> Partner:
            changed = await setup.update_partner(
                uow,
                viewer,
                require_pk(input.partner_id, "Partner", "partnerId"),
                name=input.name,
                payout_currency=input.payout_currency,
                country=input.country,
            )
            return Partner.from_domain(changed)

        partner, errors = await run_in_uow(
            info, UpdatePartnerUserError, UpdatePartnerErrorCode, use_case
        )
        return UpdatePartnerPayload(partner=partner, user_errors=errors)


SetupMutations = merge_types(
    "SetupMutations",
    (ProgramSetupMutations, VocabularyMutations, RelationshipMutations, CommissionMutations),
)
