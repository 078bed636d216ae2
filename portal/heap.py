"""Garbage collection of a long-running process (`portal serve`, `portal worker`).

What start-up builds (modules, the GraphQL schema, table metadata, pools) lives as long as the
process. Frozen after start-up, it is left out of every later collection: an import job
allocates enough objects to trigger thousands of collections, and each full one would walk all
of that again — about 10 % of an import's time, measured (bench/README.md)."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    gc.collect()
    gc.freeze()
