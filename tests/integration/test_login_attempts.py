"""The counters of failed sign-ins, in process and on a real Redis (PORTAL_TEST_REDIS_URL)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from portal.adapters.login_attempts import (
    Counter,
    LoginAttempts,
    MemoryLoginAttempts,
    RedisLoginAttempts,
)
from portal.domain.login_backoff import Backoff
from tests.conftest import REDIS_URL, unavailable

# 3 free failures, then 1, 2, 4 s (cap 4).
FAST = Backoff(free_failures=3, first_delay_seconds=1, max_delay_seconds=4, memory_seconds=60)
ACCOUNT = Counter("account:x", FAST, forget_on_success=True)
ADDRESS = Counter("address:1.2.3.4", FAST, forget_on_success=False)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def attempts(request: pytest.FixtureRequest) -> AsyncIterator[LoginAttempts]:
    if request.param == "memory":
        yield MemoryLoginAttempts()
        return
    if not REDIS_URL:
        unavailable("Redis (PORTAL_TEST_REDIS_URL)")
    assert REDIS_URL
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisConnectionError, OSError) as error:
        await client.aclose()
        unavailable(f"Redis at {REDIS_URL} ({error})")
    prefix = f"test:{uuid.uuid4().hex}:"
    yield RedisLoginAttempts(client, prefix)
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_free_failures_then_a_wait_that_refuses_without_counting(
    attempts: LoginAttempts,
) -> None:
    assert [await attempts.begin([ACCOUNT]) for _ in range(3)] == [0, 0, 0]
    # The third failure set a wait of 1 s: the fourth attempt is refused and not counted.
    assert await attempts.begin([ACCOUNT]) == 1
    assert await attempts.begin([ACCOUNT]) == 1
    await asyncio.sleep(1.05)
    assert await attempts.begin([ACCOUNT]) == 0  # the fourth failure: 2 s
    assert await attempts.begin([ACCOUNT]) == 2


async def test_concurrent_attempts_cannot_slip_past_the_limit(attempts: LoginAttempts) -> None:
    results = await asyncio.gather(*(attempts.begin([ACCOUNT, ADDRESS]) for _ in range(20)))
    assert sum(1 for wait in results if wait == 0) == 3


async def test_success_forgets_the_account_and_takes_back_its_count_of_the_address(
    attempts: LoginAttempts,
) -> None:
    assert await attempts.begin([ACCOUNT, ADDRESS]) == 0
    assert await attempts.begin([ACCOUNT, ADDRESS]) == 0
    assert await attempts.begin([ACCOUNT, ADDRESS]) == 0  # the right password, at last
    await attempts.succeeded([ACCOUNT, ADDRESS])
    # The account starts afresh; the address keeps its 2 real failures: one more is free.
    other = Counter("account:y", FAST, forget_on_success=True)
    assert await attempts.begin([other, ADDRESS]) == 0
    assert await attempts.begin([other, ADDRESS]) == 1
    assert [await attempts.begin([ACCOUNT]) for _ in range(3)] == [0, 0, 0]


async def test_a_wait_of_any_counter_refuses_the_attempt(attempts: LoginAttempts) -> None:
    for _ in range(3):
        await attempts.begin([ADDRESS])
    fresh = Counter("account:z", FAST, forget_on_success=True)
    assert await attempts.begin([fresh, ADDRESS]) == 1
    assert await attempts.begin([fresh]) == 0  # the refused attempt counted nowhere


async def test_the_wait_runs_from_the_end_of_a_slow_failed_attempt(
    attempts: LoginAttempts,
) -> None:
    """Checking a password takes time (more on a loaded server): a wait that ran from the start
    of the failed attempt would have passed before the next attempt came."""
    assert [await attempts.begin([ACCOUNT, ADDRESS]) for _ in range(3)] == [0, 0, 0]
    await asyncio.sleep(1.05)  # the third attempt's password check
    await attempts.failed([ACCOUNT, ADDRESS])
    assert await attempts.begin([ACCOUNT, ADDRESS]) == 1
