"""GraphiQL is the admins' manual: every type, field, argument and input field is described."""

from __future__ import annotations

from graphql import (
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
)

import portal.schema

BUILT_IN_SCALARS = {"String", "Int", "Boolean", "ID", "Float"}


def test_everything_in_the_schema_is_described() -> None:
    missing = []
    for name, kind in portal.schema.schema._schema.type_map.items():
        if name.startswith("__") or (
            isinstance(kind, GraphQLScalarType) and name in BUILT_IN_SCALARS
        ):
            continue
        if not kind.description:
            missing.append(f"type {name}")
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in kind.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                missing += [
                    f"{name}.{field_name}({a})"
                    for a, arg in field.args.items()
                    if not arg.description
                ]
        if isinstance(kind, GraphQLInputObjectType):
            missing += [f"{name}.{f}" for f, field in kind.fields.items() if not field.description]
    assert missing == []
