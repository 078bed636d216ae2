"""The GraphQL part of a request's record: operation name and type, the execution path,
query cost and the codes of the errors the client got."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from graphql import OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from portal.observability import tracing
from portal.observability.requests import record_error_codes
from portal.observability.scope import current_scope


@contextmanager
def observed_operation(operation: Callable[[], tuple[str | None, str | None]]) -> Iterator[None]:
    """Wraps running an operation in a span; then names it (`operation()`: its name and type,
    known once it is parsed) in the request's log line and the span."""
    with tracing.span("graphql operation") as span:
        yield
        name, kind = operation()
        record = current_scope.get()
        if record is not None:
            record.set(operation=name, operation_type=kind)
        if span is not None:
            span.update_name(f"{kind or 'graphql'} {name or '(anonymous)'}")
            tracing.set_attributes(
                span, **{"graphql.operation.name": name, "graphql.operation.type": kind}
            )


class ObserveOperation(SchemaExtension):
    """Names the request's operation in its log line and wraps it in a span."""

    def on_operation(self) -> Iterator[None]:
        with observed_operation(self._operation):
            yield

    def _operation(self) -> tuple[str | None, str | None]:
        context = self.execution_context
        document = context.graphql_document
        name = context.operation_name
        if document is None:
            return name, None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        for operation in operations:
            if name is None or (operation.name is not None and operation.name.value == name):
                return name, operation.operation.value
        return name, None


def observe_response(body: Mapping[str, Any]) -> None:
    """Hook for the GraphQL view: the response as the client gets it (errors formatted)."""
    record = current_scope.get()
    if record is None:
        return
    record.graphql_observed = True
    record_error_codes(record, body.get("errors"))
    extensions = body.get("extensions")
    cost = extensions.get("cost") if isinstance(extensions, Mapping) else None
    if isinstance(cost, Mapping):
        record.set(query_cost=cost.get("requestedQueryCost"))


def set_execution_path(path: str) -> None:
    """Names the path that executed the operation (e.g. `compiled`, `strawberry`)."""
    record = current_scope.get()
    if record is not None:
        record.set(execution_path=path)
