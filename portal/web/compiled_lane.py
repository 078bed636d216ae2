"""The compiled lane: a request for an operation the compiled read path has answered before is
answered at the HTTP seam (`PortalGraphQL.hooks`), without strawberry's per-request machinery.

The first request of an operation runs through strawberry as any other: parse, the token limit,
validation with the depth and alias limits, NUL characters, the query cost and the rate limit,
then the compiled path (`portal.schema.compiled.CompiledReads`), which admits the operation's
text and name (`Compiler.admit`). Everything those checks decided from the document alone holds
for the same text again; what depends on the request is done here again, by the same functions:

- NUL characters in the variables (`nul_error`), the query cost (`operation_cost`, kept per
  operation and variables by `Compiler.keep_cost`; `too_complex`) and the statements
  (`Compiler.prepare`): when any of them would not let the compiled path answer, or fails, the
  lane steps aside before anything is charged, and strawberry answers (with the usual errors);
- the charge to the viewer's bucket (`charge`): a refusal is answered here as strawberry
  answers it (RATE_LIMITED, Retry-After); a bucket that fails (Redis down) leaves the request
  to strawberry, which reports it;
- the plan's statements (`Compiler.run`); if reading fails, strawberry answers, with the charge
  already taken (`Context.charge`) and without trying the compiled path again.

The body is built by `graphql_response`, with `extensions.cost` from `cost_extensions`: the
bytes are those of strawberry's answer (tests/integration/test_compiled_reads_differential.py
sends every operation twice). The lane reports `compiled` as the execution path, as the
extension does.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import Response
from strawberry.types import ExecutionResult

from portal.observability.graphql import observed_operation
from portal.schema.compiled import Admitted, declared_values, mark_path
from portal.schema.context import Context
from portal.schema.limits import charge, cost_extensions, operation_cost, too_complex
from portal.schema.nul_characters import nul_error
from portal.schema.root import PortalSchema
from portal.web.graphql import PreparedRequest
from portal.web.graphql_response import graphql_response

log = logging.getLogger("portal.compiled")


class CompiledLane:
    """A `RequestHook` of `PortalGraphQL`."""

    def __init__(self, schema: PortalSchema) -> None:
        self.schema = schema
        self.compiler = schema.compiler
        self.served = 0
        """Requests this lane answered (tests tell the lane from the extension by it)."""

    async def __call__(self, prepared: PreparedRequest) -> Response | None:
        context = prepared.context
        viewer = context.viewer
        if viewer is None or not context.settings.compiled_reads:
            return None
        operation_name = prepared.graphql.operation_name
        admitted = self.compiler.admitted(prepared.query, operation_name)
        if admitted is None:
            return None
        variables = prepared.graphql.variables or {}
        try:
            ready = self._ready(admitted, context, variables)
            if ready is None:
                return None
            cost, values, statements = ready
            charged = await charge(context, cost)
        except Exception:
            # Strawberry answers it, with its own error handling (a bucket that does not
            # answer is SERVICE_UNAVAILABLE with Retry-After and `extensions.cost`).
            log.debug("the compiled lane stepped aside", exc_info=True)
            return None
        max_cost = self.schema.max_query_cost
        with observed_operation(lambda: (admitted.operation_name, "query")):
            if charged.refused is not None:
                result = ExecutionResult(data=None, errors=[charged.refused])
            else:
                data = await self.compiler.run(admitted.plan, statements, context)
                if data is None:
                    context.charge, context.compiled_failed = charged, True
                    return None
                result = ExecutionResult(data=data, errors=None)
                mark_path(context, "compiled")
            result.extensions = cost_extensions(cost, max_cost, charged.throttle)
        self.compiler.keep_cost(admitted, values, cost)
        self.served += 1
        return graphql_response(result, prepared.media_type, context.response)

    def _ready(
        self, admitted: Admitted, context: Context, variables: dict[str, Any]
    ) -> tuple[int, bytes | None, list[Any]] | None:
        """The request's cost and statements, or None when strawberry must answer it (a NUL
        character in the variables, a cost over the limit, arguments the general path
        reports)."""
        if nul_error(variables, None) is not None:
            return None
        values = declared_values(admitted.plan.operation, variables)
        cost = self.compiler.known_cost(admitted, values)
        if cost is None:
            cost = operation_cost(
                self.schema._schema, admitted.document, admitted.operation_name, variables
            )
        if too_complex(cost, self.schema.max_query_cost) is not None:
            return None
        statements = self.compiler.prepare(
            admitted.plan, self.schema, context.viewer, context.engine, variables
        )
        return None if statements is None else (cost, values, statements)
