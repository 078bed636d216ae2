"""Live fan-out of committed events to the GraphQL subscriptions of this process: each event
is published after its transaction commits, as (type, object kind, object id); a subscription
re-reads its object through the visibility rules before it yields anything.

In-process only: events committed by another process (an arq worker) reach subscribers of
that process, not this one (Redis pub/sub fan-out is not built yet)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass


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
