"""Which failures of the database (and of Redis) are the service's, not the request's: the
server is down, restarting or failing over, its connections were cut, it has no connection to
spare. Such a failure is answered SERVICE_UNAVAILABLE (HTTP 503, Retry-After) and a job retries
it; any other failure is a fault of its own (INTERNAL, or a failed job)."""

from __future__ import annotations

import asyncio
import errno
import socket
import sqlite3

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# Seconds a client is asked to wait (Retry-After) while the database is unavailable.
RETRY_AFTER_SECONDS = 5

# SQLSTATEs of PostgreSQL meaning "no usable connection": connection exceptions, the server
# shutting down or starting up, too many connections or too few resources.
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53")
# … and those meaning "this transaction lost a race; the same work may succeed again".
_RACE_STATES = ("40001", "40P01")
# … and those of a connection that could not be opened: the database refuses connections (it is
# being restarted or taken down: ALLOW_CONNECTIONS false), does not exist (yet), or refuses us.
_CONNECT_STATES = ("08", "57P", "53", "55000", "3D000", "28")
_NETWORK_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ETIMEDOUT,
    errno.EPIPE,
}


def _sqlstate(error: DBAPIError) -> str:
    orig = error.orig
    return str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")


def _causes(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found and len(found) < 10:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def is_unavailable(error: BaseException) -> bool:
    """Whether the error (or what caused it) says the database or Redis cannot be reached."""
    for cause in _causes(error):
        if isinstance(cause, DBAPIError):
            state = _sqlstate(cause)
            if cause.connection_invalidated or state.startswith(_UNAVAILABLE_STATES):
                return True  # a cut connection
            if cause.statement is None and (not state or state.startswith(_CONNECT_STATES)):
                return True  # one that could not be opened
        if isinstance(
            cause,
            PoolTimeout
            | RedisConnectionError
            | RedisTimeoutError
            | ConnectionError
            | TimeoutError
            | asyncio.TimeoutError,
        ):
            return True
        if isinstance(cause, socket.gaierror) or (
            isinstance(cause, OSError)
            and (cause.errno in _NETWORK_ERRNOS or "Connect call failed" in str(cause))
        ):
            return True
    return False


def is_transient(error: BaseException) -> bool:
    """Whether the same work may succeed when tried again a little later: the database was
    unavailable, or the transaction lost a race (serialization failure, deadlock, SQLite's
    lock held too long)."""
    if is_unavailable(error):
        return True
    for cause in _causes(error):
        if isinstance(cause, DBAPIError):
            if _sqlstate(cause).startswith(_RACE_STATES):
                return True
            if isinstance(cause.orig, sqlite3.OperationalError) and "locked" in str(cause.orig):
                return True
    return False
