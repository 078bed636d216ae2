"""One log line, one set of metrics and one span per HTTP request (ASGI middleware, outermost).

The line carries the request id (the client's `X-Request-Id` when it is well-formed, else a
new one; returned as `X-Request-Id`), the user and role, the GraphQL operation, the execution
path, duration, SQL statements, query cost and error codes. A client that goes away before
its request was read is one line (`outcome=disconnected`), no traceback. An exception nothing
else handled becomes a 500 with an `INTERNAL` error whose `errorId` is in the log line."""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from typing import Any

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send

from portal.observability import tracing
from portal.observability.metrics import (
    ERRORS,
    RATE_LIMITED,
    REQUEST_SECONDS,
    REQUESTS,
    operation_label,
)
from portal.observability.scope import Scope as Record
from portal.observability.scope import current_scope
from portal.web.http_middleware import HttpMiddleware

log = logging.getLogger("portal.request")
errors_log = logging.getLogger("portal.errors")  # where GraphQL's internal errors go too
REQUEST_ID_HEADER = "x-request-id"
_GIVEN_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
_ENDPOINTS = {"graphql", "health", "ready", "metrics", "files"}
# Probes and scrapes are logged at DEBUG when they succeed: they would drown the rest.
_QUIET_ENDPOINTS = {"health", "ready", "metrics"}
_ERROR_BODY_LIMIT = 64 * 1024


def _endpoint(path: str) -> str:
    first = path.strip("/").split("/", 1)[0]
    return first if first in _ENDPOINTS else "other"


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _GIVEN_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex


def record_error_codes(record: Record, errors: Any) -> None:
    """Codes (and error ids) of a list of formatted GraphQL errors."""
    for error in errors if isinstance(errors, list) else ():
        extensions = error.get("extensions") if isinstance(error, dict) else None
        if not isinstance(extensions, dict):
            continue
        code = extensions.get("code")
        if isinstance(code, str):
            record.error_codes.append(code)
        error_id = extensions.get("errorId")
        if isinstance(error_id, str):
            record.error_ids.append(error_id)


class ObserveRequests(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        record = Record("request", _request_id(headers))
        path: str = scope.get("path", "")
        record.set(method=scope.get("method"), path=path)
        token = current_scope.set(record)
        started = time.perf_counter()
        response: dict[str, Any] = {"status": None, "json": False}
        error_body = bytearray()

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                message_headers = list(message.get("headers", []))
                message_headers.append((b"x-request-id", record.id.encode()))
                message = {**message, "headers": message_headers}
                response["json"] = any(
                    name.lower() == b"content-type" and b"json" in value
                    for name, value in message_headers
                )
            elif (
                message["type"] == "http.response.body"
                and (response["status"] or 0) >= 400
                and response["json"]
                and len(error_body) < _ERROR_BODY_LIMIT
            ):
                error_body.extend(message.get("body", b""))
            await send(message)

        outcome = "ok"
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
        try:
            with tracing.span(
                f"{scope.get('method')} {path}",
                "server",
                {"http.request.method": scope.get("method", ""), "url.path": path},
                carrier=carrier,
            ) as span:
                try:
                    await self.app(scope, receive, observed_send)
                except ClientDisconnect:
                    outcome = "disconnected"
                except Exception as error:
                    outcome = "internal"
                    tracing.record_error(span, error)
                    if response["status"] is not None:
                        raise  # too late for an answer; uvicorn closes the connection
                    await self._internal_error(record, error, observed_send)
                tracing.set_attributes(
                    span,
                    **{
                        "http.response.status_code": response["status"],
                        "portal.request_id": record.id,
                        "graphql.operation.name": record.fields.get("operation"),
                    },
                )
        finally:
            current_scope.reset(token)
            self._finish(record, scope, response["status"], outcome, started, bytes(error_body))

    async def _internal_error(self, record: Record, error: Exception, send: Send) -> None:
        error_id = uuid.uuid4().hex[:12]
        errors_log.error("unhandled error %s", error_id, exc_info=error)
        body = {
            "errors": [
                {
                    "message": f"Internal error (id {error_id}); the id is in the server log.",
                    "extensions": {"code": "INTERNAL", "errorId": error_id},
                }
            ]
        }
        record.graphql_observed = True
        record_error_codes(record, body["errors"])
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": orjson.dumps(body)})

    def _finish(
        self,
        record: Record,
        scope: Scope,
        status: int | None,
        outcome: str,
        started: float,
        error_body: bytes,
    ) -> None:
        duration = time.perf_counter() - started
        if error_body and not record.graphql_observed:
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                record_error_codes(record, orjson.loads(error_body).get("errors"))
        if outcome == "ok" and ((status or 0) >= 500 or "INTERNAL" in record.error_codes):
            outcome = "internal"
        elif outcome == "ok" and ((status or 0) >= 400 or record.error_codes):
            outcome = "error"
        endpoint = _endpoint(record.fields.get("path", ""))
        operation = operation_label(record.fields.get("operation"))
        REQUESTS.labels(endpoint, operation, outcome).inc()
        REQUEST_SECONDS.labels(endpoint, operation, outcome).observe(duration)
        for code in record.error_codes:
            ERRORS.labels(code).inc()
        if "RATE_LIMITED" in record.error_codes:
            RATE_LIMITED.inc()
        auth = scope.get("portal.auth")
        user = getattr(getattr(auth, "authenticated", None), "user", None)
        known = record.fields
        fields = {
            "request_id": record.id,
            "method": known.get("method"),
            "path": known.get("path"),
            "status": status,
            "outcome": outcome,
            "duration_ms": round(duration * 1000, 1),
            "user_id": getattr(user, "id", None),
            "role": user.role.value if user is not None else None,
            "operation": known.get("operation"),
            "operation_type": known.get("operation_type"),
            "execution_path": known.get("execution_path"),
            "query_cost": known.get("query_cost"),
            "sql_statements": record.sql_statements,
            "error_codes": record.error_codes,
        }
        if record.error_ids:
            fields["error_ids"] = record.error_ids
        quiet = endpoint in _QUIET_ENDPOINTS and outcome == "ok"
        message = "client disconnected" if outcome == "disconnected" else "request"
        log.log(logging.DEBUG if quiet else logging.INFO, message, extra={"fields": fields})
