"""A WebSocket serves subscriptions only. Queries and mutations go over HTTP, where the
trusted-documents policy, the CSRF rule of cookie sessions and the HTTP status codes apply; over
the socket they would slip past all three."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult, GraphQLError
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType


class SubscriptionsOnlyOverSockets(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        on_socket = isinstance(getattr(ctx.context, "request", None), WebSocket)
        if on_socket and ctx.result is None and ctx.graphql_document is not None:
            try:
                kind = ctx.operation_type
            except RuntimeError:  # no such operation: validation reports it
                kind = OperationType.SUBSCRIPTION
            if kind is not OperationType.SUBSCRIPTION:
                ctx.result = ExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            f"{kind.value} operations are not served over the WebSocket: "
                            "send them over HTTP",
                            extensions={"code": "UNSUPPORTED_OPERATION"},
                        )
                    ],
                )
        yield
