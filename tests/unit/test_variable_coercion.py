"""The compiled variable coercion (`portal.schema.variable_coercion`) gives exactly what
graphql-core's `coerce_input_value` gives, for valid and broken values of every input type of
the schema and of types the schema does not have (defaults, out names and types, one-of and
recursive types); the depth walk it skips would have found nothing; and a request's variables
come out coerced, or refused with the same errors, either way."""

from __future__ import annotations

import random
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import pytest
from graphql import (
    GraphQLDefaultInput,
    GraphQLEnumType,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLString,
    Undefined,
    parse,
)
from graphql.execution import values
from graphql.language.parser import MAX_NESTING_DEPTH

from portal.schema import schema
from portal.schema import variable_coercion as vc

SCHEMA = schema._schema

# Values of every JSON kind, valid for some leaf types and broken for the others.
POOL: list[Any] = [
    *("", "x", " 12.50 ", "12.50", "-3", "1e2", "0.1234567", "1000000000000000", "\x00"),
    *("2026-01-02T03:04:05+00:00", "2026-01-02T03:04:05", "2026-01-02", "2026-02-30"),
    *("EUR", "eur", "XXX", "UHJvZ3JhbTox", "UHJvZ3JhbTp4", "Q29udmVyc2lvbjoz"),
    *(0, 7, -1, 2**31, 2**70, 1.5, 2.0, float("inf"), True, False),
    *({}, {"a": 1}, [], [1, "a"], ("t",)),
]


def _input_types() -> list[GraphQLInputObjectType]:
    return sorted(
        (t for t in SCHEMA.type_map.values() if isinstance(t, GraphQLInputObjectType)),
        key=lambda t: t.name,
    )


def _coerces(type_: Any, value: Any) -> bool:
    try:
        type_.coerce_input_value(value)
    except Exception:
        return False
    return True


class Values:
    """Random raw values of an input type: mostly valid, broken with probability `broken` at
    each value (null for non-null, a leaf of the wrong kind, an unknown or missing field, a
    value of a shape JSON does not give)."""

    def __init__(self, rng: random.Random, broken: float) -> None:
        self.rng, self.broken = rng, broken
        self.valid: dict[Any, list[Any]] = {}

    def leaf(self, type_: Any) -> Any:
        if type_ not in self.valid:
            pool = POOL + (list(type_.values) if isinstance(type_, GraphQLEnumType) else [])
            self.valid[type_] = [v for v in pool if _coerces(type_, v)] or POOL
        if self.rng.random() < self.broken:
            return self.rng.choice(POOL)
        return self.rng.choice(self.valid[type_])

    def of(self, type_: Any, depth: int = 0) -> Any:
        rng = self.rng
        if isinstance(type_, GraphQLNonNull):
            return None if rng.random() < self.broken else self.of(type_.of_type, depth)
        if rng.random() < 0.08:
            return rng.choice((None, Undefined)) if rng.random() < 0.9 else Undefined
        if isinstance(type_, GraphQLList):
            if rng.random() < self.broken:  # a lone value or a tuple stands for a list
                item = self.of(type_.of_type, depth + 1)
                return item if rng.random() < 0.5 else (item,)
            return [self.of(type_.of_type, depth + 1) for _ in range(rng.randrange(4))]
        if isinstance(type_, GraphQLInputObjectType):
            return self.object(type_, depth)
        return self.leaf(type_)

    def object(self, type_: GraphQLInputObjectType, depth: int) -> Any:
        rng = self.rng
        value: dict[str, Any] = {}
        for name, field in type_.fields.items():
            required = isinstance(field.type, GraphQLNonNull)
            if not required and (depth > 3 or rng.random() < 0.3):
                continue
            if required and rng.random() < self.broken:
                continue  # a required field left out
            value[name] = self.of(field.type, depth + 1)
        if rng.random() < self.broken:
            value["unknownField"] = rng.choice(POOL)
        if rng.random() < self.broken:
            value[rng.choice([*type_.fields, "other"])] = Undefined
        if rng.random() < self.broken:
            return OrderedDict(value) if rng.random() < 0.5 else list(value.items())
        return value


def _same(a: Any, b: Any, path: str = "") -> None:
    if a is Undefined or b is Undefined:
        assert a is b, f"{path}: {a!r} against {b!r}"
        return
    assert type(a) is type(b), f"{path}: {type(a)} against {type(b)}"
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for key in a:
            _same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b and repr(a) == repr(b), f"{path}: {a!r} against {b!r}"


def _compare(types: list[Any], rounds: int, broken: float, seed: int) -> tuple[int, int]:
    """Compares compiled and graphql-core's coercion over random values; answers how many came
    out valid and how many invalid."""
    rng = random.Random(seed)
    gen = Values(rng, broken)
    valid = invalid = 0
    for type_ in types:
        for wrapped in (type_, GraphQLNonNull(type_), GraphQLList(GraphQLNonNull(type_))):
            compiled = vc.coercer(wrapped)
            for n in range(rounds):
                value = gen.of(wrapped)
                expected = vc.graphql_coerce_input_value(value, wrapped)
                got = compiled(value)
                _same(got, expected, f"{wrapped} #{n} {value!r}"[:300])
                if expected is Undefined:
                    invalid += 1
                else:
                    valid += 1
    return valid, invalid


@pytest.mark.parametrize("broken", [0.0, 0.01, 0.08])
def test_every_input_type_of_the_schema_coerces_as_graphql_core_does(broken: float) -> None:
    types = _input_types()
    assert len(types) >= 70
    valid, invalid = _compare(types, 40, broken, seed=int(broken * 1000))
    # Both outcomes are exercised, and valid values are no rarity.
    assert valid > 1500
    if broken:
        assert invalid > 300


def _extra_types() -> list[Any]:
    colour = GraphQLEnumType("Colour", {"RED": "r", "GREEN": "g"})
    defaults = GraphQLInputObjectType(
        "Defaults",
        {
            "count": GraphQLInputField(GraphQLNonNull(GraphQLInt), default=GraphQLDefaultInput(5)),
            "tags": GraphQLInputField(
                GraphQLList(GraphQLString), default=GraphQLDefaultInput(["a", "b"])
            ),
            "legacy": GraphQLInputField(GraphQLString, default_value="old"),
            "colour": GraphQLInputField(colour, out_name="color"),
            "name": GraphQLInputField(GraphQLNonNull(GraphQLString)),
        },
    )
    shaped = GraphQLInputObjectType(
        "Shaped",
        {"x": GraphQLInputField(GraphQLInt), "y": GraphQLInputField(GraphQLNonNull(GraphQLInt))},
        out_type=lambda d: ("shaped", tuple(sorted(d.items()))),
    )
    one_of = GraphQLInputObjectType(
        "OneOf",
        {"a": GraphQLInputField(GraphQLInt), "b": GraphQLInputField(GraphQLString)},
        is_one_of=True,
    )
    tree: GraphQLInputObjectType = GraphQLInputObjectType(
        "Tree",
        lambda: {
            "label": GraphQLInputField(GraphQLString),
            "child": GraphQLInputField(tree),
            "children": GraphQLInputField(GraphQLList(GraphQLNonNull(tree))),
            "shape": GraphQLInputField(shaped),
        },
    )
    holder = GraphQLInputObjectType(
        "Holder",
        {"defaults": GraphQLInputField(defaults), "oneOf": GraphQLInputField(one_of)},
    )
    return [defaults, shaped, one_of, tree, holder]


@pytest.mark.parametrize("broken", [0.0, 0.05])
def test_defaults_out_names_out_types_one_of_and_recursive_types_coerce_alike(
    broken: float,
) -> None:
    valid, invalid = _compare(_extra_types(), 400, broken, seed=7)
    assert valid > 500
    if broken:
        assert invalid > 100


def test_a_default_is_graphql_cores_memoized_value() -> None:
    defaults = _extra_types()[0]
    a = vc.coercer(defaults)({"name": "n"})
    b = vc.graphql_coerce_input_value({"name": "n"}, defaults)
    assert a == {"count": 5, "tags": ["a", "b"], "legacy": "old", "name": "n"}
    assert a["tags"] is b["tags"]


def _nested(depth: int) -> Any:
    value: Any = {"label": "leaf"}
    for _ in range(depth):
        value = {"child": value}
    return value


def test_the_depth_walk_is_skipped_only_where_it_finds_nothing() -> None:
    tree = _extra_types()[3]
    assert vc.depth(tree) is None
    assert vc.depth(GraphQLList(GraphQLString)) == 1
    for n in (3, MAX_NESTING_DEPTH - 1, MAX_NESTING_DEPTH + 1):
        assert vc.input_is_nested_too_deeply(
            _nested(n), tree
        ) is vc.graphql_input_is_nested_too_deeply(_nested(n), tree)
    assert vc.input_is_nested_too_deeply(_nested(MAX_NESTING_DEPTH + 1), tree)
    # A type nested deeper than the limit without recursion is walked.
    deep: Any = GraphQLString
    for _ in range(MAX_NESTING_DEPTH + 1):
        deep = GraphQLList(deep)
    value: Any = "x"
    for _ in range(MAX_NESTING_DEPTH + 1):
        value = [value]
    assert vc.depth(deep) == MAX_NESTING_DEPTH + 1
    assert vc.input_is_nested_too_deeply(value, deep)
    # Every input type of the schema is bounded within the limit: the walk never runs.
    for type_ in _input_types():
        bound = vc.depth(type_)
        assert bound is not None and bound <= MAX_NESTING_DEPTH, type_.name
        gen = Values(random.Random(type_.name), 0.05)
        for _ in range(20):
            assert not vc.graphql_input_is_nested_too_deeply(gen.of(type_), type_)


def test_building_the_schema_installs_it() -> None:
    assert values.coerce_input_value is vc.coerce_input_value
    assert values.input_is_nested_too_deeply is vc.input_is_nested_too_deeply


RECORD = parse(
    "mutation($input: RecordOrdersInput!, $n: Int) { recordOrders(input: $input) { createdCount } }"
)


def _order(rng: random.Random) -> dict[str, Any]:
    """An order whose values are each valid, or now and then broken."""

    def pick(valid: Any, *broken: Any) -> Any:
        return rng.choice(broken) if rng.random() < 0.05 else valid

    return {
        "programId": "UHJvZ3JhbTox",
        "orderId": f"o-{rng.randrange(1000)}",
        "trackingTime": pick("2026-11-02T10:00:00+00:00", "2026-11-02", 5),
        "discount": pick(rng.choice(["1.00", "0", 2]), "x", 1.5, None, "1e2"),
        "touchpoints": [
            {
                "kind": pick(rng.choice(["COOKIE", "COUPON"]), "cookie", 1),
                "partnerId": "UGFydG5lcjox",
                "at": pick("2026-11-01T10:00:00+00:00", "yesterday"),
            }
        ],
        "basket": [
            {"orderValue": pick("12.50", "1e3", 12.5), "quantity": pick(1, 0.5, "1")}
            for _ in range(rng.randrange(1, 4))
        ],
    }


def test_a_requests_variables_come_out_as_graphql_core_gives_them() -> None:
    rng = random.Random(3)
    operation = RECORD.definitions[0]
    outcomes = set()
    for _ in range(300):
        orders = [_order(rng) for _ in range(rng.randrange(1, 3))]
        variables = {"input": {"orders": orders}, "n": rng.choice([1, 1, 1, "1"])}
        got = values.get_variable_values(SCHEMA, operation.variable_definitions, variables)
        with vc.graphql_core_coercion():
            expected = values.get_variable_values(SCHEMA, operation.variable_definitions, variables)
        if isinstance(expected, list):
            assert isinstance(got, list)
            assert [e.formatted for e in got] == [e.formatted for e in expected]
            outcomes.add("errors")
        else:
            assert not isinstance(got, list)
            _same(got.coerced, expected.coerced)
            assert got.sources.keys() == expected.sources.keys()
            outcomes.add("coerced")
    assert outcomes == {"errors", "coerced"}


def test_decimal_leaves_come_out_exact() -> None:
    order = _order(random.Random(0)) | {"discount": "1.10"}
    order["basket"] = [{"orderValue": "12.50", "quantity": 2}]
    got = vc.coercer(SCHEMA.get_type("RecordOrderInput"))(order)
    assert got["discount"] == Decimal("1.10") and str(got["discount"]) == "1.10"
