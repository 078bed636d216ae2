"""Query cost (Shopify style): every object field costs 1, leaves 0, a connection multiplies
its children by its page size. Requests over the limit are refused before they run; the cost
is reported in `extensions.cost`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    VariableNode,
    Visitor,
    get_named_type,
    is_leaf_type,
    value_from_ast_untyped,
    visit,
)
from graphql.pyutils import AwaitableOrValue
from strawberry.extensions import AddValidationRules, SchemaExtension
from strawberry.types import ExecutionResult

from portal.adapters.pagination import DEFAULT_PAGE_SIZE
from portal.schema.errors import QueryTooComplex, RateLimited

MUTATION_COST = 10


class _CodedContext:
    """A validation context whose reported errors become QUERY_TOO_COMPLEX."""

    def __init__(self, context: ValidationContext) -> None:
        self._context = context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def report_error(self, error: GraphQLError) -> None:
        self._context.report_error(QueryTooComplex(error.message, error.nodes))


def spreads_unknown_fragments(document: DocumentNode) -> bool:
    """Whether the document spreads a fragment it does not define (graphql-core's
    KnownFragmentNamesRule reports it as a validation error)."""
    defined = {d.name.value for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    found = False

    class Spreads(Visitor):
        def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
            nonlocal found
            found = found or node.name.value not in defined

    visit(document, Spreads())
    return found


def _coded_rule(rule: type[ASTValidationRule]) -> type[ASTValidationRule]:
    class CodedRule(rule):  # type: ignore[valid-type,misc]
        def __init__(self, context: ValidationContext) -> None:
            if spreads_unknown_fragments(context.document):
                # strawberry's limiters look fragments up without a default and would raise;
                # the document is invalid anyway, and the standard rules say why.
                ASTValidationRule.__init__(self, context)
                return
            super().__init__(_CodedContext(context))

    CodedRule.__name__ = rule.__name__
    return CodedRule


def coded_limits(*limiters: AddValidationRules) -> list[type[ASTValidationRule]]:
    """The validation rules of strawberry's depth and alias limiters, reporting their errors
    with the QUERY_TOO_COMPLEX code so clients can tell "too big" from "wrong"."""
    return [_coded_rule(rule) for limiter in limiters for rule in limiter.validation_rules]


def execution_values(operation: OperationDefinitionNode, given: dict[str, Any]) -> dict[str, Any]:
    """The variable values execution will use: those given (null included), else the
    defaults the operation declares. Costing only the given ones let `$n: Int = 100` pass as
    the default page size."""
    values = dict(given)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
    return values


class QueryCost:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.given = variables
        self.variables: dict[str, Any] = {}

    def of_operation(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        self.variables = execution_values(operation, self.given)
        base = MUTATION_COST if operation.operation.value == "mutation" else 0
        return base + self._selection(operation.selection_set, root, set())

    def _fields(self, selection_set: SelectionSetNode, seen: set[str]) -> Iterator[FieldNode]:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                yield from self._fields(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    yield from self._fields(fragment.selection_set, seen | {name})

    def _selection(self, selection_set: SelectionSetNode, parent: Any, seen: set[str]) -> int:
        total = 0
        for field in self._fields(selection_set, seen):
            name = field.name.value
            if name.startswith("__") or not hasattr(parent, "fields") or name not in parent.fields:
                continue
            named = get_named_type(parent.fields[name].type)
            if is_leaf_type(named) or field.selection_set is None:
                continue
            # For interfaces and unions, take the costliest possibility via the interface's own
            # fields (inline fragments on concrete types are folded in above).
            child = self._selection(field.selection_set, named, seen)
            if isinstance(named, GraphQLObjectType) and named.name.endswith("Connection"):
                total += 2 + self._page_size(field) * max(child - 1, 1)
            else:
                total += 1 + child
        return total

    def _page_size(self, field: FieldNode) -> int:
        for argument in field.arguments or ():
            if argument.name.value in ("first", "last"):
                node = argument.value
                value = (
                    self.variables.get(node.name.value)
                    if isinstance(node, VariableNode)
                    else getattr(node, "value", None)
                )
                try:
                    return max(1, int(value)) if value is not None else DEFAULT_PAGE_SIZE
                except (TypeError, ValueError, OverflowError):
                    return DEFAULT_PAGE_SIZE
        return DEFAULT_PAGE_SIZE


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
) -> int:
    """The cost of the operation a request runs (the first one when it names none)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    chosen = [
        d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
        and (operation_name is None or (d.name and d.name.value == operation_name))
    ]
    calculator = QueryCost(schema, fragments, variables or {})
    return sum(calculator.of_operation(o) for o in chosen[:1])


def too_complex(cost: int, max_cost: int) -> QueryTooComplex | None:
    """The refusal of an operation over the limit, before anything is charged; None when
    within it."""
    if cost <= max_cost:
        return None
    return QueryTooComplex(
        f"the query costs {cost}, more than the limit of {max_cost}; ask for smaller pages",
        cost=cost,
        maximumCost=max_cost,
    )


@dataclass(frozen=True, slots=True)
class Charge:
    """What charging a request's cost to its viewer's bucket gave: the bucket's status for
    `extensions.cost.throttleStatus` (None without a bucket) and the refusal, if refused."""

    throttle: dict[str, int] | None
    refused: RateLimited | None


async def charge(context: Any, cost: int) -> Charge:
    """Takes the cost from the viewer's bucket (Shopify's leaky bucket), or refuses. An
    anonymous request is charged to its client address; every request takes at least one
    point, so none is free of the limit. A refusal sets Retry-After on the response."""
    viewer = getattr(context, "viewer", None)
    if viewer is not None:
        bucket, key = getattr(context, "cost_bucket", None), f"user:{viewer.user_id}"
    else:
        bucket = getattr(context, "address_bucket", None)
        key = f"address:{getattr(context, 'client_address', 'unknown')}"
    if bucket is None:
        return Charge(None, None)
    status = await bucket.take(key, max(cost, 1))
    throttle = {
        "maximumAvailable": status.maximum_available,
        "currentlyAvailable": status.currently_available,
        "restoreRate": status.restore_rate,
    }
    if status.allowed:
        return Charge(throttle, None)
    if context.response is not None:
        context.response.headers["Retry-After"] = str(status.retry_after_seconds)
    return Charge(
        throttle,
        RateLimited(
            f"the query costs {cost} points, {status.currently_available} are "
            f"available; retry in {status.retry_after_seconds} s",
            cost=cost,
            retryAfterSeconds=status.retry_after_seconds,
        ),
    )


def cost_extensions(cost: int, max_cost: int, throttle: dict[str, int] | None) -> dict[str, Any]:
    """The response's `extensions`: `{"cost": …}`."""
    reported: dict[str, Any] = {"requestedQueryCost": cost, "maximumAvailable": max_cost}
    if throttle is not None:
        reported["throttleStatus"] = throttle
    return {"cost": reported}


class QueryCostLimiter(SchemaExtension):
    def __init__(self, *, max_cost: int) -> None:
        self.max_cost = max_cost
        self.cost = 0
        self.throttle: dict[str, int] | None = None

    async def on_execute(self) -> AsyncIterator[None]:  # type: ignore[override]
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None and ctx.result is None:  # None: no extension refused it yet
            self.cost = operation_cost(
                ctx.schema._schema, document, ctx.operation_name, ctx.variables
            )
            refusal: GraphQLError | None = too_complex(self.cost, self.max_cost)
            if refusal is None:
                # Charged already when the compiled lane took the request and could not answer.
                charged = getattr(ctx.context, "charge", None) or await charge(
                    ctx.context, self.cost
                )
                self.throttle, refusal = charged.throttle, charged.refused
            if refusal is not None:
                ctx.result = ExecutionResult(data=None, errors=[refusal])
        yield

    def get_results(self) -> AwaitableOrValue[dict[str, Any]]:
        return cost_extensions(self.cost, self.max_cost, self.throttle)
