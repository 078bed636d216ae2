"""Listing API tokens: `viewer.apiTokens` (one's own) and `apiTokens(userId:)` (admins:
anyone's). Visibility (portal.adapters.visibility) limits everyone else to their own, so a
partner asking for another user's tokens gets an empty list, as if that user had none."""

from __future__ import annotations

from typing import Annotated

import strawberry

from portal.adapters.pagination import PageRequest
from portal.schema.arguments import After, Before, First, Last
from portal.schema.context import Context
from portal.schema.errors import as_bad_input
from portal.schema.ids import decode_typed
from portal.schema.types.access import ApiToken
from portal.schema.types.base import Connection

Info = strawberry.Info[Context, None]


async def token_connection(
    info: Info, user_id: int | None, page: PageRequest
) -> Connection[ApiToken]:
    with as_bad_input():
        listing = await info.context.reader.list_api_tokens(user_id, page)
    return Connection.of(listing, ApiToken.from_domain)  # type: ignore[arg-type]


@strawberry.type(description="Reads of API tokens.")
class TokenQueries:
    @strawberry.field(
        description="API tokens, newest first, revoked and expired ones included. Admins see "
        "every user's (or those of `userId`); everyone else only their own."
    )
    async def api_tokens(
        self,
        info: Info,
        user_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only the tokens of this user."),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[ApiToken]:
        with as_bad_input():
            owner = decode_typed(user_id, "User", ("userId",)) if user_id is not None else None
        return await token_connection(info, owner, PageRequest(first, after, last, before))
