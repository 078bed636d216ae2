"""Readiness: may this instance take traffic? The database answers and is at the code's
migration, and Redis answers when it is configured. Each check has a deadline, so a probe
never hangs on a dead server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.database import database_revisions, head_revisions
from portal.observability.logs import redact

CHECK_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def _failure(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {CHECK_SECONDS:g} s"
    return redact(f"{type(error).__name__}: {error}".splitlines()[0])[:200]


async def _database(engine: AsyncEngine) -> list[Check]:
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            current = await database_revisions(engine)
    except Exception as error:
        return [
            Check("database", False, _failure(error)),
            Check("migrations", False, "not checked: the database does not answer"),
        ]
    head = head_revisions()
    if current == head:
        migrations = Check("migrations", True, f"at {', '.join(sorted(head))}")
    else:
        at = ", ".join(sorted(current)) or "none"
        migrations = Check(
            "migrations",
            False,
            f"the database is at {at}, the code at {', '.join(sorted(head))}: run portal migrate",
        )
    return [Check("database", True, "ok"), migrations]


async def _redis(redis_url: str) -> Check:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url, socket_connect_timeout=CHECK_SECONDS)
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            await client.ping()
    except Exception as error:
        return Check("redis", False, _failure(error))
    finally:
        await client.aclose()
    return Check("redis", True, "ok")


async def check_readiness(engine: AsyncEngine, redis_url: str | None) -> list[Check]:
    if redis_url is None:
        return await _database(engine)
    database, redis = await asyncio.gather(_database(engine), _redis(redis_url))
    return [*database, redis]
