"""The cache of authenticated API tokens (portal.adapters.token_cache), on an injected clock:
entries end after their seconds or at the token's expiry, whichever comes first; the least
recently used leave first; a revocation drops one at once and keeps a lookup that raced with it
out; a lost subscription to the revocations empties the cache when it is back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from portal.adapters.credentials import Authenticated
from portal.adapters.token_cache import RedisTokenRevocations, TokenCache
from portal.domain.access import ApiToken, Role, User

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def found(
    token_id: int = 1, *, expires_at: datetime | None = None, revoked: bool = False
) -> Authenticated:
    user = User(10, "a@partner.test", "A", Role.PARTNER, None, 3, NOW)
    token = ApiToken(
        id=token_id,
        user_id=10,
        name="script",
        prefix="ptk_abcdef",
        created_at=NOW - timedelta(days=1),
        expires_at=expires_at,
        last_used_at=None,
        revoked_at=NOW if revoked else None,
    )
    return Authenticated(user=user, token=token)


def test_an_entry_is_trusted_for_its_seconds_then_read_again() -> None:
    clock = Clock()
    cache = TokenCache(30, clock=clock)
    entry = found()
    cache.put("hash-1", entry, NOW, cache.generation)
    assert cache.get("hash-1", NOW) is entry
    clock.advance(29.9)
    assert cache.get("hash-1", NOW + timedelta(seconds=29.9)) is entry
    clock.advance(0.1)
    assert cache.get("hash-1", NOW + timedelta(seconds=30)) is None
    assert len(cache) == 0


def test_an_entry_never_outlives_the_tokens_expiry() -> None:
    clock = Clock()
    cache = TokenCache(30, clock=clock)
    cache.put("hash-1", found(expires_at=NOW + timedelta(seconds=5)), NOW, cache.generation)
    clock.advance(4.9)
    assert cache.get("hash-1", NOW + timedelta(seconds=4.9)) is not None
    clock.advance(0.1)
    assert cache.get("hash-1", NOW + timedelta(seconds=5)) is None
    # The wall clock alone ends it too (the token's expiry is a wall-clock time).
    cache.put("hash-2", found(2, expires_at=NOW + timedelta(seconds=5)), NOW, cache.generation)
    assert cache.get("hash-2", NOW + timedelta(seconds=5)) is None


def test_a_token_that_expired_or_was_revoked_is_never_cached() -> None:
    cache = TokenCache(30, clock=Clock())
    cache.put("expired", found(1, expires_at=NOW), NOW, cache.generation)
    cache.put("revoked", found(2, revoked=True), NOW, cache.generation)
    cache.put("session", Authenticated(user=found().user, session_id=7), NOW, cache.generation)
    assert len(cache) == 0


def test_the_least_recently_used_leave_first() -> None:
    cache = TokenCache(30, max_entries=3, clock=Clock())
    for n in range(1, 4):
        cache.put(f"hash-{n}", found(n), NOW, cache.generation)
    assert cache.get("hash-1", NOW) is not None  # 1 is now the most recent
    cache.put("hash-4", found(4), NOW, cache.generation)
    assert len(cache) == 3
    assert cache.get("hash-2", NOW) is None
    assert all(cache.get(f"hash-{n}", NOW) is not None for n in (1, 3, 4))
    # A dropped token leaves no trace behind: forgetting it later is harmless.
    cache.forget_token(2)
    assert len(cache) == 3


def test_forget_drops_the_token_at_once() -> None:
    cache = TokenCache(30, clock=Clock())
    cache.put("hash-1", found(1), NOW, cache.generation)
    cache.put("hash-2", found(2), NOW, cache.generation)
    cache.forget_token(1)
    assert cache.get("hash-1", NOW) is None
    assert cache.get("hash-2", NOW) is not None


def test_a_lookup_that_raced_with_a_revocation_is_not_cached() -> None:
    """The request read the token before the revocation committed, and would put it back
    after the revocation dropped it."""
    cache = TokenCache(30, clock=Clock())
    seen = cache.generation  # read before the database lookup
    cache.forget_token(1)  # the revocation commits meanwhile
    cache.put("hash-1", found(1), NOW, seen)
    assert cache.get("hash-1", NOW) is None
    cache.put("hash-1", found(1), NOW, cache.generation)  # the next lookup may be cached
    assert cache.get("hash-1", NOW) is not None


def test_zero_seconds_caches_nothing() -> None:
    cache = TokenCache(0, clock=Clock())
    assert not cache.enabled
    cache.put("hash-1", found(), NOW, cache.generation)
    assert cache.get("hash-1", NOW) is None


# -- the revocations channel, on a stand-in for Redis -------------------------------------


class FakePubSub:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.closed = False

    async def subscribe(self, channel: str) -> None:
        if self.redis.down:
            raise ConnectionError("Redis is down")
        self.redis.subscriptions += 1

    async def listen(self) -> Any:
        while True:
            message = await self.redis.messages.get()
            if message is None:  # the connection is lost
                raise ConnectionError("connection lost")
            yield {"type": "message", "data": message}

    async def aclose(self) -> None:
        self.closed = True


class FakeRedis:
    def __init__(self) -> None:
        self.messages: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.subscriptions = 0
        self.down = False

    def pubsub(self, **_: Any) -> FakePubSub:
        return FakePubSub(self)

    async def publish(self, channel: str, data: str) -> None:
        await self.messages.put(data.encode())

    async def aclose(self) -> None:
        pass


async def _until(condition: Any, seconds: float = 2.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def test_published_revocations_drop_the_token_and_a_lost_subscription_empties_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(RedisTokenRevocations, "RETRY_SECONDS", (0.01,))
    redis = FakeRedis()
    cache = TokenCache(30, clock=Clock())
    cache.put("hash-1", found(1), NOW, cache.generation)
    cache.put("hash-2", found(2), NOW, cache.generation)
    revocations = RedisTokenRevocations(redis, "portal:test:token-revocations")
    await revocations.listen(cache)
    try:
        await revocations.publish(1)
        await _until(lambda: cache.get("hash-1", NOW) is None)
        assert cache.get("hash-2", NOW) is not None

        await redis.messages.put(b"not json")  # ignored
        redis.down = True
        await redis.messages.put(None)  # lost; revocations published now would be missed
        await asyncio.sleep(0.05)
        assert cache.get("hash-2", NOW) is not None  # still trusted until its entry ends
        redis.down = False
        await _until(lambda: redis.subscriptions == 2)
        await _until(lambda: len(cache) == 0)  # subscribed again: what it missed is unknown
    finally:
        await revocations.close()


async def test_a_revocation_not_published_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Down(FakeRedis):
        async def publish(self, channel: str, data: str) -> None:
            raise ConnectionError("Redis is down")

    await RedisTokenRevocations(Down(), "portal:test:token-revocations").publish(5)
    assert "token 5 revoked, but not published" in caplog.text
