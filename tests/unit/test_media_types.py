"""Accept negotiation (GraphQL over HTTP §Body): the highest-q supported type, the GraphQL type
only when named, application/json for legacy clients and a missing header, None (406) when
nothing acceptable is offered."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.web.media_types import MediaType, accepts_html, negotiate, parse_header_value

GRAPHQL = MediaType.GRAPHQL_RESPONSE_JSON
JSON = MediaType.JSON


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("application/graphql-response+json", GRAPHQL),
        ("application/json", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/graphql-response+json, application/json;q=0.9", GRAPHQL),
        ("application/json, application/graphql-response+json", GRAPHQL),  # tie: GraphQL type
        ("application/json;q=1, application/graphql-response+json;q=0.5", JSON),
        ("application/graphql-response+json;q=0, */*", JSON),
        ("application/graphql-response+json;charset=utf-8", GRAPHQL),
        ("application/graphql-response+json;charset=utf-16, application/json;q=0.1", JSON),
        ("APPLICATION/JSON", JSON),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", JSON),  # a browser
        ("*/*, application/json;q=0", None),  # the more specific range refuses JSON
        ("text/html", None),
        ("application/xml", None),
        ("application/json;q=0", None),
        ("application/json;q=abc", None),
    ],
)
def test_negotiate(accept: str | None, expected: MediaType | None) -> None:
    assert negotiate(accept) is expected


@given(st.text(max_size=200))
def test_negotiation_never_fails_on_any_header(accept: str) -> None:
    assert negotiate(accept) in (GRAPHQL, JSON, None)


@given(st.lists(st.sampled_from(["text/html", "image/png", "application/xml", "text/*"])))
def test_a_header_without_json_types_or_wildcards_is_not_acceptable(ranges: list[str]) -> None:
    assert negotiate(", ".join(ranges) or "text/plain") is None


def test_accepts_html_only_when_named_with_a_positive_q() -> None:
    assert accepts_html("text/html,application/xhtml+xml,*/*;q=0.8")
    assert not accepts_html("*/*")
    assert not accepts_html("text/html;q=0")
    assert not accepts_html(None)


def test_parse_header_value() -> None:
    assert parse_header_value(' Multipart/Form-Data; boundary="x y"; Q=0.5') == (
        "multipart/form-data",
        {"boundary": "x y", "q": "0.5"},
    )
