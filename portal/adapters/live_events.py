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


class LiveUpdatesLost(Exception):
    """A subscriber fell so far behind that its buffer overflowed: it missed updates."""


class LiveFeed:
    """What one subscription receives: the events of each commit, as one batch. A feed that
    overflows is marked lost, never silently thinned: its subscription must end and the
    client read again."""

    def __init__(self, buffer: int) -> None:
        self._batches: asyncio.Queue[tuple[LiveEvent, ...]] = asyncio.Queue(buffer)
        self.lost = False

    def offer(self, batch: tuple[LiveEvent, ...]) -> None:
        if self._batches.full():
            self.lost = True
            return
        self._batches.put_nowait(batch)

    async def next_batch(self) -> list[LiveEvent]:
        """The events of the next commit, with those of the commits already waiting behind it
        (one read for all of them, not one per event). Raises LiveUpdatesLost after an
        overflow."""
        if self.lost:
            raise LiveUpdatesLost
        batch = list(await self._batches.get())
        while not self._batches.empty():
            batch.extend(self._batches.get_nowait())
        return batch


class LiveHub:
    def __init__(self, buffer: int = 100) -> None:
        self._feeds: set[LiveFeed] = set()
        self._buffer = buffer  # commits a subscriber may fall behind before its feed is lost

    def publish(self, events: Sequence[LiveEvent]) -> None:
        """The events of one commit, to every feed as one batch."""
        if not events:
            return
        batch = tuple(events)
        for feed in list(self._feeds):
            feed.offer(batch)

    @contextlib.contextmanager
    def subscription(self) -> Iterator[LiveFeed]:
        """A feed receiving every commit's events published while the block runs."""
        feed = LiveFeed(self._buffer)
        self._feeds.add(feed)
        try:
            yield feed
        finally:
            self._feeds.discard(feed)

    @property
    def subscriber_count(self) -> int:
        return len(self._feeds)


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
        """One message per commit: `[[type, object kind, object id], …]`."""
        if events:
            await self.redis.publish(
                self.channel, json.dumps([[e.type, e.object_kind, e.object_id] for e in events])
            )

    async def listen(self, hub: LiveHub) -> None:
        """Feeds `hub` from the channel until `close` (subscribed when this returns)."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.channel)

        async def relay() -> None:
            try:
                async for message in pubsub.listen():
                    try:
                        hub.publish(
                            [
                                LiveEvent(str(kind), str(object_kind), int(object_id))
                                for kind, object_kind, object_id in json.loads(message["data"])
                            ]
                        )
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
