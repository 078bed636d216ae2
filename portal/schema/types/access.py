"""Users, API tokens and the viewer."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry

from portal.adapters.pagination import PageRequest
from portal.domain import access as domain
from portal.schema.arguments import After, Before, First, Last
from portal.schema.ids import encode_id
from portal.schema.types.base import Connection, Node
from portal.schema.types.enums import RoleEnum
from portal.schema.types.partners import Partner
from portal.schema.types.programs import Advertiser

if TYPE_CHECKING:
    from portal.schema.context import Context


@strawberry.type(description="A person or script that signs in.")
class User(Node):
    email: str = strawberry.field(description="Sign-in e-mail, unique.")
    name: str = strawberry.field(description="Display name.")
    role: RoleEnum = strawberry.field(description="ADMIN, ADVERTISER or PARTNER.")
    created_at: datetime = strawberry.field(description="When the user was created.")
    advertiser_pk: strawberry.Private[int | None]
    partner_pk: strawberry.Private[int | None]

    @classmethod
    def from_domain(cls, u: domain.User) -> User:
        return cls(
            id=strawberry.ID(encode_id("User", u.id)),
            email=u.email,
            name=u.name,
            role=u.role,
            created_at=u.created_at,
            advertiser_pk=u.advertiser_id,
            partner_pk=u.partner_id,
        )

    @strawberry.field(description="The advertiser an ADVERTISER user belongs to.")
    async def advertiser(self, info: strawberry.Info[Context, None]) -> Advertiser | None:
        return await info.context.loaders.load_as(
            "Advertiser", self.advertiser_pk, Advertiser.from_domain
        )

    @strawberry.field(description="The partner a PARTNER user belongs to.")
    async def partner(self, info: strawberry.Info[Context, None]) -> Partner | None:
        return await info.context.loaders.load_as("Partner", self.partner_pk, Partner.from_domain)


@strawberry.type(
    description="An API token (the secret is shown only once, on creation). Listed by "
    "`viewer.apiTokens` and (admins) `apiTokens`; revoke it with `revokeApiToken`."
)
class ApiToken(Node):
    name: str = strawberry.field(description="What the token is for.")
    prefix: str = strawberry.field(description="First characters of the secret, to recognise it.")
    created_at: datetime = strawberry.field(description="When it was created.")
    expires_at: datetime | None = strawberry.field(description="When it stops working.")
    last_used_at: datetime | None = strawberry.field(
        description="Last authenticated request (updated at most once a minute)."
    )
    revoked_at: datetime | None = strawberry.field(description="When it was revoked.")
    user_pk: strawberry.Private[int]

    @classmethod
    def from_domain(cls, t: domain.ApiToken) -> ApiToken:
        return cls(
            id=strawberry.ID(encode_id("ApiToken", t.id)),
            name=t.name,
            prefix=t.prefix,
            created_at=t.created_at,
            expires_at=t.expires_at,
            last_used_at=t.last_used_at,
            revoked_at=t.revoked_at,
            user_pk=t.user_id,
        )

    @strawberry.field(description="The user the token acts as.")
    async def user(self, info: strawberry.Info[Context, None]) -> User | None:
        return await info.context.loaders.load_as("User", self.user_pk, User.from_domain)


@strawberry.type(description="Who is asking: the authenticated user and its organisation.")
class Viewer:
    user_pk: strawberry.Private[int]

    @strawberry.field(description="The authenticated user.")
    async def user(self, info: strawberry.Info[Context, None]) -> User:
        found = await info.context.loaders.load("User", self.user_pk)
        assert found is not None
        return User.from_domain(found)

    @strawberry.field(
        description="The viewer's own API tokens, newest first, revoked and expired ones "
        "included (to find and revoke the ones no longer needed)."
    )
    async def api_tokens(
        self,
        info: strawberry.Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[ApiToken]:
        from portal.schema.token_queries import token_connection

        return await token_connection(info, self.user_pk, PageRequest(first, after, last, before))
