"""GraphQL error bodies for requests refused before GraphQL runs (transport errors).

Every answer of /graphql is a GraphQL response, so a client's `response.json()` always works:
`{"errors": [{"message": …, "extensions": {"code": …}}]}`, without a `data` key because
execution did not start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from portal.web.media_types import MediaType


class RequestError(Exception):
    """A request refused at the HTTP layer, with its status code and error code.

    `reason` refines `BAD_REQUEST` (INVALID_JSON, NOT_AN_OBJECT, …) for clients and logs.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        reason: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.reason = reason
        self.headers = dict(headers or {})


def bad_request(reason: str, message: str) -> RequestError:
    return RequestError(400, "BAD_REQUEST", message, reason=reason)


def error_body(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


def json_response(
    body: Any,
    status: int,
    media_type: MediaType = MediaType.JSON,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
        status_code=status,
        headers=dict(headers or {}),
        media_type=media_type.content_type,
    )


def error_response(error: RequestError, media_type: MediaType | None = None) -> Response:
    extensions = {"reason": error.reason} if error.reason else {}
    return json_response(
        error_body(error.message, error.code, **extensions),
        error.status,
        media_type or MediaType.JSON,
        error.headers,
    )
