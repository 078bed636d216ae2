"""While the database (or Redis) cannot be reached, every answer is a JSON GraphQL error with
the code SERVICE_UNAVAILABLE, HTTP 503 and Retry-After — never a bare 500: whether the
failure happens before GraphQL runs (authentication, downloads) or inside a resolver."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from portal.adapters.faults import RETRY_AFTER_SECONDS, is_unavailable
from portal.web.error_bodies import RequestError, error_response
from portal.web.http_middleware import HttpMiddleware

UNAVAILABLE = "SERVICE_UNAVAILABLE"


def unavailable() -> RequestError:
    return RequestError(
        503,
        UNAVAILABLE,
        f"The service cannot reach its database right now; retry in {RETRY_AFTER_SECONDS} s.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def mark_unavailable(errors: list[dict[str, Any]], sub_response: Response) -> None:
    """A GraphQL answer with a SERVICE_UNAVAILABLE error becomes a 503 with Retry-After,
    whatever its media type and even with partial data."""
    codes = {(error.get("extensions") or {}).get("code") for error in errors}
    if UNAVAILABLE in codes:
        sub_response.status_code = 503
        sub_response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)


def unavailable_error(error: BaseException) -> RequestError | None:
    """The HTTP layer's answer to a database or Redis failure that escaped before GraphQL ran
    (authentication, a download …), or None for any other error."""
    return unavailable() if is_unavailable(error) else None


class AnswerUnavailable(HttpMiddleware):
    """ASGI middleware: a database or Redis failure that escapes the app before it answered."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            if started or not is_unavailable(error):
                raise
            await error_response(unavailable())(scope, receive, send)
