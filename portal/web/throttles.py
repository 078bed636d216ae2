"""The request throttles of one app: query-cost budgets of users and of anonymous client
addresses, and the counters of failed sign-ins. In Redis when configured (shared by every
instance; keys namespaced per deployment, as the job queue's ids are), in-process otherwise."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from portal.adapters.login_attempts import LoginAttempts, MemoryLoginAttempts, RedisLoginAttempts
from portal.adapters.throttle import CostBucket, MemoryCostBucket, RedisCostBucket
from portal.config import Settings
from portal.jobs.queue import namespace_of


def redis_prefix(settings: Settings, what: str) -> str:
    """`portal:<deployment>:<what>:` — two deployments sharing a Redis never share a key."""
    return f"portal:{namespace_of(settings.database_url)}:{what}:"


@dataclass(frozen=True)
class Throttles:
    users: CostBucket
    addresses: CostBucket
    login_attempts: LoginAttempts
    redis: Redis | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> Throttles:
        users = (settings.rate_limit_capacity, settings.rate_limit_restore_rate)
        addresses = (
            settings.anonymous_rate_limit_capacity,
            settings.anonymous_rate_limit_restore_rate,
        )
        if not settings.redis_url:
            return cls(
                MemoryCostBucket(*users), MemoryCostBucket(*addresses), MemoryLoginAttempts()
            )
        redis = Redis.from_url(settings.redis_url)
        return cls(
            RedisCostBucket(redis, *users, prefix=redis_prefix(settings, "cost")),
            RedisCostBucket(redis, *addresses, prefix=redis_prefix(settings, "cost")),
            RedisLoginAttempts(redis, redis_prefix(settings, "login")),
            redis,
        )

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
            return
        for closing in (self.users, self.addresses, self.login_attempts):
            await closing.close()
