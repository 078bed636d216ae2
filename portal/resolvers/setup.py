"""Setup mutations: advertisers, programs and their vocabularies, partners, relationships,
commission models."""

from __future__ import annotations

import strawberry

from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.programs import ConsentMode, FollowUpPolicy
from portal.resolvers.support import Info, pk, run_in_uow, user_error_type
from portal.schema.scalars import CurrencyCode
from portal.schema.types.enums import ConsentModeEnum, FollowUpPolicyEnum
from portal.schema.types.partners import Partner
from portal.schema.types.programs import Advertiser, Program
from portal.services import setup

NAME_CODES = ["BLANK", "TOO_LONG"]
CreateAdvertiserErrorCode, CreateAdvertiserUserError = user_error_type("CreateAdvertiser", NAME_CODES)
CreatePartnerErrorCode, CreatePartnerUserError = user_error_type(
    "CreatePartner", [*NAME_CODES, "UNKNOWN_CURRENCY", "INVALID_COUNTRY"]
)
CreateProgramErrorCode, CreateProgramUserError = user_error_type(
    "CreateProgram", [*NAME_CODES, "UNKNOWN_CURRENCY", "OUT_OF_RANGE", "REQUIRED"]
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


@strawberry.input(description="A new program; it starts with the `default` category, the standard targets and notes.")
class CreateProgramInput:
    name: str = strawberry.field(description="Display name.")
    currency: CurrencyCode = strawberry.field(description="Program currency (fixed once conversions exist).")  # type: ignore[valid-type]
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
    follow_up_window_days: int = strawberry.field(default=30, description="Follow-up window in days.")
    allow_self_acceptance: bool = strawberry.field(
        default=False, description="Whether users may accept requests they raised themselves."
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Repeat a call with the same key to get the first call's program."
    )


@strawberry.type(description="The created program.")
class CreateProgramPayload:
    program: Program | None = strawberry.field(description="The program.")
    user_errors: list[CreateProgramUserError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.type
class SetupMutations:
    @strawberry.mutation(description="Create an advertiser (admins).")
    async def create_advertiser(self, info: Info, input: CreateAdvertiserInput) -> CreateAdvertiserPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> Advertiser:
            return Advertiser.from_domain(await setup.create_advertiser(uow, viewer, name=input.name))

        advertiser, errors = await run_in_uow(info, CreateAdvertiserUserError, CreateAdvertiserErrorCode, use_case)
        return CreateAdvertiserPayload(advertiser=advertiser, user_errors=errors)

    @strawberry.mutation(description="Create a partner (admins).")
    async def create_partner(self, info: Info, input: CreatePartnerInput) -> CreatePartnerPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> Partner:
            created = await setup.create_partner(
                uow, viewer, name=input.name, payout_currency=input.payout_currency, country=input.country
            )
            return Partner.from_domain(created)

        partner, errors = await run_in_uow(info, CreatePartnerUserError, CreatePartnerErrorCode, use_case)
        return CreatePartnerPayload(partner=partner, user_errors=errors)

    @strawberry.mutation(description="Create a program (admins, or advertisers for themselves).")
    async def create_program(self, info: Info, input: CreateProgramInput) -> CreateProgramPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> Program:
            known = await uow.idempotent_result(viewer.user_id, "createProgram", input.idempotency_key)
            if known is not None:
                from portal.services.scope import visible_row
                from portal.adapters.rows import program as program_row
                from portal.adapters.tables import programs

                return Program.from_domain(program_row(await visible_row(uow, viewer, programs, known, "program", ())))
            created = await setup.create_program(
                uow, viewer,
                advertiser_id=pk(input.advertiser_id, "Advertiser", "advertiserId"),
                name=input.name, currency=input.currency,
                cookie_lifetime_days=input.cookie_lifetime_days,
                consent_mode=input.consent_mode or ConsentMode.RELAXED,
                follow_up_policy=input.follow_up_policy or FollowUpPolicy.WHENEVER_TRACKED,
                follow_up_window_days=input.follow_up_window_days,
                allow_self_acceptance=input.allow_self_acceptance,
            )
            await uow.remember_idempotent(viewer.user_id, "createProgram", input.idempotency_key, created.id)
            return Program.from_domain(created)

        program, errors = await run_in_uow(info, CreateProgramUserError, CreateProgramErrorCode, use_case)
        return CreateProgramPayload(program=program, user_errors=errors)
