"""Input objects converted by code compiled once per input type.

Strawberry turns each argument's input value (the dictionaries graphql-core coerced) into
instances of the input classes with `convert_argument`, which works out every value's type
again: per value it resolves the field's annotation, asks whether the type is generic, converts
its name and walks a chain of isinstance checks. A `recordOrders` batch of 500 orders with ten
basket positions has about 40,000 values, and that walk took about 45 % of the request.

`compile_inputs` does the walk once per input type, when the schema is built, and installs the
result as the type's `from_input` (strawberry's hook for types that build their own value):
per field its GraphQL name, its Python name and what its value needs —

- nothing for scalars and enums (graphql-core has parsed them; strawberry passes them on too),
- a copy for lists of scalars or enums (graphql-core shares default values between requests),
- the compiled conversion of the nested input type, or a list of them.

The result is the instance strawberry would build, field by field: `tests/unit/
test_input_conversion.py` compares both over every input type of the schema. Types this module
cannot reproduce exactly (a `Maybe` field, a relay `GlobalID`, a type that already builds its
own value) keep strawberry's conversion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import MISSING
from typing import Any

import strawberry
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.lazy_type import LazyType
from strawberry.types.unset import UNSET

Convert = Callable[[Any], Any]
"""Converts one (non-null, set) input value."""


class Unsupported(Exception):
    """A type whose conversion this module does not reproduce; strawberry keeps converting it."""


def _copy_list(value: Any) -> list[Any]:
    return list(value)


class _Compiler:
    def __init__(self, schema: strawberry.Schema) -> None:
        self.registry = schema.schema_converter.scalar_registry
        self.names = schema.config.name_converter
        self.objects: dict[type, Callable[[Mapping[str, Any]], Any]] = {}

    def is_leaf(self, type_: Any) -> bool:
        if isinstance(type_, LazyType):
            return self.is_leaf(type_.resolve_type())
        if type_ is GlobalID:
            raise Unsupported("GlobalID")
        return (
            is_scalar(type_, self.registry)
            or isinstance(type_, StrawberryEnumDefinition)
            or has_enum_definition(type_)
        )

    def value(self, type_: StrawberryType | type) -> Convert | None:
        """How a non-null value of `type_` is converted; None: it is taken as it is."""
        if isinstance(type_, StrawberryMaybe):
            raise Unsupported("Maybe")
        if isinstance(type_, StrawberryOptional):
            return self.value(type_.of_type)
        if isinstance(type_, LazyType):
            return self.value(type_.resolve_type())
        if isinstance(type_, StrawberryList):
            item = self.value(type_.of_type)
            if item is None:
                return _copy_list
            return lambda items: [x if x is None or x is UNSET else item(x) for x in items]
        if self.is_leaf(type_):
            return None
        if has_object_definition(type_):
            return self.object(type_)
        raise Unsupported(repr(type_))

    def object(self, cls: type) -> Convert:
        compiled = self.objects.get(cls)
        if compiled is None:
            compiled = self._compile_object(cls)
        return compiled

    def _compile_object(self, cls: type) -> Convert:
        definition: StrawberryObjectDefinition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        if not definition.is_input or _builds_own_value(definition):
            raise Unsupported(definition.name)
        # Recursive types (an input that contains itself) resolve through this cell.
        cell: list[Convert] = []
        before = set(self.objects)
        self.objects[cls] = lambda value: cell[0](value)
        try:
            fields = [
                (
                    self.names.from_field(field),
                    field.python_name,
                    self.value(field.resolve_type(type_definition=definition)),
                )
                for field in definition.fields
            ]
        except Unsupported:
            # Types compiled meanwhile may hold this type's empty cell: they go too, and are
            # compiled again (and refused) when asked for.
            for compiled in set(self.objects) - before:
                del self.objects[compiled]
            raise
        # As strawberry does: fields without a default are None unless the value has them.
        implicit = {
            field.python_name: None
            for field in definition.fields
            if field.default_value is MISSING and field.default_factory is MISSING
        }

        def convert(value: Mapping[str, Any]) -> Any:
            kwargs = dict(implicit)
            for name, python_name, of_value in fields:
                if name in value:
                    item = value[name]
                    if of_value is not None and item is not None and item is not UNSET:
                        item = of_value(item)
                    kwargs[python_name] = item
            return cls(**kwargs)

        cell.append(convert)
        self.objects[cls] = convert
        return convert


def _builds_own_value(definition: StrawberryObjectDefinition) -> bool:
    return definition.from_input is not None and not getattr(
        definition.from_input, "compiled_input", False
    )


def _hook(convert: Convert) -> Callable[[type, Mapping[str, Any], Any], Any]:
    """`convert` in the form of strawberry's `from_input`, marked as this module's."""

    def from_input(_cls: type, value: Mapping[str, Any], _context: Any) -> Any:
        return convert(value)

    from_input.compiled_input = True  # type: ignore[attr-defined]
    return from_input


def _input_definitions(schema: strawberry.Schema) -> Iterator[StrawberryObjectDefinition]:
    for concrete in schema.schema_converter.type_map.values():
        definition = concrete.definition
        if isinstance(definition, StrawberryObjectDefinition) and definition.is_input:
            yield definition


def compile_inputs(schema: strawberry.Schema) -> int:
    """Installs a compiled conversion on every input type of `schema` that it can reproduce;
    answers how many types have one. Idempotent (the schemas of one process share the input
    classes, and every schema converts names and scalars alike)."""
    compiler = _Compiler(schema)
    installed = 0
    for definition in _input_definitions(schema):
        try:
            convert = compiler.object(definition.origin)
        except Unsupported:
            continue

        definition.from_input = _hook(convert)
        installed += 1
    return installed


@contextmanager
def strawberry_conversion(schema: strawberry.Schema) -> Iterator[None]:
    """Within it, strawberry converts every input type itself (the reference of the tests)."""
    kept = {}
    for definition in _input_definitions(schema):
        if definition.from_input is not None and getattr(
            definition.from_input, "compiled_input", False
        ):
            kept[definition.name] = (definition, definition.from_input)
            definition.from_input = None
    try:
        yield
    finally:
        for definition, from_input in kept.values():
            definition.from_input = from_input
