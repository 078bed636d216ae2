"""The cost bucket, in process and on a real Redis (PORTAL_TEST_REDIS_URL)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from portal.adapters.throttle import CostBucket, MemoryCostBucket, RedisCostBucket
from tests.conftest import REDIS_URL, unavailable


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def bucket(request: pytest.FixtureRequest) -> AsyncIterator[CostBucket]:
    if request.param == "memory":
        yield MemoryCostBucket(capacity=100, restore_rate=10)
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
    redis_bucket = RedisCostBucket(
        client, capacity=100, restore_rate=10, prefix=f"test:{uuid.uuid4().hex}:"
    )
    yield redis_bucket
    await redis_bucket.close()


async def test_takes_until_empty_then_refuses_with_retry_after(bucket: CostBucket) -> None:
    first = await bucket.take("viewer-1", 60)
    assert first.allowed and first.currently_available == 40
    refused = await bucket.take("viewer-1", 60)
    assert not refused.allowed
    assert refused.currently_available == 40  # a refused request takes nothing
    assert refused.retry_after_seconds == 2  # 20 points missing at 10 points/s


async def test_buckets_are_per_viewer(bucket: CostBucket) -> None:
    assert (await bucket.take("viewer-1", 100)).allowed
    assert not (await bucket.take("viewer-1", 1)).allowed
    assert (await bucket.take("viewer-2", 100)).allowed


async def test_bucket_refills_over_time(bucket: CostBucket) -> None:
    assert (await bucket.take("viewer-1", 100)).allowed
    await asyncio.sleep(0.25)
    status = await bucket.take("viewer-1", 2)
    assert status.allowed


async def test_concurrent_takes_never_overspend(bucket: CostBucket) -> None:
    results = await asyncio.gather(*(bucket.take("viewer-1", 10) for _ in range(25)))
    assert sum(r.allowed for r in results) in (10, 11)  # 100 points, maybe one refilled
