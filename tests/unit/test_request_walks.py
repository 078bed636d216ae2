"""The checks over a request's JSON that run on every request: `has_nul` decides as `nul_paths`
does, and `decode_json` refuses nesting (orjson bounds it) as a walk over every value does."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.schema.nul_characters import has_nul, nul_paths
from portal.web.error_bodies import RequestError
from portal.web.graphql_request import MAX_JSON_DEPTH, decode_json

TEXT = st.sampled_from(["", "a", "x\x00", "\x00", "plain text", "ü"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_has_nul_decides_as_nul_paths(value: Any) -> None:
    assert has_nul(value) == any(True for _ in nul_paths(value))


def _every_value(value: Any, limit: int) -> bool:
    """The reference: every value visited, a container's depth compared."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _refusal(raw: bytes | str) -> str | None:
    try:
        decode_json(raw, "the body")
    except RequestError as error:
        return error.reason
    return None


def _nested(value: Any, kinds: list[bool]) -> Any:
    for is_list in kinds:
        value = [value] if is_list else {"k": value}
    return value


@settings(max_examples=300, deadline=None)
@given(
    JSON,
    st.lists(st.booleans(), min_size=MAX_JSON_DEPTH - 8, max_size=MAX_JSON_DEPTH + 4),
)
def test_decode_json_refuses_nesting_as_a_walk_over_every_value(
    value: Any, kinds: list[bool]
) -> None:
    """Around the limit: refused (JSON_TOO_DEEP) exactly when a container lies deeper than
    MAX_JSON_DEPTH, else parsed to the same value."""
    nested = _nested(value, kinds)
    raw = json.dumps(nested).encode()
    if _every_value(nested, MAX_JSON_DEPTH):
        assert _refusal(raw) == "JSON_TOO_DEEP"
    else:
        assert decode_json(raw, "the body") == nested
        assert decode_json(raw.decode(), "the body") == nested


@pytest.mark.parametrize("open_, close", [("[", "]"), ('{"a":', "}")])
def test_the_limit_is_exact(open_: str, close: str) -> None:
    at_limit = open_ * MAX_JSON_DEPTH + "1" + close * MAX_JSON_DEPTH
    assert _refusal(at_limit) is None
    assert _refusal(open_ + at_limit + close) == "JSON_TOO_DEEP"
    assert _refusal(open_ * 5000 + "1" + close * 5000) == "JSON_TOO_DEEP"


def test_orjson_refuses_beyond_1024_levels() -> None:
    """What decode_json's bound stands on (graphql_request.ORJSON_DEPTH)."""
    orjson.loads("[" * 1024 + "]" * 1024)
    with pytest.raises(orjson.JSONDecodeError, match="depth"):
        orjson.loads("[" * 1025 + "]" * 1025)


@pytest.mark.parametrize(
    "raw, code",
    [
        ("", "INVALID_JSON"),
        ("[1,", "INVALID_JSON"),
        ("[1] [2]", "INVALID_JSON"),
        ('{"a": 1}]', "INVALID_JSON"),
        ("\ufeff{}", "INVALID_JSON"),
        (b"\xff{}", "INVALID_UTF8"),
        (" ", "INVALID_JSON"),
        ("1, 2", "INVALID_JSON"),
        ("1], [2", "INVALID_JSON"),
        ("]", "INVALID_JSON"),
        ("[" * 70, "INVALID_JSON"),  # unbalanced, and under orjson's own depth limit
        # More than 64 opening brackets (parsed wrapped): valid inside the wrapping arrays, but not
        # one JSON value — a wrapping level holds more than one element.
        ("[]," * 80 + "[]", "INVALID_JSON"),
        ("1], [" + "[]," * 80 + "2", "INVALID_JSON"),
        ("[" + ",".join(["[]"] * 80) + "] ", None),  # and one value is parsed
        ("[" * 2000 + "1" + "]" * 1999, "JSON_TOO_DEEP"),
    ],
)
def test_broken_bodies_are_refused_with_their_own_error(raw: str | bytes, code: str | None) -> None:
    assert _refusal(raw) == code


@pytest.mark.parametrize("brackets", [0, 100])  # parsed as sent, and wrapped
def test_a_parse_error_names_the_position_in_the_body_as_sent(brackets: int) -> None:
    body = '{"a": 1,,}' + " " * 3 + "[]" * brackets
    with pytest.raises(RequestError, match=r"\(char 8\)$"):
        decode_json(body, "the body")
