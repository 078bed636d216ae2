"""Jobs as operators see them: a line when a run starts, milestones while it works, a line
when it ends (outcome, duration, SQL statements; the job's own counts are logged by its
service), a span, and the duration metric by kind and outcome."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from portal.observability import tracing
from portal.observability.metrics import IMPORT_ROWS, JOB_SECONDS
from portal.observability.scope import Scope, current_scope

log = logging.getLogger("portal.jobs")
T = TypeVar("T")
# An import logs its progress each time it passes a multiple of this many rows.
IMPORT_MILESTONE_ROWS = 10_000


def observed_job(name: str, job: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """`job(ctx, *ids)` run in a scope of its own (log lines carry `job_id`)."""

    @functools.wraps(job)
    async def run(ctx: Any, *args: Any) -> T:
        record = Scope("job", str(args[0]) if args else name, {"job": name})
        token = current_scope.set(record)
        started = time.perf_counter()
        outcome = "error"
        log.info("job started", extra={"fields": {"job": name}})
        try:
            with tracing.span(f"job {name}", "consumer", {"portal.job.args": str(args)}) as span:
                try:
                    result = await job(ctx, *args)
                except BaseException as error:
                    tracing.record_error(span, error)
                    raise
                outcome = _outcome(result)
                tracing.set_attributes(span, **{"portal.job.outcome": outcome})
                return result
        finally:
            duration = time.perf_counter() - started
            JOB_SECONDS.labels(name, outcome).observe(duration)
            log.info(
                "job finished",
                extra={
                    "fields": {
                        "job": name,
                        "outcome": outcome,
                        "duration_ms": round(duration * 1000, 1),
                        "sql_statements": record.sql_statements,
                    }
                },
            )
            current_scope.reset(token)

    return run


def _outcome(result: Any) -> str:
    """Jobs answer a word ("succeeded", "processed", "skipped: …"): its first one is the label."""
    if isinstance(result, str) and result:
        return result.split(":", 1)[0].strip().replace(" ", "_")[:32]
    return "done"


def observe_import_batch(rows: int, processed: int, *, applied: bool) -> None:
    """Counts a batch of an import's rows, and logs a milestone when one is passed."""
    IMPORT_ROWS.labels("applied" if applied else "checked").inc(rows)
    if processed // IMPORT_MILESTONE_ROWS > (processed - rows) // IMPORT_MILESTONE_ROWS:
        log.info("import progress", extra={"fields": {"rows_processed": processed}})
