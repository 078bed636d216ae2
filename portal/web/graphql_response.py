"""A GraphQL result as an HTTP answer: the body, and the status code its media type requires.

- The body has `data` only if execution started (GraphQL spec, "Response"): parse, validation,
  variable-coercion, limit and rate-limit failures answer `{"errors": […]}` alone.
- `application/graphql-response+json`: 200 when there is `data` (even with errors: partial
  success), otherwise the 4xx/5xx of the first error's code (400 for parse, validation and
  coercion failures, as the graphql-http audit checks).
- `application/json` (legacy clients): 200 for every GraphQL result.

A status set on the per-request response by a resolver or extension wins in both cases.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from starlette.responses import Response
from strawberry.types import ExecutionResult

from portal.observability.graphql import observe_response
from portal.schema.errors import format_error
from portal.web.error_bodies import json_response
from portal.web.faults import mark_unavailable
from portal.web.media_types import MediaType

REQUEST_ERROR_STATUS = {
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "TRUSTED_DOCUMENT_REQUIRED": 403,
    "RATE_LIMITED": 429,
    "INTERNAL": 500,
    "SERVICE_UNAVAILABLE": 503,
}
"""Status of a request error (no `data`) under graphql-response+json; any other code is 400."""


def execution_started(result: ExecutionResult) -> bool:
    """Field errors carry a path; errors raised before execution (parse, validation, variable
    coercion, limits) do not, so a result without data and without such errors never ran."""
    return result.data is not None or any(e.path for e in result.errors or ())


def response_body(result: ExecutionResult) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    errors = [format_error(e) for e in result.errors or ()]
    body: dict[str, Any] = {}
    if execution_started(result):
        body["data"] = result.data
    if errors:
        body["errors"] = errors
    if result.extensions:
        body["extensions"] = result.extensions
    observe_response(body)
    return body, errors


def status_code(body: dict[str, Any], errors: list[dict[str, Any]], media_type: MediaType) -> int:
    if media_type is MediaType.JSON or "data" in body:
        return 200
    code = (errors[0].get("extensions") or {}).get("code") if errors else None
    return REQUEST_ERROR_STATUS.get(str(code), 400)


def graphql_response(
    result: ExecutionResult, media_type: MediaType, sub_response: Response | None = None
) -> Response:
    """The answer to a GraphQL request, with the headers and status resolvers set (cookies,
    Retry-After) on the per-request `sub_response`."""
    body, errors = response_body(result)
    if sub_response is not None:
        mark_unavailable(errors, sub_response)
    status = (sub_response.status_code if sub_response else None) or status_code(
        body, errors, media_type
    )
    response = json_response(body, status, media_type)
    if sub_response is not None:
        response.headers.raw.extend(
            (name, value)
            for name, value in sub_response.headers.raw
            if name not in (b"content-length", b"content-type")
        )
        response.background = sub_response.background
    return response


def request_error_result(error: GraphQLError) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[error])
