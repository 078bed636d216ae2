"""The media type of a GraphQL answer, chosen from the request's `Accept` header.

GraphQL over HTTP defines two: `application/graphql-response+json` (status codes tell request
errors from results) and `application/json` (legacy clients: 200 for every GraphQL result).
A client that does not name the GraphQL type, even through `*/*`, is treated as a legacy client.
"""

from __future__ import annotations

import enum


class MediaType(enum.Enum):
    GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
    JSON = "application/json"

    @property
    def content_type(self) -> str:
        return f"{self.value}; charset=utf-8"


def parse_header_value(value: str) -> tuple[str, dict[str, str]]:
    """`type/subtype; a=1; b="2"` -> ("type/subtype", {"a": "1", "b": "2"}), names lower-cased."""
    main, *parameters = value.split(";")
    parsed: dict[str, str] = {}
    for parameter in parameters:
        name, _, raw = parameter.partition("=")
        parsed[name.strip().lower()] = raw.strip().strip('"')
    return main.strip().lower(), parsed


def _quality(parameters: dict[str, str]) -> float:
    try:
        q = float(parameters.get("q", "1"))
    except ValueError:
        return 0.0
    return q if 0.0 <= q <= 1.0 else 0.0


def _specificity(media_range: str, media_type: MediaType) -> int | None:
    """How closely a range matches our type: 2 exact, 1 `application/*`, 0 `*/*`, None not at
    all. The GraphQL type matches only exactly: a wildcard is what a legacy client sends."""
    if media_range == media_type.value:
        return 2
    if media_type is MediaType.GRAPHQL_RESPONSE_JSON:
        return None
    if media_range == "application/*":
        return 1
    if media_range == "*/*":
        return 0
    return None


def _accepted_quality(accept: str, media_type: MediaType) -> float:
    """The q value of the most specific range that matches (RFC 9110 §12.5.1)."""
    best: tuple[int, float] | None = None
    for part in accept.split(","):
        media_range, parameters = parse_header_value(part)
        specificity = _specificity(media_range, media_type)
        if specificity is None:
            continue
        charset = parameters.get("charset")
        if charset is not None and charset.lower() != "utf-8":
            continue
        candidate = (specificity, _quality(parameters))
        if best is None or candidate[0] > best[0]:
            best = candidate
    return best[1] if best else 0.0


def negotiate(accept: str | None) -> MediaType | None:
    """The answer's media type; None when `Accept` allows neither (the caller answers 406).

    No `Accept` header means `application/json`. With equal q values the GraphQL type wins.
    """
    if accept is None or not accept.strip():
        return MediaType.JSON
    graphql_q = _accepted_quality(accept, MediaType.GRAPHQL_RESPONSE_JSON)
    json_q = _accepted_quality(accept, MediaType.JSON)
    if graphql_q > 0 and graphql_q >= json_q:
        return MediaType.GRAPHQL_RESPONSE_JSON
    if json_q > 0:
        return MediaType.JSON
    return None


def accepts_html(accept: str | None) -> bool:
    """Whether the client explicitly accepts an HTML page (a browser opening GraphiQL)."""
    for part in (accept or "").split(","):
        media_range, parameters = parse_header_value(part)
        if media_range == "text/html" and _quality(parameters) > 0:
            return True
    return False
