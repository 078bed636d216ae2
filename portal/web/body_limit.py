"""Refuses request bodies larger than an upload may be, before they are read.

strawberry parses a multipart request completely (Starlette spools every file to a temporary
file) before any resolver runs, so the size cap of `importExchangeRates` alone would still let a
client have the server receive and store any amount of data. This middleware answers 413 as
soon as the declared or the received length passes the limit.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.adapters import ecb
from portal.web.error_bodies import error_body, json_response

FORM_OVERHEAD = 1024 * 1024
"""Room for the multipart fields besides the file (`operations`, `map`) and boundaries."""


def upload_limit() -> int:
    # Read at call time so that a lowered file cap (tests) lowers the body limit with it.
    return ecb.MAX_FILE_BYTES + FORM_OVERHEAD


class BodyTooLarge(Exception):
    """Raised from `receive` when the body passes the limit; the middleware answers 413."""


def _too_large(limit: int) -> Response:
    return json_response(
        error_body(f"the request body has more than {limit} bytes", "PAYLOAD_TOO_LARGE"), 413
    )


class LimitRequestBody:
    def __init__(self, app: ASGIApp, limit: Callable[[], int] = upload_limit) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(limit)(scope, receive, send)
