"""The compiled conversion of input objects (`portal.schema.input_conversion`) builds exactly
what strawberry's own `convert_argument` builds, for every input type of the schema."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest
import strawberry
from strawberry.relay.types import GlobalID
from strawberry.types.arguments import convert_argument
from strawberry.types.base import (
    StrawberryList,
    StrawberryObjectDefinition,
    StrawberryOptional,
    get_object_definition,
    has_object_definition,
)
from strawberry.types.lazy_type import LazyType
from strawberry.types.maybe import Maybe

from portal.schema import schema
from portal.schema.input_conversion import compile_inputs, strawberry_conversion


def _inputs(built: strawberry.Schema) -> list[StrawberryObjectDefinition]:
    return sorted(
        (
            concrete.definition
            for concrete in built.schema_converter.type_map.values()
            if isinstance(concrete.definition, StrawberryObjectDefinition)
            and concrete.definition.is_input
        ),
        key=lambda d: d.name,
    )


class _Leaf:
    """A scalar or enum value as graphql-core parsed it: passed on as it is."""


def _value(type_: Any, rng: random.Random, depth: int) -> Any:
    optional = isinstance(type_, StrawberryOptional)
    if optional:
        if rng.random() < 0.2:
            return None
        type_ = type_.of_type
    if isinstance(type_, LazyType):
        type_ = type_.resolve_type()
    if isinstance(type_, StrawberryList):
        return [_value(type_.of_type, rng, depth + 1) for _ in range(rng.randrange(4))]
    if has_object_definition(type_):
        return _object(type_.__strawberry_definition__, rng, depth + 1)
    return _Leaf()


def _object(definition: StrawberryObjectDefinition, rng: random.Random, depth: int) -> Any:
    """An input value as graphql-core coerced it: keyed by GraphQL names, required fields
    present, optional ones present, null or left out (and left out once nesting is deep)."""
    value = {}
    for field in definition.fields:
        type_ = field.resolve_type(type_definition=definition)
        required = not isinstance(type_, StrawberryOptional)
        if not required and (depth > 3 or rng.random() < 0.3):
            continue
        value[schema.config.name_converter.from_field(field)] = _value(type_, rng, depth)
    return value


def _same(a: Any, b: Any, path: str = "") -> None:
    assert type(a) is type(b), f"{path}: {type(a)} against {type(b)}"
    if isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    else:
        assert a is b, path


def _convert(definition: StrawberryObjectDefinition, value: Any) -> Any:
    registry = schema.schema_converter.scalar_registry
    return convert_argument(value, definition.origin, registry, schema.config)


def test_every_input_type_of_the_schema_has_a_compiled_conversion() -> None:
    definitions = _inputs(schema)
    assert len(definitions) >= 70
    assert compile_inputs(schema) == len(definitions)
    for definition in definitions:
        assert getattr(definition.from_input, "compiled_input", False), definition.name


@pytest.mark.parametrize("seed", range(3))
def test_the_compiled_conversion_builds_what_strawberry_builds(seed: int) -> None:
    rng = random.Random(seed)
    checked = 0
    for definition in _inputs(schema):
        for _ in range(40):
            value = _object(definition, rng, 0)
            compiled = _convert(definition, value)
            with strawberry_conversion(schema):
                assert definition.from_input is None
                reference = _convert(definition, value)
            _same(compiled, reference, definition.name)
            checked += 1
    assert checked >= 70 * 40


def test_lists_of_leaves_are_copied_as_strawberry_copies_them() -> None:
    """graphql-core hands every request the same default list: a change must not leak."""
    from portal.resolvers.orders import RecordOrderInput

    sub_ids = ["a", "b"]
    value = {"programId": "p", "orderId": "o", "trackingTime": _Leaf(), "subIds": sub_ids}
    built = _convert(get_object_definition(RecordOrderInput, strict=True), value)
    assert built.sub_ids == sub_ids and built.sub_ids is not sub_ids


@strawberry.input
class Plain:
    name: str
    nick: str | None  # no default: None when left out, as strawberry does
    tags: list[str] | None = None


@strawberry.input
class WithMaybe:
    note: Maybe[str | None]


@strawberry.input
class WithGlobalId:
    node: GlobalID


@strawberry.input
class Outer:
    plain: Plain
    maybe: WithMaybe | None = None


@strawberry.input
class Tree:
    """Recursive, and holds a type strawberry keeps converting: so does it, and so does Leaf,
    which was compiled while Tree was (it refers back to Tree)."""

    leaf: Leaf | None = None
    note: WithMaybe | None = None


@strawberry.input
class Leaf:
    parent: Tree | None = None


@strawberry.type
class SmallQuery:
    @strawberry.field
    def tree(self, t: Tree, leaf: Leaf) -> str:
        return f"{t.leaf is not None} {leaf.parent is not None}"

    @strawberry.field
    def echo(self, a: Outer, b: WithGlobalId) -> str:
        return f"{a.plain.name} {a.maybe.note if a.maybe else None} {b.node.node_id}"


def test_types_it_cannot_reproduce_keep_strawberry_conversion() -> None:
    small = strawberry.Schema(query=SmallQuery)
    assert compile_inputs(small) == 1  # Plain only; Outer holds a type that keeps strawberry's
    assert getattr(get_object_definition(Plain, strict=True).from_input, "compiled_input", False)
    for cls in (WithMaybe, WithGlobalId, Outer, Tree, Leaf):
        assert get_object_definition(cls, strict=True).from_input is None
    plain = convert_argument(
        {"name": "x"}, Plain, small.schema_converter.scalar_registry, small.config
    )
    assert plain == Plain(name="x", nick=None)
    result = small.execute_sync(
        '{ echo(a: {plain: {name: "x"}, maybe: {note: null}}, b: {node: "UGxhaW46MQ=="}) }'
    )
    assert result.errors is None and result.data == {"echo": "x Some(None) 1"}
    result = small.execute_sync("{ tree(t: {leaf: {parent: {}}}, leaf: {parent: {leaf: {}}}) }")
    assert result.errors is None and result.data == {"tree": "True True"}
