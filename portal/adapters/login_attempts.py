"""Counters of failed sign-in attempts (the rule is `portal.domain.login_backoff`): in Redis
when configured, so every instance counts the same attempts, in-process otherwise.

An attempt is counted as failed when it starts, atomically with the check that no counter
makes it wait: concurrent attempts cannot slip past the limit between a check and a count.
A successful attempt then takes its count back."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from portal.domain.login_backoff import Backoff


@dataclass(frozen=True, slots=True)
class Counter:
    key: str
    backoff: Backoff
    forget_on_success: bool  # an account's failures end with its password; an address's stay


class LoginAttempts(Protocol):
    async def begin(self, counters: Sequence[Counter]) -> int:
        """0 when the attempt may go on (it is counted as failed, for now), else the seconds
        to wait (nothing is counted)."""
        ...

    async def succeeded(self, counters: Sequence[Counter]) -> None:
        """The attempt that `begin` counted was right: take its count back."""
        ...

    async def failed(self, counters: Sequence[Counter]) -> None:
        """The attempt that `begin` counted was wrong: its wait runs from now, the end of the
        attempt (checking a password takes a while; the wait must not pass meanwhile)."""
        ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _State:
    failures: int
    wait_until: float
    forget_at: float


class MemoryLoginAttempts:
    """One process's counters (the embedded mode); old ones are dropped as new ones come."""

    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._states: dict[str, _State] = {}

    def _state(self, key: str, now: float) -> _State | None:
        state = self._states.get(key)
        if state is not None and state.forget_at <= now:
            del self._states[key]
            return None
        return state

    async def begin(self, counters: Sequence[Counter]) -> int:
        now = time.monotonic()
        waits = [
            state.wait_until - now
            for c in counters
            if (state := self._state(c.key, now)) is not None and state.wait_until > now
        ]
        if waits:
            return math.ceil(max(waits))
        for c in counters:
            state = self._state(c.key, now) or _State(0, 0.0, 0.0)
            state.failures += 1
            delay = c.backoff.delay_after(state.failures)
            state.wait_until = now + delay
            state.forget_at = now + c.backoff.memory_seconds + delay
            self._states.pop(c.key, None)
            self._states[c.key] = state  # most recent last: the oldest are dropped first
        while len(self._states) > self.MAX_KEYS:
            del self._states[next(iter(self._states))]
        return 0

    async def succeeded(self, counters: Sequence[Counter]) -> None:
        for c in counters:
            state = self._states.get(c.key)
            if state is None:
                continue
            if c.forget_on_success:
                del self._states[c.key]
            else:
                # Not waiting before this attempt, so the only wait is the one it set.
                state.failures = max(0, state.failures - 1)
                state.wait_until = 0.0

    async def failed(self, counters: Sequence[Counter]) -> None:
        now = time.monotonic()
        for c in counters:
            state = self._states.get(c.key)
            if state is not None:
                delay = c.backoff.delay_after(state.failures)
                state.wait_until = now + delay
                state.forget_at = now + c.backoff.memory_seconds + delay

    async def close(self) -> None:
        self._states.clear()


# KEYS: the counters. ARGV[1]: now (s). Then per key: memory seconds, and its schedule as
# "d0,d1,…" (delay after n failures; the last one for every n beyond). Returns the seconds to
# wait, "0" when the attempt was counted and may go on.
_BEGIN = """
local now = tonumber(ARGV[1])
local wait = 0
for _, key in ipairs(KEYS) do
  local wait_until = tonumber(redis.call('HGET', key, 'until') or '0')
  if wait_until > now then wait = math.max(wait, wait_until - now) end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  local memory = tonumber(ARGV[2 * i])
  local schedule = {}
  for delay in string.gmatch(ARGV[2 * i + 1], '[^,]+') do
    table.insert(schedule, tonumber(delay))
  end
  local failures = redis.call('HINCRBY', key, 'failures', 1)
  local delay = schedule[math.min(failures + 1, #schedule)]
  redis.call('HSET', key, 'until', tostring(now + delay))
  redis.call('EXPIRE', key, math.ceil(memory + delay))
end
return '0'
"""
# KEYS: counters to forget, then counters to take one failure from. ARGV[1]: how many to forget.
_SUCCEEDED = """
local forget = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if i <= forget then
    redis.call('DEL', key)
  elseif redis.call('EXISTS', key) == 1 then
    if redis.call('HINCRBY', key, 'failures', -1) < 0 then
      redis.call('HSET', key, 'failures', 0)
    end
    redis.call('HSET', key, 'until', '0')
  end
end
return 0
"""
# As _BEGIN's arguments: each counter's wait restarts at now, for its count of failures.
_FAILED = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local failures = tonumber(redis.call('HGET', key, 'failures') or '0')
  if failures > 0 then
    local memory = tonumber(ARGV[2 * i])
    local schedule = {}
    for delay in string.gmatch(ARGV[2 * i + 1], '[^,]+') do
      table.insert(schedule, tonumber(delay))
    end
    local delay = schedule[math.min(failures + 1, #schedule)]
    redis.call('HSET', key, 'until', tostring(now + delay))
    redis.call('EXPIRE', key, math.ceil(memory + delay))
  end
end
return 0
"""


class RedisLoginAttempts:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._begin = redis.register_script(_BEGIN)
        self._succeeded = redis.register_script(_SUCCEEDED)
        self._failed = redis.register_script(_FAILED)

    async def begin(self, counters: Sequence[Counter]) -> int:
        # The server's clock, so every instance agrees on time.
        seconds, micros = await self.redis.time()
        args = self._args(seconds + micros / 1_000_000, counters)
        wait = await self._begin(keys=[self.prefix + c.key for c in counters], args=args)
        return math.ceil(float(wait))

    async def succeeded(self, counters: Sequence[Counter]) -> None:
        ordered = sorted(counters, key=lambda c: not c.forget_on_success)
        forget = sum(c.forget_on_success for c in counters)
        await self._succeeded(keys=[self.prefix + c.key for c in ordered], args=[forget])

    async def failed(self, counters: Sequence[Counter]) -> None:
        seconds, micros = await self.redis.time()
        await self._failed(
            keys=[self.prefix + c.key for c in counters],
            args=self._args(seconds + micros / 1_000_000, counters),
        )

    async def close(self) -> None:
        await self.redis.aclose()

    @staticmethod
    def _args(now: float, counters: Sequence[Counter]) -> list[str | float]:
        args: list[str | float] = [now]
        for c in counters:
            args += [c.backoff.memory_seconds, ",".join(map(str, c.backoff.schedule()))]
        return args
