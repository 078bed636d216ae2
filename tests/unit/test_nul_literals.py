"""Where a document's string literals hold a NUL: raw, in a block string, or as a \\u escape;
a document with neither in its source is not walked, and holds none."""

from __future__ import annotations

import pytest
from graphql import parse

from portal.schema.nul_characters import literal_nul_paths


@pytest.mark.parametrize(
    ("source", "paths"),
    [
        ('{ a(b: "x\x00y") }', [("b",)]),
        ('{ a(b: """x\x00y""") }', [("b",)]),
        ('{ a(b: "x\\u0000") }', [("b",)]),
        ('{ a(input: {c: ["ok", "\\u0000"]}) }', [("input", "c")]),
        ('{ a(b: "x\\u00e9") }', []),  # an escape, but not of a NUL
        ('{ a(b: "xy") }', []),
    ],
)
def test_literal_nul_paths(source: str, paths: list[tuple[str, ...]]) -> None:
    assert literal_nul_paths(parse(source)) == paths
