"""What is known about the unit of work being served: one HTTP request or one job run.

A `Scope` lives in a context variable, so everything that runs for it (resolvers, SQL events,
log records) finds it without being handed it. Jobs started by a request run in a fresh
context (portal.jobs.queue), so their statements never count towards the request."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Scope:
    """Fields of the one log line that ends a request or a job."""

    kind: str  # "request" | "job"
    id: str
    fields: dict[str, Any] = field(default_factory=dict)
    sql_statements: int = 0
    error_codes: list[str] = field(default_factory=list)
    error_ids: list[str] = field(default_factory=list)
    graphql_observed: bool = False

    def set(self, **values: Any) -> None:
        self.fields.update(values)


current_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "portal_scope", default=None
)


def scope() -> Scope | None:
    return current_scope.get()
