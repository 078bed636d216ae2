"""Rate limiting by query cost (Shopify's leaky bucket): each viewer has a bucket of points
that refills at a steady rate; a request takes its calculated cost or is refused.

Two implementations behind one interface: Redis (production: shared by every uvicorn worker
and instance, updated atomically by a Lua script) and in-process (embedded mode)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class ThrottleStatus:
    allowed: bool
    maximum_available: int
    currently_available: int
    restore_rate: int
    retry_after_seconds: int


class CostBucket(Protocol):
    async def take(self, key: str, cost: int) -> ThrottleStatus: ...

    async def close(self) -> None: ...


def _refill(available: float, last: float, now: float, capacity: int, rate: int) -> float:
    return min(float(capacity), available + max(0.0, now - last) * rate)


class MemoryCostBucket:
    def __init__(self, capacity: int, restore_rate: int) -> None:
        self.capacity = capacity
        self.restore_rate = restore_rate
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, key: str, cost: int) -> ThrottleStatus:
        now = time.monotonic()
        available, last = self._buckets.get(key, (float(self.capacity), now))
        available = _refill(available, last, now, self.capacity, self.restore_rate)
        allowed = cost <= available
        if allowed:
            available -= cost
        self._buckets[key] = (available, now)
        return _status(allowed, available, cost, self.capacity, self.restore_rate)

    async def close(self) -> None:
        self._buckets.clear()


# KEYS[1] bucket; ARGV: capacity, rate, cost, now (seconds, float). Returns {allowed, available}.
_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'available', 'ts')
local available = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
available = math.min(capacity, available + math.max(0, now - ts) * rate)
local allowed = 0
if cost <= available then
  available = available - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'available', tostring(available), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return {allowed, tostring(available)}
"""


class RedisCostBucket:
    def __init__(self, redis: Redis, capacity: int, restore_rate: int, prefix: str) -> None:
        self.redis = redis
        self.capacity = capacity
        self.restore_rate = restore_rate
        self.prefix = prefix
        self._script = redis.register_script(_LUA)

    async def take(self, key: str, cost: int) -> ThrottleStatus:
        # The server's clock, so every instance agrees on time.
        seconds, micros = await self.redis.time()
        now = seconds + micros / 1_000_000
        allowed, available = await self._script(
            keys=[self.prefix + key], args=[self.capacity, self.restore_rate, cost, now]
        )
        return _status(bool(allowed), float(available), cost, self.capacity, self.restore_rate)

    async def close(self) -> None:
        await self.redis.aclose()


def _status(allowed: bool, available: float, cost: int, capacity: int, rate: int) -> ThrottleStatus:
    missing = 0.0 if allowed else cost - available
    return ThrottleStatus(
        allowed=allowed,
        maximum_available=capacity,
        currently_available=int(available),
        restore_rate=rate,
        retry_after_seconds=math.ceil(missing / rate) if missing > 0 else 0,
    )
