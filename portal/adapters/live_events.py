"""Live fan-out of committed events to the GraphQL subscriptions of this process: each event
is published after its transaction commits, as (type, object kind, object id); a subscription
re-reads its object through the visibility rules before it yields anything.

With Redis (PORTAL_REDIS_URL) events go through the deployment's pub/sub channel
(`RedisRelay`), so a change committed by an arq worker reaches the subscribers of every server
process; without it (the embedded mode) they go to this process's hub directly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("portal.live")


@dataclass(frozen=True, slots=True)
class LiveEvent:
    type: str
    object_kind: str
    object_id: int


class LiveHub:
    def __init__(self, buffer: int = 100) -> None:
        self._subscribers: set[asyncio.Queue[LiveEvent]] = set()
        self._buffer = buffer

    def publish(self, event: LiveEvent) -> None:
        for queue in list(self._subscribers):
            if queue.full():  # a subscriber that does not keep up loses the oldest
                queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.contextmanager
    def subscription(self) -> Iterator[asyncio.Queue[LiveEvent]]:
        """A queue receiving every event published while the block runs."""
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(self._buffer)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


HUB = LiveHub()


class RedisRelay:
    """Fan-out across processes: events are PUBLISHed on the deployment's channel, and each
    server process that `listen`s feeds them to its hub. A process that only publishes (an arq
    worker) never listens."""

    def __init__(self, redis: Any, channel: str) -> None:
        self.redis = redis
        self.channel = channel
        self._listener: asyncio.Task[None] | None = None

    @classmethod
    def connect(cls, redis_url: str, namespace: str) -> RedisRelay:
        from redis.asyncio import Redis

        return cls(Redis.from_url(redis_url), f"portal:{namespace}:events")

    async def publish(self, events: Sequence[LiveEvent]) -> None:
        for event in events:
            await self.redis.publish(
                self.channel, json.dumps([event.type, event.object_kind, event.object_id])
            )

    async def listen(self, hub: LiveHub) -> None:
        """Feeds `hub` from the channel until `close` (subscribed when this returns)."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.channel)

        async def relay() -> None:
            try:
                async for message in pubsub.listen():
                    try:
                        kind, object_kind, object_id = json.loads(message["data"])
                        hub.publish(LiveEvent(kind, object_kind, int(object_id)))
                    except (ValueError, TypeError, KeyError):
                        log.warning("ignored a malformed live event on %s", self.channel)
            finally:
                await pubsub.aclose()

        self._listener = asyncio.create_task(relay())

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        await self.redis.aclose()
