"""graphql-core's coercion of a request's variables, compiled per input type.

graphql-core coerces every variable value with `coerce_input_value`, which asks each value's
type what kind it is (non-null, list, input object, leaf) again, and first walks the whole value
once more to see that it is not nested too deeply (`input_is_nested_too_deeply`). For a
`recordOrders` batch of 500 orders of 10 positions that is about 40,000 values and 0.12–0.14 ms
of CPU per order, a sixth of the request (`bench/variable_coercion.py`).

`coercer(type_)` works that out once per input type and answers a function of the value that
gives exactly what `coerce_input_value(value, type_)` gives: the same coerced value, or
`Undefined` where the value is invalid (graphql-core then reports why with its own
`validate_input_value`, so the errors stay graphql-core's). A value of a shape JSON does not
produce (a tuple, a mapping that is not a dict, a set) and any value of a one-of input type is
handed to graphql-core's function, so there the result is graphql-core's by construction.

The depth walk is skipped where it cannot find anything: a type that is not recursive bounds
how deeply a value can be followed, and when that bound is within graphql-core's limit the walk
would answer False for every value.

`install()` puts both into `graphql.execution.values`, whose `coerce_variable_values` looks them
up when it runs; it is called when the schema is built. `tests/unit/test_variable_coercion.py`
compares the compiled coercion with graphql-core's over random valid and broken values of every
input type of the schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLString,
    Undefined,
    is_required_input_field,
)
from graphql.execution import values as _values
from graphql.language.parser import MAX_NESTING_DEPTH
from graphql.utilities.coerce_input_value import coerce_default_value

Coercer = Callable[[Any], Any]

#: graphql-core's own functions, which the compiled ones stand in for.
graphql_coerce_input_value = _values.coerce_input_value
graphql_input_is_nested_too_deeply = _values.input_is_nested_too_deeply

# An input object type keeps its compiled coercer and its depth in its `extensions` (graphql-
# core's place for what others attach to a type): they live exactly as long as the type (every
# app a test builds has types of its own).
_COERCER = "portal.coercer"
_DEPTH = "portal.depth"


def coercer(type_: GraphQLInputType) -> Coercer:
    """The compiled `coerce_input_value` of `type_` (input objects compiled once, wrappers and
    leaves built around them)."""
    if isinstance(type_, GraphQLNonNull):
        if not isinstance(type_.of_type, GraphQLList | GraphQLInputObjectType):
            return _leaf(type_.of_type, null=Undefined)
        inner = coercer(type_.of_type)

        def non_null(value: Any) -> Any:
            if value is None or value is Undefined:
                return Undefined
            return inner(value)

        return non_null
    if isinstance(type_, GraphQLList):
        return _list(type_, coercer(type_.of_type))
    if isinstance(type_, GraphQLInputObjectType):
        compiled = type_.extensions.get(_COERCER)
        if compiled is None:
            compiled = _object(type_)
        return compiled
    return _leaf(type_)


def _list(type_: GraphQLList[Any], item: Coercer) -> Coercer:
    def coerce_list(value: Any) -> Any:
        if value is None or value is Undefined:
            return None
        if type(value) is not list:
            return graphql_coerce_input_value(value, type_)
        coerced = []
        append = coerced.append
        for item_value in value:
            c = item(item_value)
            if c is Undefined:
                return Undefined
            append(c)
        return coerced

    return coerce_list


def _object(type_: GraphQLInputObjectType) -> Coercer:
    if type_.is_one_of:

        def one_of(value: Any) -> Any:
            return graphql_coerce_input_value(value, type_)

        type_.extensions[_COERCER] = one_of
        return one_of

    # Per field: name, out name, coercer, required, and when left out: a default to coerce
    # (graphql-core memoizes it) or the value it stands for (Undefined: none).
    fields: list[tuple[str, str, Coercer, bool, GraphQLInputField | None, Any]] = []

    def coerce_object(value: Any) -> Any:
        if value is None or value is Undefined:
            return None
        if type(value) is not dict or not value.keys() <= names:
            return graphql_coerce_input_value(value, type_)
        coerced = {}
        for name, out_name, coerce, required, to_coerce, default in fields:
            field_value = value.get(name, Undefined)
            if field_value is Undefined:
                if required:
                    return Undefined
                if to_coerce is not None:
                    default = coerce_default_value(to_coerce)
                if default is not Undefined:
                    coerced[out_name] = default
            else:
                c = coerce(field_value)
                if c is Undefined:
                    return Undefined
                coerced[out_name] = c
        return out_type(coerced) if out_type is not None else coerced

    # Registered before its fields are compiled: a recursive type's fields find it.
    type_.extensions[_COERCER] = coerce_object
    try:
        names = frozenset(type_.fields)
        out_type = None if type_.out_type is GraphQLInputObjectType.out_type else type_.out_type
        for name, field in type_.fields.items():
            # `coerce_default_value` answers a deprecated `default_value` as it is (Undefined:
            # no default); an external `default` it coerces once and memoizes.
            external = field.default is not None
            fields.append(
                (
                    name,
                    field.out_name or name,
                    coercer(field.type),
                    is_required_input_field(field),
                    field if external else None,
                    Undefined if external else field.default_value,
                )
            )
    except BaseException:
        del type_.extensions[_COERCER]
        raise
    return coerce_object


def _leaf(type_: Any, null: Any = None) -> Coercer:
    """A scalar's or enum's coercer; `null`: what None or Undefined gives (Undefined for a
    non-null leaf: invalid)."""
    coerce = type_.coerce_input_value
    exact: type | None = (
        str if type_ is GraphQLString else bool if type_ is GraphQLBoolean else None
    )

    def coerce_leaf(value: Any) -> Any:
        if type(value) is exact:  # String and Boolean answer such a value as it is
            return value
        if value is None or value is Undefined:
            return null
        try:
            return coerce(value)
        except Exception:  # as graphql-core: any failure means an invalid value
            return Undefined

    return coerce_leaf


def depth(type_: GraphQLInputType) -> int | None:
    """How deeply graphql-core's depth walk can follow a value of `type_` (list and input
    object levels), or None when the type is recursive and a value can go on without end."""
    if isinstance(type_, GraphQLNonNull):
        return depth(type_.of_type)
    if isinstance(type_, GraphQLList):
        inner = depth(type_.of_type)
        return None if inner is None else inner + 1
    if not isinstance(type_, GraphQLInputObjectType):
        return 0
    if _DEPTH in type_.extensions:
        return type_.extensions[_DEPTH]  # type: ignore[no-any-return]
    type_.extensions[_DEPTH] = None  # met again while its fields are measured: recursive
    deepest = 0
    for field in type_.fields.values():
        inner = depth(field.type)
        if inner is None:
            return None  # stays None: so is every type that holds this one
        deepest = max(deepest, inner + 1)
    type_.extensions[_DEPTH] = deepest
    return deepest


def coerce_input_value(input_value: Any, type_: GraphQLInputType) -> Any:
    """`graphql.utilities.coerce_input_value`, compiled."""
    return coercer(type_)(input_value)


def input_is_nested_too_deeply(value: Any, type_: GraphQLInputType) -> bool:
    """`graphql.execution.values.input_is_nested_too_deeply`, without the walk where the type
    alone answers it."""
    bound = depth(type_)
    if bound is not None and bound <= MAX_NESTING_DEPTH:
        return False
    return graphql_input_is_nested_too_deeply(value, type_)


@contextmanager
def graphql_core_coercion() -> Iterator[None]:
    """Within it, graphql-core coerces variables with its own functions (the reference of the
    tests and the bench)."""
    installed = _values.coerce_input_value, _values.input_is_nested_too_deeply
    _values.coerce_input_value = graphql_coerce_input_value  # type: ignore[assignment]
    _values.input_is_nested_too_deeply = graphql_input_is_nested_too_deeply  # type: ignore[assignment]
    try:
        yield
    finally:
        _values.coerce_input_value, _values.input_is_nested_too_deeply = installed  # type: ignore[assignment]


def install() -> None:
    """Let graphql-core's variable coercion use the compiled functions (idempotent)."""
    _values.coerce_input_value = coerce_input_value  # type: ignore[assignment]
    _values.input_is_nested_too_deeply = input_is_nested_too_deeply  # type: ignore[assignment]
