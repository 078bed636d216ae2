"""A long-running process freezes its start-up heap and collects the young generation less
often (the figures are in portal/heap.py and bench/README.md)."""

from __future__ import annotations

import gc

from portal.heap import THRESHOLDS, freeze_startup_heap


def test_freezing_the_start_up_heap_sets_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        freeze_startup_heap()
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
