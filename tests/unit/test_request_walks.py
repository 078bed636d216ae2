"""The walks over a request's JSON that run on every request: `has_nul` decides as `nul_paths`
does, and `_too_deep` (only containers visited) as a walk over every value does."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.schema.nul_characters import has_nul, nul_paths
from portal.web.graphql_request import _too_deep

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


@settings(max_examples=400, deadline=None)
@given(JSON, st.integers(min_value=0, max_value=5))
def test_too_deep_decides_as_a_walk_over_every_value(value: Any, limit: int) -> None:
    assert _too_deep(value, limit) == _every_value(value, limit)
