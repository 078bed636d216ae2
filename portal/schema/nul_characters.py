"""NUL characters (U+0000) are refused in every string a request brings: PostgreSQL cannot store
them in text, so one would reach the database only to fail there, as an INTERNAL error or a
failed job. Checked once, before execution, over the variables and the document's literals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import ArgumentNode, DocumentNode, ObjectFieldNode, StringValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from portal.schema.errors import BadUserInput

NUL = "\x00"
REASON = "NUL_CHARACTER"


def has_nul(value: Any) -> bool:
    """Whether any string (or key) of a JSON value holds a NUL: `nul_paths` without building
    a path per value, for the common case of a clean value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            if any(isinstance(key, str) and NUL in key for key in item):
                return True
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def nul_paths(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The paths (keys and list indexes) of the strings in a JSON value that hold a NUL."""
    if isinstance(value, str):
        if NUL in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and NUL in key:
                yield (*path, key)
            yield from nul_paths(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from nul_paths(item, (*path, str(index)))


class _LiteralFinder(Visitor):
    """Collects the argument paths (argument, then input fields) of string literals with a NUL."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.found: list[tuple[str, ...]] = []

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        self.names.append(node.name.value)

    def leave_argument(self, *_: Any) -> None:
        self.names.pop()

    def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
        self.names.append(node.name.value)

    def leave_object_field(self, *_: Any) -> None:
        self.names.pop()

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if NUL in node.value:
            self.found.append(tuple(self.names))


def literal_nul_paths(document: DocumentNode) -> list[tuple[str, ...]]:
    source = document.loc.source.body if document.loc is not None else None
    if source is not None and NUL not in source and "\\u" not in source:
        # A literal holds a NUL only if the source has one, raw or as a \u escape; most
        # documents have neither, and then they need no walk.
        return []
    finder = _LiteralFinder()
    visit(document, finder)
    return finder.found


def nul_error(
    variables: dict[str, Any] | None, document: DocumentNode | None
) -> BadUserInput | None:
    """The error refusing the request, naming the first string with a NUL; None when clean."""
    for path in nul_paths(variables) if variables and has_nul(variables) else ():
        return BadUserInput(
            f"the variable ${'.'.join(path)} holds a NUL character (U+0000); "
            "strings may not contain it",
            variable=list(path),
            reason=REASON,
        )
    for path in literal_nul_paths(document) if document is not None else ():
        return BadUserInput(
            f"the argument {'.'.join(path)} holds a NUL character (U+0000); "
            "strings may not contain it",
            argument=list(path),
            reason=REASON,
        )
    return None


class RefuseNulCharacters(SchemaExtension):
    """Answers BAD_USER_INPUT (reason NUL_CHARACTER) instead of running the operation."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        # A JSON body without a `\u0000` escape cannot bring a NUL in its variables.
        nul_free = getattr(ctx.context, "variables_nul_free", False)
        error = nul_error(None if nul_free else ctx.variables, ctx.graphql_document)
        if error is not None:
            ctx.result = ExecutionResult(data=None, errors=[error])
        yield
