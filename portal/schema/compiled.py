"""The compiled read path (issue 13): dashboard reads without field-by-field execution.

After parsing, validation, the limits, the query cost and the rate limit (the extensions before
this one in portal.schema.root) a query operation whose every root field is supported is
compiled once into a plan, kept per document and operation name:

- one SQL statement per root field (plus the count when `totalCount` is asked), selecting only
  the columns asked for and joining the many-to-one objects (partner, program, its advertiser)
  as derived tables scoped by `portal.adapters.visibility.visible`, the same predicates the
  general path uses; the conditions, ordering and cursors of a list come from the same reader
  and pagination functions (`Reader.conversions_scope`, `page_statement`, `page_of`);
- row → JSON builders specialised for the selection (aliases, fragments, `__typename`, field
  order), one generated function each (portal.schema.row_source), serialising every leaf as
  the schema's scalar and enum serialisers do (strings as stored, amounts by `canonical_text`).

Whether an operation is compiled is decided once, at compile time: any unsupported field,
directive, mutation or subscription sends it to the general strawberry executor. At run time a
request falls back to the general path, before any SQL ran, when its arguments are not valid
(bad ids, page sizes, cursors: the general path reports them with the usual error codes) or when
`node(id:)` names another kind of object. Either way the response is the same, byte for byte
(tests/integration/test_compiled_reads_differential.py).

The path taken is in the request log (`execution_path`) and the `portal-execution-path`
response header; `PORTAL_COMPILED_READS=false` turns the compiled path off.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.utilities import get_operation_ast
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.arguments import convert_arguments

from portal.adapters.pagination import SortKey, page_of, page_statement
from portal.adapters.raw_reads import fetch_rows, fetch_value, prepared_select
from portal.adapters.reader import Reader
from portal.adapters.tables import (
    advertisers,
    conversion_requests,
    conversions,
    partners,
    programs,
    users,
)
from portal.adapters.visibility import visible
from portal.domain.access import Role
from portal.domain.conversions import ConversionStatus
from portal.domain.money import canonical_text, without_padding
from portal.domain.programs import ConsentMode, FollowUpPolicy
from portal.domain.requests import RequestKind, RequestStatus
from portal.global_ids import decode_id, decode_typed, encode_id
from portal.observability.graphql import set_execution_path
from portal.schema.row_source import (
    Call,
    Column,
    Const,
    Expr,
    Lookup,
    Money,
    NullUnless,
    Obj,
    Raw,
    edges_function,
    function,
    rows_function,
)

log = logging.getLogger("portal.compiled")

HEADER = "portal-execution-path"
PLAN_CACHE_SIZE = 512

Row = Any  # a row's mapping (label -> value)


class Unsupported(Exception):
    """The operation is outside what the compiler handles: the general path runs it."""


class Fallback(Exception):
    """This request's arguments need the general path (which reports their errors)."""


# -- the columns a plan reads -----------------------------------------------------------------

SOURCES = {"pa": partners, "pr": programs, "ad": advertisers, "cb": users}
"""Where a plan reads from besides its main table (""): the partner, the program, the program's
advertiser (each a derived table scoped by `visible`) and the user who raised a request (its
name and role, unscoped as `RequestReader.actors` reads them)."""
UNSCOPED = frozenset({"cb"})


def label(source: str, name: str) -> str:
    return name if source == "" else f"{source}_{name}"


STATEMENTS_PER_PLAN = 64


@dataclass
class Columns:
    asked: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    statements: dict[Any, Any] = field(default_factory=dict)
    """Base statements by (table, viewer, sort column) (`_base_statement`)."""

    def need(self, source: str, name: str) -> str:
        self.asked[source].add(name)
        return label(source, name)


def main_statement(
    table: Any, columns: Columns, viewer: Any, where: ColumnElement[bool], key: SortKey | None
) -> Select[Any]:
    """The rows of `table` (conversions, conversion requests) matching `where`, with the asked
    columns and many-to-one objects."""
    return _base_statement(table, columns, viewer, key).where(where)


def _base_statement(table: Any, columns: Columns, viewer: Any, key: SortKey | None) -> Any:
    """The SELECT … FROM … JOIN of a plan for one viewer and ordering, built once and kept on
    the plan's columns (a few per plan: the viewers and orderings in use)."""
    cache_key = (table.name, viewer, None if key is None else key.column.key)  # type: ignore[union-attr]
    found = columns.statements.get(cache_key)
    if found is None:
        found = _build_base(table, columns, viewer, key)
        if len(columns.statements) >= STATEMENTS_PER_PLAN:
            columns.statements.pop(next(iter(columns.statements)))
        columns.statements[cache_key] = found
    return found


def _build_base(table: Any, columns: Columns, viewer: Any, key: SortKey | None) -> Any:
    asked = columns.asked
    names = set(asked.get("", ())) | {"id"}
    if key is not None:
        names.add(key.column.key)  # type: ignore[arg-type]
    c = table.c
    selected: list[Any] = [c[n] for n in sorted(names)]
    joined: Any = table
    if "pa" in asked:
        pa = _scoped("pa", asked["pa"], viewer)
        joined = joined.outerjoin(pa, pa.c.id == c.partner_id)
        selected += [pa.c[n].label(label("pa", n)) for n in sorted(asked["pa"] | {"id"})]
    if "pr" in asked:
        pr = _scoped("pr", asked["pr"], viewer)
        joined = joined.outerjoin(pr, pr.c.id == c.program_id)
        selected += [pr.c[n].label(label("pr", n)) for n in sorted(asked["pr"] | {"id"})]
        if "ad" in asked:
            ad = _scoped("ad", asked["ad"], viewer)
            joined = joined.outerjoin(ad, ad.c.id == pr.c.advertiser_id)
            selected += [ad.c[n].label(label("ad", n)) for n in sorted(asked["ad"] | {"id"})]
    if "cb" in asked:
        cb = _scoped("cb", asked["cb"], viewer)
        joined = joined.outerjoin(cb, cb.c.id == c.created_by)
        selected += [cb.c[n].label(label("cb", n)) for n in sorted(asked["cb"] | {"id"})]
    return select(*selected).select_from(joined)


def _scoped(source: str, names: set[str], viewer: Any) -> Any:
    """The rows of a joined table the viewer may see (the same predicate as `node(id:)` and the
    nested resolvers of the general path), as a derived table of the asked columns."""
    table = SOURCES[source]
    stmt = select(*[table.c[n] for n in sorted(names | {"id"})])
    if source not in UNSCOPED:
        stmt = stmt.where(visible(table, viewer))
    return stmt.subquery(source)


# -- selections -------------------------------------------------------------------------------


class Selections:
    """Collects a selection set as GraphQL's CollectFields does, for a known object type:
    response keys in order of first appearance, the field nodes of each key merged."""

    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]):
        self.schema = schema
        self.fragments = fragments

    def collect(
        self, sets: list[SelectionSetNode], type_: GraphQLObjectType
    ) -> OrderedDict[str, list[FieldNode]]:
        found: OrderedDict[str, list[FieldNode]] = OrderedDict()
        for selection_set in sets:
            self._collect(selection_set, type_, found, frozenset())
        return found

    def _collect(
        self,
        selection_set: SelectionSetNode,
        type_: GraphQLObjectType,
        found: OrderedDict[str, list[FieldNode]],
        seen: frozenset[str],
    ) -> None:
        for selection in selection_set.selections:
            if selection.directives:
                raise Unsupported("directives")
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                found.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or self._applies(condition.name.value, type_):
                    self._collect(selection.selection_set, type_, found, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    raise Unsupported("fragment")
                if self._applies(fragment.type_condition.name.value, type_):
                    self._collect(fragment.selection_set, type_, found, seen | {name})
            else:  # pragma: no cover - graphql-core has no other selection kinds
                raise Unsupported("selection")

    def _applies(self, condition: str, type_: GraphQLObjectType) -> bool:
        wanted = self.schema.get_type(condition)
        if wanted is type_:
            return True
        return is_abstract_type(wanted) and self.schema.is_sub_type(wanted, type_)  # type: ignore[arg-type]


def sub_sets(nodes: list[FieldNode]) -> list[SelectionSetNode]:
    return [n.selection_set for n in nodes if n.selection_set is not None]


# -- objects ----------------------------------------------------------------------------------


class ObjectCompiler:
    """Compiles the selection of a Conversion (and of its partner, program and advertiser) into
    a row → dict builder, noting the columns it reads."""

    def __init__(self, schema: GraphQLSchema, selections: Selections) -> None:
        self.schema = schema
        self.selections = selections
        types = schema.type_map
        self.datetime = types["DateTime"].serialize  # type: ignore[union-attr]
        self.decimal = types["Decimal"].serialize  # type: ignore[union-attr]
        self.string = types["String"].serialize  # type: ignore[union-attr]
        self.boolean = types["Boolean"].serialize  # type: ignore[union-attr]
        self.int = types["Int"].serialize  # type: ignore[union-attr]
        self.currency = types["CurrencyCode"].serialize  # type: ignore[union-attr]
        self.enums = {
            ConversionStatus: types["ConversionStatus"].serialize,  # type: ignore[union-attr]
            ConsentMode: types["ConsentMode"].serialize,  # type: ignore[union-attr]
            FollowUpPolicy: types["FollowUpPolicy"].serialize,  # type: ignore[union-attr]
            RequestKind: types["RequestKind"].serialize,  # type: ignore[union-attr]
            RequestStatus: types["RequestStatus"].serialize,  # type: ignore[union-attr]
            Role: types["Role"].serialize,  # type: ignore[union-attr]
        }

    def object(self, type_name: str, nodes: list[FieldNode], source: str, columns: Columns) -> Obj:
        type_ = self.schema.type_map[type_name]
        assert isinstance(type_, GraphQLObjectType)
        fields = self.selections.collect(sub_sets(nodes), type_)
        values: list[tuple[str, Expr]] = []
        for key, field_nodes in fields.items():
            name = field_nodes[0].name.value
            if name == "__typename":
                values.append((key, Const(type_name)))
                continue
            compile_field = FIELDS.get(type_name, {}).get(name)
            if compile_field is None:
                raise Unsupported(f"{type_name}.{name}")
            values.append((key, compile_field(self, field_nodes, source, columns)))
        return Obj(tuple(values))

    # leaves

    def column(self, source: str, name: str, kind: str) -> Expr:
        """A column serialised as the scalar `kind`; strings are stored as str, which the String
        serialiser returns as it is."""
        serialize = None if kind == "string" else getattr(self, kind)
        return Column(label(source, name), serialize)

    def enum(self, source: str, name: str, enum: Any) -> Expr:
        serialize = self.enums[enum]
        return Lookup(label(source, name), {e.value: serialize(e) for e in enum})

    def global_id(self, kind: str, source: str, columns: Columns) -> Expr:
        # Ids are str, which the ID serialiser returns as they are.
        return Column(columns.need(source, "id"), functools.partial(encode_id, kind))

    def money(
        self, columns: Columns, source: str, amount: str, currency: str, nodes: list[FieldNode]
    ) -> Expr:
        amount_label = columns.need(source, amount)
        currency_label = columns.need(source, currency)
        fields = self.selections.collect(sub_sets(nodes), self.schema.type_map["Money"])  # type: ignore[arg-type]
        values: list[tuple[str, Callable[[Any, Any], Any]]] = []
        currency_code = self.currency
        for key, field_nodes in fields.items():
            name = field_nodes[0].name.value
            if name == "__typename":
                values.append((key, lambda _a, _c: "Money"))
            elif name == "amount":
                # format(canonical(a, c), "f"): the Decimal scalar's text of the amount
                values.append((key, canonical_text))
            elif name == "currency":
                values.append((key, lambda _a, c: currency_code(c)))
            else:
                raise Unsupported(f"Money.{name}")
        return Money(amount_label, currency_label, tuple(values))

    def joined(self, type_name: str, source: str, nodes: list[FieldNode], columns: Columns) -> Expr:
        """A nullable many-to-one object: null when the viewer may not see it (the general
        path's loaders answer None for it)."""
        id_label = columns.need(source, "id")
        return NullUnless(id_label, self.object(type_name, nodes, source, columns))


FieldCompiler = Callable[[ObjectCompiler, list[FieldNode], str, Columns], Expr]


def _col(name: str, kind: str) -> FieldCompiler:
    def compile_(oc: ObjectCompiler, _n: list[FieldNode], source: str, columns: Columns) -> Expr:
        columns.need(source, name)
        return oc.column(source, name, kind)

    return compile_


def _enum(name: str, enum: Any) -> FieldCompiler:
    def compile_(oc: ObjectCompiler, _n: list[FieldNode], source: str, columns: Columns) -> Expr:
        columns.need(source, name)
        return oc.enum(source, name, enum)

    return compile_


def _id(kind: str) -> FieldCompiler:
    return lambda oc, _n, source, columns: oc.global_id(kind, source, columns)


def _money(amount: str, currency: str) -> FieldCompiler:
    return lambda oc, nodes, source, columns: oc.money(columns, source, amount, currency, nodes)


def _joined(type_name: str, target: str) -> FieldCompiler:
    def compile_(oc: ObjectCompiler, nodes: list[FieldNode], source: str, columns: Columns) -> Expr:
        if target == "ad":
            columns.need(source, "advertiser_id")  # the join key of the advertiser
        return oc.joined(type_name, target, nodes, columns)

    return compile_


def _exchange_rate(oc: ObjectCompiler, _n: list[FieldNode], source: str, columns: Columns) -> Expr:
    decimal = oc.decimal
    return Column(columns.need(source, "exchange_rate"), lambda v: decimal(without_padding(v)))


def _sub_ids(oc: ObjectCompiler, _n: list[FieldNode], source: str, columns: Columns) -> Expr:
    labels = [columns.need(source, f"sub_id_{i}") for i in range(1, 7)]
    string = oc.string
    return Call(lambda m: [None if m[x] is None else string(m[x]) for x in labels])


def _payout_state(reserved: bool) -> FieldCompiler:
    """`paid` / `payoutReserved` as domain.Conversion.paid / .reserved define them."""

    def compile_(oc: ObjectCompiler, _n: list[FieldNode], source: str, columns: Columns) -> Expr:
        entry = columns.need(source, "payout_entry_id")
        flag = columns.need(source, "payout_reserved")
        boolean = oc.boolean
        return Call(lambda m: boolean(m[entry] is not None and bool(m[flag]) is reserved))

    return compile_


REQUESTED_COLUMNS = (
    "order_id",
    "target",
    "category",
    "tracking_time",
    "order_value",
    "currency",
    "requested_status",
    "requested_commission",
    "sub_ids",
    "device",
    "conversion_note",
)


def _requested(oc: ObjectCompiler, nodes: list[FieldNode], source: str, columns: Columns) -> Expr:
    """`ConversionRequest.requested`: the general path's own conversion (the store's
    `requested_values`, then `RequestedValues.from_domain`), serialised field by field."""
    from portal.adapters.request_store import requested_values
    from portal.schema.types.requests import RequestedValues

    for name in REQUESTED_COLUMNS:
        columns.need(source, name)
    type_ = oc.schema.type_map["RequestedValues"]
    assert isinstance(type_, GraphQLObjectType)
    string = oc.string
    serializers: dict[str, tuple[str, Callable[[Any], Any]]] = {
        "orderId": ("order_id", string),
        "conversionTarget": ("conversion_target", string),
        "trackingCategory": ("tracking_category", string),
        "trackingTime": ("tracking_time", oc.datetime),
        "orderValue": ("order_value", oc.decimal),
        "currency": ("currency", oc.currency),
        "status": ("status", lambda v: oc.enums[ConversionStatus](v)),
        "commission": ("commission", oc.decimal),
        "subIds": ("sub_ids", lambda v: [None if x is None else string(x) for x in v]),
        "device": ("device", string),
        "conversionNote": ("conversion_note", string),
    }
    getters: list[tuple[str, Callable[[Any], Any]]] = []
    for key, field_nodes in oc.selections.collect(sub_sets(nodes), type_).items():
        name = field_nodes[0].name.value
        if name == "__typename":
            getters.append((key, lambda _v: "RequestedValues"))
            continue
        if name not in serializers:
            raise Unsupported(f"RequestedValues.{name}")
        attribute, serialize = serializers[name]

        def get(v: Any, _a: str = attribute, _s: Callable[[Any], Any] = serialize) -> Any:
            value = getattr(v, _a)
            return None if value is None else _s(value)

        getters.append((key, get))

    def build(m: Row) -> dict[str, Any]:
        values = RequestedValues.from_domain(requested_values(m))
        return {key: get(values) for key, get in getters}

    if source != "":  # the store's function reads the columns by their own names
        raise Unsupported("requested values of a joined row")
    return Call(build)


FIELDS: dict[str, dict[str, FieldCompiler]] = {
    "Conversion": {
        "id": _id("Conversion"),
        "orderId": _col("order_id", "string"),
        "conversionTarget": _col("target", "string"),
        "trackingCategory": _col("category", "string"),
        "trackingTime": _col("tracking_time", "datetime"),
        "orderValue": _money("order_value", "currency"),
        "originalOrderValue": _money("original_order_value", "original_currency"),
        "exchangeRate": _exchange_rate,
        "commission": _money("commission", "currency"),
        "commissionModelName": _col("commission_model_name", "string"),
        "commissionOverridden": _col("commission_overridden", "boolean"),
        "status": _enum("status", ConversionStatus),
        "conversionNote": _col("conversion_note", "string"),
        "subIds": _sub_ids,
        "device": _col("device", "string"),
        "paid": _payout_state(False),
        "payoutReserved": _payout_state(True),
        "createdAt": _col("created_at", "datetime"),
        "updatedAt": _col("updated_at", "datetime"),
        "partner": _joined("Partner", "pa"),
        "program": _joined("Program", "pr"),
    },
    "ConversionRequest": {
        "id": _id("ConversionRequest"),
        "kind": _enum("kind", RequestKind),
        "status": _enum("status", RequestStatus),
        "requested": _requested,
        "comment": _col("comment", "string"),
        "commission": _money("commission", "commission_currency"),
        "commissionModelName": _col("commission_model_name", "string"),
        "failure": _col("failure", "string"),
        "createdAt": _col("created_at", "datetime"),
        "updatedAt": _col("updated_at", "datetime"),
        "processedAt": _col("processed_at", "datetime"),
        "program": _joined("Program", "pr"),
        "partner": _joined("Partner", "pa"),
        "createdBy": _joined("Actor", "cb"),
    },
    "Actor": {
        "id": _id("User"),
        "name": _col("name", "string"),
        "role": _enum("role", Role),
    },
    "Partner": {
        "id": _id("Partner"),
        "name": _col("name", "string"),
        "payoutCurrency": _col("payout_currency", "currency"),
        "country": _col("country", "string"),
        "createdAt": _col("created_at", "datetime"),
    },
    "Program": {
        "id": _id("Program"),
        "name": _col("name", "string"),
        "currency": _col("currency", "currency"),
        "cookieLifetimeDays": _col("cookie_lifetime_days", "int"),
        "consentMode": _enum("consent_mode", ConsentMode),
        "followUpPolicy": _enum("follow_up_policy", FollowUpPolicy),
        "followUpWindowDays": _col("follow_up_window_days", "int"),
        "allowSelfAcceptance": _col("allow_self_acceptance", "boolean"),
        "publiclyListed": _col("publicly_listed", "boolean"),
        "strictTrackingCategories": _col("strict_tracking_categories", "boolean"),
        "createdAt": _col("created_at", "datetime"),
        "advertiser": _joined("Advertiser", "ad"),
    },
    "Advertiser": {
        "id": _id("Advertiser"),
        "name": _col("name", "string"),
        "createdAt": _col("created_at", "datetime"),
    },
}
"""The fields the compiler supports, per type; any other field sends the operation to the
general path."""


# -- root fields ------------------------------------------------------------------------------


@dataclass
class RootContext:
    schema: Any  # the strawberry schema
    variables: Any  # graphql-core's coerced VariableValues
    viewer: Any
    engine: Any


class RootPlan:
    key: str

    def prepare(self, rc: RootContext) -> Any:
        """Checks the arguments (raising Fallback) before any SQL runs."""
        raise NotImplementedError

    async def run(self, conn: AsyncConnection, prepared: Any) -> Any:
        raise NotImplementedError


class Typename(RootPlan):
    def __init__(self, key: str) -> None:
        self.key = key

    def prepare(self, rc: RootContext) -> Any:
        return None

    async def run(self, conn: AsyncConnection, prepared: Any) -> Any:
        return "Query"


def _arguments(rc: RootContext, field_name: str, node: FieldNode) -> dict[str, Any]:
    """The field's arguments as its strawberry resolver receives them."""
    graphql_field = rc.schema._schema.query_type.fields[field_name]
    values = get_argument_values(graphql_field, node, rc.variables)
    strawberry_field = rc.schema.get_field_for_type(field_name=field_name, type_name="Query")
    return convert_arguments(
        values,
        strawberry_field.arguments,
        scalar_registry=rc.schema.schema_converter.scalar_registry,
        config=rc.schema.config,
    )


def _conversions_scope(rc: RootContext, arguments: dict[str, Any]) -> Any:
    from portal.schema.queries import conversions_request

    filter_, sort, direction, page = conversions_request(**arguments)
    where, key = Reader(rc.engine, rc.viewer).conversions_scope(filter_, sort, direction)
    return where, key, where, page


def _requests_scope(rc: RootContext, arguments: dict[str, Any]) -> Any:
    from portal.adapters.request_reader import RequestReader
    from portal.schema.request_queries import conversion_requests_request

    filter_, sort, direction, page = conversion_requests_request(**arguments)
    where, key, listed = RequestReader(rc.engine, rc.viewer).requests_scope(
        filter_, sort, direction
    )
    return where, key, listed, page


@dataclass(frozen=True)
class ListSpec:
    """A root connection: its node type and table, and how its arguments become the
    conditions (counted, listed), the ordering and the page, through the functions the
    resolver uses."""

    node_type: str
    table: Any
    scope: Callable[[RootContext, dict[str, Any]], Any]


LISTS = {
    "conversions": ListSpec("Conversion", conversions, _conversions_scope),
    "conversionRequests": ListSpec("ConversionRequest", conversion_requests, _requests_scope),
}


class ConnectionPlan(RootPlan):
    """`conversions(…)` and `conversionRequests(…)` (first, after, last, before, filter,
    orderBy)."""

    def __init__(
        self, key: str, node: FieldNode, oc: ObjectCompiler, selections: Selections
    ) -> None:
        self.key = key
        self.node = node
        self.field_name = node.name.value
        self.spec = LISTS[self.field_name]
        self.columns = Columns()
        schema = oc.schema
        connection_type = get_named_type(schema.query_type.fields[self.field_name].type)  # type: ignore[union-attr]
        assert isinstance(connection_type, GraphQLObjectType)
        self.count = False
        self.edges = False  # edges pair rows with their cursors: every cursor is made
        parts: list[tuple[str, Callable[[Any, Any], Any]]] = []
        for key_, nodes in selections.collect(sub_sets([node]), connection_type).items():
            name = nodes[0].name.value
            if name == "__typename":
                parts.append((key_, lambda _p, _c, t=connection_type.name: t))
            elif name == "totalCount":
                self.count = True
                parts.append((key_, lambda _p, c: c))
            elif name == "nodes":
                build = rows_function(oc.object(self.spec.node_type, nodes, "", self.columns))
                parts.append((key_, lambda p, _c, b=build: b(p.items)))
            elif name == "edges":
                self.edges = True
                parts.append((key_, self._edges(nodes, oc, selections, connection_type)))
            elif name == "pageInfo":
                parts.append((key_, self._page_info(nodes, selections, connection_type)))
            else:
                raise Unsupported(f"{connection_type.name}.{name}")
        self.parts = parts

    def _edges(
        self,
        nodes: list[FieldNode],
        oc: ObjectCompiler,
        selections: Selections,
        connection_type: GraphQLObjectType,
    ) -> Callable[[Any, Any], Any]:
        edge_type = get_named_type(connection_type.fields["edges"].type)
        assert isinstance(edge_type, GraphQLObjectType)
        values: list[tuple[str, Expr]] = []
        for key, field_nodes in selections.collect(sub_sets(nodes), edge_type).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                values.append((key, Const(edge_type.name)))
            elif name == "cursor":
                values.append((key, Raw("c")))
            elif name == "node":
                values.append((key, oc.object(self.spec.node_type, field_nodes, "", self.columns)))
            else:
                raise Unsupported(f"{edge_type.name}.{name}")
        build = edges_function(Obj(tuple(values)))
        return lambda page, _count: build(page.items, page.cursors)

    @staticmethod
    def _page_info(
        nodes: list[FieldNode], selections: Selections, connection_type: GraphQLObjectType
    ) -> Callable[[Any, Any], Any]:
        info_type = get_named_type(connection_type.fields["pageInfo"].type)
        assert isinstance(info_type, GraphQLObjectType)
        values: dict[str, Callable[[Any], Any]] = {
            "__typename": lambda _p: info_type.name,
            "hasNextPage": lambda p: p.has_next_page,
            "hasPreviousPage": lambda p: p.has_previous_page,
            "startCursor": lambda p: p.cursors[0] if p.cursors else None,
            "endCursor": lambda p: p.cursors[-1] if p.cursors else None,
        }
        getters = []
        for key, field_nodes in selections.collect(sub_sets(nodes), info_type).items():
            name = field_nodes[0].name.value
            if name not in values:
                raise Unsupported(f"PageInfo.{name}")
            getters.append((key, values[name]))
        return lambda page, _c: {key: get(page) for key, get in getters}

    def prepare(self, rc: RootContext) -> Any:
        try:
            arguments = _arguments(rc, self.field_name, self.node)
            where, key, listed, page = self.spec.scope(rc, arguments)
            page = page.validated()
            cursor = page.before if page.backwards else page.after
            if cursor is not None:
                key.decode(cursor, "before" if page.backwards else "after")
        except Exception as error:
            raise Fallback(str(error)) from error
        table = self.spec.table
        stmt = page_statement(
            main_statement(table, self.columns, rc.viewer, listed, key),
            key,
            page,
            rc.engine.dialect.name,
        )
        counted = select(func.count()).select_from(table).where(where) if self.count else None
        dialect = rc.engine.dialect
        return (
            prepared_select(stmt, dialect),
            key,
            page,
            None if counted is None else prepared_select(counted, dialect),
        )

    async def run(self, conn: AsyncConnection, prepared: Any) -> Any:
        stmt, key, page, counted = prepared
        rows = await fetch_rows(conn, stmt)
        result = page_of(rows, key, page, _mapping, every_cursor=self.edges)
        count = None if counted is None else int(await fetch_value(conn, counted) or 0)
        return {key_: part(result, count) for key_, part in self.parts}


def _mapping(row: Any) -> Row:
    return row._mapping


class ConversionById(RootPlan):
    """`node(id:)` when the id is a Conversion's, and `conversion(id:)`."""

    def __init__(self, key: str, node: FieldNode, oc: ObjectCompiler, field_name: str) -> None:
        self.key = key
        self.node = node
        self.field_name = field_name
        self.columns = Columns()
        self.build = function(oc.object("Conversion", [node], "", self.columns))

    def prepare(self, rc: RootContext) -> Any:
        from portal.adapters.reader import NODE_KINDS

        try:
            raw = _arguments(rc, self.field_name, self.node)["id"]
            if self.field_name == "node":
                kind, pk = decode_id(raw)
                if kind != "Conversion" or kind not in NODE_KINDS:
                    raise Fallback("another kind of node")
            else:
                pk = decode_typed(raw, "Conversion")
        except Exception as error:
            raise Fallback(str(error)) from error
        where = (conversions.c.id == pk) & visible(conversions, rc.viewer)
        stmt = main_statement(conversions, self.columns, rc.viewer, where, None)
        return prepared_select(stmt, rc.engine.dialect)

    async def run(self, conn: AsyncConnection, prepared: Any) -> Any:
        rows = await fetch_rows(conn, prepared)
        return self.build(rows[0]._mapping) if rows else None


# -- operations -------------------------------------------------------------------------------


ADMITTED_TEXT_CHARS = 65_536
"""Longer documents are not admitted to the compiled lane (a dashboard's are a few KiB): its
memory stays within 512 × 64 KiB."""
PREPARED_SIZE = 1024
"""Prepared statements kept, over all plans (`Compiler.prepare`)."""
PREPARED_KEY_BYTES = 4096
"""Variables longer than this (as JSON) are not kept: at most ~4 MiB of keys in all."""


def declared_values(operation: OperationDefinitionNode, variables: dict[str, Any]) -> bytes | None:
    """The values of the operation's declared variables as a key (JSON, sorted): what a kept
    statement or cost depends on. None when they are not plain JSON or take more than
    `PREPARED_KEY_BYTES`: what a client sends cannot fill the memory."""
    declared = {
        name: variables[name]
        for d in operation.variable_definitions or ()
        if (name := d.variable.name.value) in variables
    }
    try:
        values = orjson.dumps(declared, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return None
    return values if len(values) <= PREPARED_KEY_BYTES else None


@dataclass
class Plan:
    operation: OperationDefinitionNode
    roots: list[RootPlan]

    def prepare(
        self, schema: Any, viewer: Any, engine: Any, variables: dict[str, Any]
    ) -> list[Any] | None:
        """The roots' statements for these variables, or None when a root needs the general
        path (which reports their errors)."""
        coerced = get_variable_values(
            schema._schema, self.operation.variable_definitions or (), variables
        )
        if isinstance(coerced, list):  # errors: the general path reports them
            return None
        rc = RootContext(schema, coerced, viewer, engine)
        try:
            return [root.prepare(rc) for root in self.roots]
        except Fallback:
            return None


def compile_operation(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> Plan:
    """The plan of the operation, or Unsupported."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        raise Unsupported("not a query")
    if operation.directives or any(v.directives for v in operation.variable_definitions or ()):
        raise Unsupported("directives")
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    selections = Selections(schema, fragments)
    oc = ObjectCompiler(schema, selections)
    query_type = schema.query_type
    assert query_type is not None
    roots: list[RootPlan] = []
    for key, nodes in selections.collect([operation.selection_set], query_type).items():
        name = nodes[0].name.value
        if len(nodes) > 1 and name != "__typename":
            raise Unsupported("a root field selected twice")
        node = nodes[0]
        if name == "__typename":
            roots.append(Typename(key))
        elif name in LISTS:
            roots.append(ConnectionPlan(key, node, oc, selections))
        elif name in ("node", "conversion"):
            roots.append(ConversionById(key, node, oc, name))
        else:
            raise Unsupported(f"Query.{name}")
    return Plan(operation, roots)


class Compiler:
    """Plans per (document, operation name), shared by all requests of a schema."""

    def __init__(self, size: int = PLAN_CACHE_SIZE, prepared: int = PREPARED_SIZE) -> None:
        self.size = size
        self._plans: OrderedDict[tuple[int, str | None], tuple[DocumentNode, Plan | None]] = (
            OrderedDict()
        )
        self.prepared_size = prepared
        self._admitted: OrderedDict[tuple[str, str | None], Admitted] = OrderedDict()
        self._costs: OrderedDict[tuple[Admitted, bytes], int] = OrderedDict()
        self._prepared: OrderedDict[tuple[int, Any, bytes], tuple[Plan, list[Any]]] = OrderedDict()
        """The statements of recent (plan, viewer, variables): a dashboard asks the same page
        again and again. They depend on nothing else (the visibility predicates are
        subqueries, read when the statement runs), and SQLAlchemy keeps a statement's cache
        key on the statement, so a kept one is not keyed again either."""

    def prepare(
        self, plan: Plan, schema: Any, viewer: Any, engine: Any, variables: dict[str, Any]
    ) -> list[Any] | None:
        """`plan.prepare`, kept per (plan, viewer, the values of its declared variables). A
        request whose values are not plain JSON or take more than `PREPARED_KEY_BYTES` is
        prepared every time: what a client sends cannot fill the memory."""
        values = declared_values(plan.operation, variables)
        if values is None:
            return plan.prepare(schema, viewer, engine, variables)
        key = (id(plan), viewer, values)
        found = self._prepared.get(key)
        if found is not None and found[0] is plan:
            self._prepared.move_to_end(key)
            return found[1]
        prepared = plan.prepare(schema, viewer, engine, variables)
        if prepared is not None:
            self._prepared[key] = (plan, prepared)
            if len(self._prepared) > self.prepared_size:
                self._prepared.popitem(last=False)
        return prepared

    def plan(
        self, schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
    ) -> Plan | None:
        cache_key = (id(document), operation_name)
        cached = self._plans.get(cache_key)
        if cached is not None and cached[0] is document:
            self._plans.move_to_end(cache_key)
            return cached[1]
        try:
            plan: Plan | None = compile_operation(schema, document, operation_name)
        except Unsupported as reason:
            log.debug("general path: %s", reason)
            plan = None
        except Exception:  # a compiler bug must not fail the request: the executor answers
            log.exception("the compiler failed on an operation; the general path runs it")
            plan = None
        self._plans[cache_key] = (document, plan)
        if len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return plan

    async def execute(self, ctx: Any) -> dict[str, Any] | None:
        """The operation's data through the compiled path, or None for the general path."""
        context = ctx.context
        viewer = getattr(context, "viewer", None)
        document = ctx.graphql_document
        if viewer is None or document is None:
            return None
        plan = self.plan(ctx.schema._schema, document, ctx.operation_name)
        if plan is None:
            return None
        prepared = self.prepare(plan, ctx.schema, viewer, context.engine, ctx.variables or {})
        if prepared is None:
            return None
        data = await self.run(plan, prepared, context)
        if data is not None:
            # Keyed by the name the request gave (strawberry's `operation_name` is the
            # document's when it gave none).
            given = getattr(ctx, "_provided_operation_name", None)
            self.admit(ctx.query, given, Admitted(document, plan, ctx.operation_name))
        return data

    async def run(self, plan: Plan, prepared: list[Any], context: Any) -> dict[str, Any] | None:
        """The plan's data from its prepared statements, or None when reading failed (nothing
        was answered yet: the general path runs it and reports the failure, e.g.
        SERVICE_UNAVAILABLE, as it always does)."""
        data: dict[str, Any] = {}
        try:
            # On PostgreSQL a pool in autocommit without pings (`create_read_engine`): each
            # statement is one round trip.
            async with (context.read_engine or context.engine).connect() as conn:
                for root, args in zip(plan.roots, prepared, strict=True):
                    data[root.key] = await root.run(conn, args)
        except Exception:
            log.warning("compiled read failed; the general path answers", exc_info=True)
            return None
        return data

    def admit(self, query: str, operation_name: str | None, admitted: Admitted) -> None:
        """Remembers that this text and operation name passed every check of the document
        (parse, token limit, validation with the depth and alias limits, NUL characters in
        literals, one operation named) and were answered through `plan`: the next request
        with them may take the compiled lane (`admitted`)."""
        if len(query) > ADMITTED_TEXT_CHARS:
            return
        key = (query, operation_name)
        self._admitted[key] = admitted
        self._admitted.move_to_end(key)
        if len(self._admitted) > self.size:
            self._admitted.popitem(last=False)

    def known_cost(self, admitted: Admitted, values: bytes | None) -> int | None:
        """The query cost `keep_cost` kept for these `declared_values`, or None."""
        if values is None:
            return None
        found = self._costs.get((admitted, values))
        if found is not None:
            self._costs.move_to_end((admitted, values))
        return found

    def keep_cost(self, admitted: Admitted, values: bytes | None, cost: int) -> None:
        """Keeps a query cost the lane answered with (a function of the document and the
        declared variables' values), in one LRU over all operations like `_prepared`."""
        if values is None:
            return
        self._costs[(admitted, values)] = cost
        self._costs.move_to_end((admitted, values))
        if len(self._costs) > self.prepared_size:
            self._costs.popitem(last=False)

    def admitted(self, query: str, operation_name: str | None) -> Admitted | None:
        """The admitted operation (kept as the most recently used), or None."""
        key = (query, operation_name)
        found = self._admitted.get(key)
        if found is not None:
            self._admitted.move_to_end(key)
        return found


@dataclass(frozen=True, slots=True, eq=False)
class Admitted:
    """An operation the compiled lane may answer (`Compiler.admit`); each admission is its
    own (compared and hashed by identity: the kept costs are per admission)."""

    document: DocumentNode
    plan: Plan
    operation_name: str | None
    """The operation's name (the document's own when the request named none)."""


def mark_path(context: Any, path: str) -> None:
    """Names the path that answered in the request log and the response header."""
    set_execution_path(path)
    response = getattr(context, "response", None)
    if response is not None:
        response.headers[HEADER] = path


class CompiledReads(SchemaExtension):
    """Runs a supported operation through its compiled plan instead of the executor. Placed
    after the limits and the query cost limiter, so those answer exactly as before.

    It also admits what it answered to the compiled lane (portal.web.compiled_lane), which
    answers the same operation's next requests before strawberry's machinery starts."""

    def __init__(self, compiler: Compiler) -> None:
        self.compiler = compiler

    async def on_execute(self) -> AsyncIterator[None]:  # type: ignore[override]
        ctx = self.execution_context
        if ctx.result is None and ctx.graphql_document is not None:
            path = "general"
            settings = getattr(ctx.context, "settings", None)
            tried = getattr(ctx.context, "compiled_failed", False)  # by the lane, just now
            if settings is not None and settings.compiled_reads and not tried:
                data = await self.compiler.execute(ctx)
                if data is not None:
                    ctx.result = ExecutionResult(data=data, errors=None)
                    path = "compiled"
            mark_path(ctx.context, path)
        yield
