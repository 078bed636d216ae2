"""Top-level GraphQL errors with `extensions.code`, and the masking of unexpected ones."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from graphql import GraphQLError

from portal.adapters.faults import RETRY_AFTER_SECONDS, is_unavailable
from portal.domain.errors import DomainError

log = logging.getLogger("portal.errors")
# graphql-core's parser ends the messages of its limits (tokens, source length, nesting) so:
# "Syntax Error: Document contains more than N tokens. Parsing aborted."
PARSER_LIMIT_MARKER = "Parsing aborted."


class PortalError(GraphQLError):
    """An error about the request as a whole, with a code clients can switch on."""

    code = "INTERNAL"

    def __init__(self, message: str, nodes: Any = None, **extensions: Any) -> None:
        super().__init__(message, nodes, extensions={"code": self.code, **extensions})


class Unauthenticated(PortalError):
    code = "UNAUTHENTICATED"


class Forbidden(PortalError):
    code = "FORBIDDEN"


class BadUserInput(PortalError):
    """An argument outside its allowed values (page size, cursor, id) — not a mutation input,
    whose problems are `userErrors`."""

    code = "BAD_USER_INPUT"


class RateLimited(PortalError):
    code = "RATE_LIMITED"


class QueryTooComplex(PortalError):
    code = "QUERY_TOO_COMPLEX"


def bad_input(error: DomainError) -> BadUserInput:
    return BadUserInput(error.message, argument=list(error.field), reason=error.code)


@contextmanager
def as_bad_input() -> Iterator[None]:
    """A query's argument refused by the domain (a malformed id, a bad page or filter) becomes
    the coded bad-input error naming the argument, never a 500."""
    try:
        yield
    except DomainError as error:
        raise bad_input(error) from None


def format_error(error: GraphQLError) -> dict[str, Any]:
    """The error as sent to the client: known errors keep their message and code; anything
    unexpected is logged with an error id and sent masked."""
    formatted: dict[str, Any] = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    original = error.original_error
    if extensions.get("code"):
        pass
    elif isinstance(original, DomainError):
        extensions.update(code="BAD_USER_INPUT", reason=original.code)
    elif original is None or isinstance(original, GraphQLError):
        message = error.message
        if message.startswith("Syntax Error") and PARSER_LIMIT_MARKER in message:
            # MaxTokensLimiter makes the parser stop with a syntax error; it is a limit like
            # depth and aliases, not a typo.
            extensions["code"] = "QUERY_TOO_COMPLEX"
        elif message.startswith("Syntax Error"):
            extensions["code"] = "GRAPHQL_PARSE_FAILED"
        else:
            extensions["code"] = "GRAPHQL_VALIDATION_FAILED"
    elif isinstance(original, ValueError) and error.path is None:
        # Variable coercion failures (a custom scalar refusing a value) come as ValueErrors.
        extensions["code"] = "GRAPHQL_VALIDATION_FAILED"
    elif is_unavailable(original):
        log.warning("database unavailable at %s: %s", error.path, original)
        formatted["message"] = (
            f"The service cannot reach its database right now; retry in {RETRY_AFTER_SECONDS} s."
        )
        extensions = {"code": "SERVICE_UNAVAILABLE", "retryAfterSeconds": RETRY_AFTER_SECONDS}
    else:
        error_id = uuid.uuid4().hex[:12]
        log.error("unexpected error %s at %s", error_id, error.path, exc_info=original)
        formatted["message"] = f"Internal error (id {error_id}); the id is in the server log."
        extensions = {"code": "INTERNAL", "errorId": error_id}
    formatted["extensions"] = extensions
    return formatted
