"""login, logout, createUser, createApiToken, revokeApiToken."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import strawberry

from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role
from portal.domain.errors import DomainError
from portal.resolvers.support import (
    MUTATION_INPUT,
    Info,
    pk,
    require_pk,
    run_in_uow,
    to_user_errors,
    user_error_type,
)
from portal.schema.errors import Forbidden
from portal.schema.types.access import ApiToken, User
from portal.schema.types.enums import RoleEnum
from portal.services import access
from portal.services.sign_in import TooManyAttempts, sign_in
from portal.web.auth import DEVICE_COOKIE, SESSION_COOKIE, is_json_request

LoginErrorCode, LoginUserError = user_error_type(
    "Login", ["INVALID_CREDENTIALS", "TOO_MANY_ATTEMPTS"]
)
DEVICE_COOKIE_DAYS = 180
LogoutErrorCode, LogoutUserError = user_error_type("Logout", [])
CreateUserErrorCode, CreateUserUserError = user_error_type(
    "CreateUser", ["INVALID_EMAIL", "EMAIL_TAKEN", "ORGANISATION_REQUIRED", "PASSWORD_TOO_SHORT"]
)
CreateApiTokenErrorCode, CreateApiTokenUserError = user_error_type(
    "CreateApiToken", ["BLANK", "EXPIRY_IN_PAST"]
)
RevokeApiTokenErrorCode, RevokeApiTokenUserError = user_error_type("RevokeApiToken", [])


@strawberry.input(description="E-mail and password.")
class LoginInput:
    email: str = strawberry.field(description="Sign-in e-mail.")
    password: str = strawberry.field(description="Password.")


@strawberry.type(description="Sets the HttpOnly session cookie; send `csrfToken` as X-CSRF-Token.")
class LoginPayload:
    user: User | None = strawberry.field(description="The signed-in user.")
    csrf_token: str | None = strawberry.field(
        description="Send as the X-CSRF-Token header with every cookie-authenticated request."
    )
    expires_at: datetime | None = strawberry.field(description="When the session ends.")
    retry_after_seconds: int | None = strawberry.field(
        default=None,
        description="With TOO_MANY_ATTEMPTS: seconds to wait before the next attempt (also the "
        "Retry-After header). The password was not checked.",
    )
    user_errors: list[LoginUserError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.type(description="Ends the current session.")
class LogoutPayload:
    ok: bool = strawberry.field(description="Whether a session was ended.")
    user_errors: list[LogoutUserError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(description="A new user.")
class CreateUserInput:
    email: str = strawberry.field(description="Sign-in e-mail (unique).")
    name: str = strawberry.field(description="Display name.")
    role: RoleEnum = strawberry.field(description="Role.")
    advertiser_id: strawberry.ID | None = strawberry.field(
        default=None, description="For ADVERTISER users."
    )
    partner_id: strawberry.ID | None = strawberry.field(
        default=None, description="For PARTNER users."
    )
    password: str | None = strawberry.field(
        default=None,
        description="At least 12 characters; without one the user signs in by token only.",
    )


@strawberry.type(description="The created user.")
class CreateUserPayload:
    user: User | None = strawberry.field(description="The user.")
    user_errors: list[CreateUserUserError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(description="A new API token.")
class CreateApiTokenInput:
    name: str = strawberry.field(description="What the token is for.")
    expires_at: datetime | None = strawberry.field(default=None, description="Expiry; null = none.")
    user_id: strawberry.ID | None = strawberry.field(
        default=None, description="Admins: create the token for this user."
    )


@strawberry.type(description="The created token; `secret` is shown only here, once.")
class CreateApiTokenPayload:
    api_token: ApiToken | None = strawberry.field(description="The token.")
    secret: str | None = strawberry.field(description="Send as `Authorization: Bearer <secret>`.")
    user_errors: list[CreateApiTokenUserError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(description="The token to revoke.")
class RevokeApiTokenInput:
    token_id: strawberry.ID = strawberry.field(description="Id of the token.")


@strawberry.type(description="The revoked token.")
class RevokeApiTokenPayload:
    api_token: ApiToken | None = strawberry.field(description="The token.")
    user_errors: list[RevokeApiTokenUserError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.type
class AccessMutations:
    @strawberry.mutation(
        description="Sign in with e-mail and password; sets a session cookie. Only a JSON body "
        "(Content-Type: application/json) may sign in: a form a foreign page submits cannot "
        "(login CSRF), it is refused with FORBIDDEN. Failed attempts are throttled per account "
        "and per client address (TOO_MANY_ATTEMPTS with retryAfterSeconds)."
    )
    async def login(self, info: Info, input: Annotated[LoginInput, MUTATION_INPUT]) -> LoginPayload:
        context = info.context
        if not is_json_request(context.request):
            raise Forbidden("login accepts only a JSON body (Content-Type: application/json)")
        settings = context.settings
        response = context.response
        assert response is not None
        async with UnitOfWork(context.engine) as uow:
            try:
                signed_in = await sign_in(
                    uow,
                    context.login_attempts,
                    settings.secret_key,
                    email=input.email,
                    password=input.password,
                    address=context.client_address,
                    device_token=context.request.cookies.get(DEVICE_COOKIE),
                    session_hours=settings.session_hours,
                )
            except DomainError as error:
                wait = error.retry_after_seconds if isinstance(error, TooManyAttempts) else None
                if wait is not None:
                    response.headers["Retry-After"] = str(wait)
                return LoginPayload(
                    user=None,
                    csrf_token=None,
                    expires_at=None,
                    retry_after_seconds=wait,
                    user_errors=to_user_errors(error, LoginUserError, LoginErrorCode),
                )
            await uow.commit()
        session = signed_in.session
        cookie = {
            "httponly": True,
            "samesite": "lax" if not settings.cookie_secure else "strict",
            "secure": settings.cookie_secure,
            "path": "/",
        }
        response.set_cookie(
            SESSION_COOKIE,
            session.secret,
            max_age=int(timedelta(hours=settings.session_hours).total_seconds()),
            **cookie,  # type: ignore[arg-type]
        )
        response.set_cookie(
            DEVICE_COOKIE,
            signed_in.device_token,
            max_age=int(timedelta(days=DEVICE_COOKIE_DAYS).total_seconds()),
            **cookie,  # type: ignore[arg-type]
        )
        return LoginPayload(
            user=User.from_domain(session.user),
            csrf_token=session.csrf_token,
            expires_at=session.expires_at,
            user_errors=[],
        )

    @strawberry.mutation(description="End the session of the session cookie.")
    async def logout(self, info: Info) -> LogoutPayload:
        secret = info.context.request.cookies.get(SESSION_COOKIE)
        if secret:
            async with UnitOfWork(info.context.engine) as uow:
                await access.logout(uow, secret)
                await uow.commit()
        if info.context.response is not None:
            info.context.response.delete_cookie(SESSION_COOKIE, path="/")
        return LogoutPayload(ok=bool(secret), user_errors=[])

    @strawberry.mutation(
        description="Create a user (admins only). E-mail addresses are sign-in names, unique "
        "across the network, so the answer tells whether an address is in use: advertisers and "
        "partners ask the operator, and get PERMISSION_DENIED here whatever the address."
    )
    async def create_user(
        self, info: Info, input: Annotated[CreateUserInput, MUTATION_INPUT]
    ) -> CreateUserPayload:
        async def use_case(uow: UnitOfWork, viewer) -> User:  # type: ignore[no-untyped-def]
            created = await access.create_user(
                uow,
                viewer,
                email=input.email,
                name=input.name,
                role=Role(input.role.value),
                advertiser_id=pk(input.advertiser_id, "Advertiser", "advertiserId"),
                partner_id=pk(input.partner_id, "Partner", "partnerId"),
                password=input.password,
            )
            return User.from_domain(created)

        user, errors = await run_in_uow(info, CreateUserUserError, CreateUserErrorCode, use_case)
        return CreateUserPayload(user=user, user_errors=errors)

    @strawberry.mutation(description="Create an API token for yourself (admins: for any user).")
    async def create_api_token(
        self, info: Info, input: Annotated[CreateApiTokenInput, MUTATION_INPUT]
    ) -> CreateApiTokenPayload:
        async def use_case(uow: UnitOfWork, viewer) -> access.NewToken:  # type: ignore[no-untyped-def]
            return await access.create_api_token(
                uow,
                viewer,
                name=input.name,
                expires_at=input.expires_at,
                user_id=pk(input.user_id, "User", "userId"),
            )

        created, errors = await run_in_uow(
            info, CreateApiTokenUserError, CreateApiTokenErrorCode, use_case
        )
        return CreateApiTokenPayload(
            api_token=ApiToken.from_domain(created.token) if created else None,
            secret=created.secret if created else None,
            user_errors=errors,
        )

    @strawberry.mutation(description="Revoke an API token; it stops working at once.")
    async def revoke_api_token(
        self, info: Info, input: Annotated[RevokeApiTokenInput, MUTATION_INPUT]
    ) -> RevokeApiTokenPayload:
        async def use_case(uow: UnitOfWork, viewer) -> ApiToken:  # type: ignore[no-untyped-def]
            revoked = await access.revoke_api_token(
                uow, viewer, require_pk(input.token_id, "ApiToken", "tokenId")
            )
            return ApiToken.from_domain(revoked)

        token, errors = await run_in_uow(
            info, RevokeApiTokenUserError, RevokeApiTokenErrorCode, use_case
        )
        return RevokeApiTokenPayload(api_token=token, user_errors=errors)
