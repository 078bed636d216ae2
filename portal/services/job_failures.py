"""How background work fails: a transient failure of the database (a cut connection, a
restart, a lost race) is tried again with backoff; only a permanent one fails the job, with a
code and a message for people. Internals — SQL, parameters, tracebacks — go to the log only,
under an error id that the message names (as masked GraphQL errors do)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from portal.adapters.faults import is_transient
from portal.domain.errors import DomainError, ValidationFailed

log = logging.getLogger("portal.jobs")
T = TypeVar("T")

# Waits between tries of work that failed transiently: about two minutes in all, longer than
# a restart or failover of the database usually takes.
RETRY_DELAYS: tuple[float, ...] = (1, 2, 4, 8, 15, 30, 30, 30)


class GaveUp(Exception):
    """Transient failures went on past the last retry."""


async def retrying(
    what: str, operation: Callable[[int], Awaitable[T]], delays: tuple[float, ...] | None = None
) -> T:
    """`operation(try_number)` (1, 2, …), tried again after each transient failure; a permanent
    failure is raised at once, and GaveUp (caused by the last failure) after the last retry."""
    waits = RETRY_DELAYS if delays is None else delays
    for number, wait in enumerate((*waits, None), start=1):
        try:
            return await operation(number)
        except Exception as error:
            if not is_transient(error):
                raise
            if wait is None:
                raise GaveUp(f"{what}: still failing after {number} tries") from error
            log.warning("%s: transient failure (%s); try %s in %s s", what, error, number + 1, wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")


def failure_message(error: BaseException, what: str) -> str:
    """`CODE: message` for the people who started the work; anything not expected is logged
    with an error id, and only the id is shown."""
    if isinstance(error, ValidationFailed):
        return "; ".join(f"{e.code}: {e.message}" for e in error.errors)
    if isinstance(error, DomainError):
        return f"{error.code}: {error.message}"
    error_id = uuid.uuid4().hex[:12]
    if isinstance(error, GaveUp):
        log.error("%s: gave up (error id %s)", what, error_id, exc_info=error.__cause__)
        return (
            "SERVICE_UNAVAILABLE: the database could not be used for minutes; start it again "
            f"later (error id {error_id})"
        )
    log.error("%s failed (error id %s)", what, error_id, exc_info=error)
    return f"INTERNAL: an unexpected error stopped it (error id {error_id}, in the server log)"
