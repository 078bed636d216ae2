"""What a job gets: the engine, the settings and the queue (to chain jobs) — never objects,
only ids in its arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from portal.config import Settings


@dataclass(frozen=True)
class JobContext:
    engine: AsyncEngine
    settings: Settings
    queue: Any
