"""Garbage collection of a long-running process (`portal serve`, `portal worker`).

What start-up builds (modules, the GraphQL schema, table metadata, pools) lives as long as the
process. Frozen after start-up, it is left out of every later collection: an import job
allocates enough objects to trigger thousands of collections, and each full one would walk all
of that again — about 10 % of an import's time, measured (bench/README.md).

The youngest generation is also collected less often: after 50,000 net allocations instead of
CPython's 700. A `recordOrders` batch of 500 orders with baskets allocates hundreds of
thousands of objects, nearly all freed by reference counting; the default collected every few
hundred of them and walked the long-lived ones (compiled cart mappings, caches) again and
again. Measured with `bench/cart_mapping.py` (PostgreSQL, 10 positions per order): the service
+32 % (675 → 892 orders/s) without a mapping and +36 % (522 → 709) with 2,000 rules; over HTTP
+8–16 %."""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)
"""gc.set_threshold's (generation 0, 1, 2) for a long-running process."""


def freeze_startup_heap() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
