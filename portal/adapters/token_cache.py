"""A short-lived in-process cache of authenticated API tokens, so a warm token costs no SQL
statement (`PORTAL_TOKEN_CACHE_SECONDS`, default 30; 0 turns it off).

- Keyed by the SHA-256 of the secret (the hash the database stores), never the secret.
- Holds only successes: an unknown, revoked or expired token goes to the database every time.
- An entry lives at most `seconds`, and never past the token's own `expires_at`.
- At most `max_entries` tokens (least recently used ones leave first).
- Bearer tokens only: session cookies are read from the database on every request.

Revocation (`forget_after_commit`, called by the service that revokes) drops the token from the
caches of this process as soon as the transaction commits, and publishes its id on the
deployment's Redis channel `portal:<namespace>:token-revocations` (`RedisTokenRevocations`),
which every server process listens to. So a revoked token stops working at once on the instance
that revoked it, within about a second on the others, and in any case — Redis down, a
subscription lost — within `PORTAL_TOKEN_CACHE_SECONDS`.

An entry also holds the token's user (role, organisation). Nothing changes those or disables a
user today; whatever comes to do so must drop that user's tokens from the caches the same way.

One cache per app (`create_app`): token ids and secrets belong to one database, and two apps
of one process (tests) never share entries."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from portal.adapters.credentials import Authenticated
    from portal.adapters.unit_of_work import UnitOfWork

log = logging.getLogger("portal.auth")

DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    found: Authenticated
    deadline: float  # on the cache's (monotonic) clock
    expires_at: datetime | None  # the token's own expiry, on the wall clock


class TokenCache:
    def __init__(
        self,
        seconds: float,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = max(0.0, float(seconds))
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._key_of_token: dict[int, str] = {}
        self._generation = 0
        self.publisher: RedisTokenRevocations | None = None
        """Set by the app's lifespan when PORTAL_REDIS_URL is set: revocations go to the others."""

    @property
    def enabled(self) -> bool:
        return self.seconds > 0 and self.max_entries > 0

    @property
    def generation(self) -> int:
        """Changes with every drop. Read it before the database lookup and hand it to `put`:
        a lookup that raced with a revocation is not cached (it may have read the row before
        the revocation committed)."""
        return self._generation

    def get(self, key: str, now: datetime) -> Authenticated | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry.deadline or (
            entry.expires_at is not None and now >= entry.expires_at
        ):
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return entry.found

    def put(self, key: str, found: Authenticated, now: datetime, generation: int) -> None:
        token = found.token
        if not self.enabled or token is None or generation != self._generation:
            return
        if token.revoked_at is not None:
            return
        lifetime = self.seconds
        if token.expires_at is not None:
            lifetime = min(lifetime, (token.expires_at - now).total_seconds())
            if lifetime <= 0:
                return
        self._remove(key)
        self._entries[key] = _Entry(found, self._clock() + lifetime, token.expires_at)
        self._key_of_token[token.id] = key
        while len(self._entries) > self.max_entries:
            self._remove(next(iter(self._entries)))

    def forget_token(self, token_id: int) -> None:
        self._generation += 1
        key = self._key_of_token.get(token_id)
        if key is not None:
            self._remove(key)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._key_of_token.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None and entry.found.token is not None:
            self._key_of_token.pop(entry.found.token.id, None)


# The caches of the apps on each engine, so the service that revokes a token (which has a unit
# of work, hence the engine) reaches them; weak, so an app that is gone is forgotten.
_CACHES: weakref.WeakKeyDictionary[Any, weakref.WeakSet[TokenCache]] = weakref.WeakKeyDictionary()


def register_token_cache(engine: AsyncEngine, cache: TokenCache) -> None:
    _CACHES.setdefault(engine.sync_engine, weakref.WeakSet()).add(cache)


def forget_after_commit(uow: UnitOfWork, token_id: int) -> None:
    """Once the transaction that revokes the token commits: drops it from the caches of this
    process, then tells the other processes through Redis."""
    caches = list(_CACHES.get(uow.engine.sync_engine, ()))

    async def forget() -> None:
        publishers = set()
        for cache in caches:
            cache.forget_token(token_id)
            if cache.publisher is not None:
                publishers.add(cache.publisher)
        for publisher in publishers:
            await publisher.publish(token_id)

    uow.after_commit(forget)


class RedisTokenRevocations:
    """The deployment's channel of revoked token ids. Each server process listens and drops
    them from its cache; after a lost connection it subscribes again and empties its cache,
    since revocations published meanwhile were missed."""

    RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)

    def __init__(self, redis: Any, channel: str) -> None:
        self.redis = redis
        self.channel = channel
        self._listener: asyncio.Task[None] | None = None

    @classmethod
    def connect(cls, redis_url: str, namespace: str) -> RedisTokenRevocations:
        from redis.asyncio import Redis

        return cls(Redis.from_url(redis_url), f"portal:{namespace}:token-revocations")

    async def publish(self, token_id: int) -> None:
        try:
            await self.redis.publish(self.channel, json.dumps({"token": token_id}))
        except Exception:  # committed: the others drop it when their entries expire
            log.warning(
                "token %s revoked, but not published to the other instances",
                token_id,
                exc_info=True,
            )

    async def listen(self, cache: TokenCache) -> None:
        """Drops the tokens published on the channel from `cache` until `close` (subscribed
        when this returns; fails if Redis does not answer, as the app's other Redis uses do)."""
        first = await self._subscribe()
        self._listener = asyncio.create_task(self._relay(cache, first))

    async def _relay(self, cache: TokenCache, pubsub: Any) -> None:
        failures = 0
        try:
            while True:
                try:
                    if pubsub is None:
                        pubsub = await self._subscribe()
                        cache.clear()  # what was revoked while this process was not listening
                        failures = 0
                        log.info("token revocations: subscribed again to %s", self.channel)
                    async for message in pubsub.listen():
                        _apply(cache, message, self.channel)
                    raise ConnectionError("the subscription ended")
                except Exception:
                    delay = self.RETRY_SECONDS[min(failures, len(self.RETRY_SECONDS) - 1)]
                    failures += 1
                    log.warning(
                        "token revocations: lost %s, retrying in %ss (meanwhile a token revoked "
                        "elsewhere works here until its cache entry ends)",
                        self.channel,
                        delay,
                        exc_info=True,
                    )
                    if pubsub is not None:
                        with contextlib.suppress(Exception):
                            await pubsub.aclose()
                        pubsub = None
                    await asyncio.sleep(delay)
        finally:  # cancelled by `close`
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _subscribe(self) -> Any:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            raise
        return pubsub

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        await self.redis.aclose()


def _apply(cache: TokenCache, message: dict[str, Any], channel: str) -> None:
    try:
        token_id = int(json.loads(message["data"])["token"])
    except (ValueError, TypeError, KeyError):
        log.warning("ignored a malformed token revocation on %s", channel)
        return
    cache.forget_token(token_id)
