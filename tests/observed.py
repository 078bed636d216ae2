"""Helpers of the observability tests: every log line a block writes, as portal formats it,
and Prometheus samples read from `/metrics`."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from portal.observability.logs import configure_logging


@dataclass
class Captured:
    stream: io.StringIO
    records: list[logging.LogRecord] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]

    def requests(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["logger"] == "portal.request"]


class _Keep(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.kept = records

    def emit(self, record: logging.LogRecord) -> None:
        self.kept.append(record)


@contextmanager
def captured_logs(level: str = "DEBUG", secrets: tuple[str, ...] = ()) -> Iterator[Captured]:
    """Portal's JSON logging at `level` into a buffer (and the raw records), for the block."""
    root = logging.getLogger()
    old_level = root.level
    captured = Captured(io.StringIO())
    handler = configure_logging(format="json", level=level, stream=captured.stream, secrets=secrets)
    keep = _Keep(captured.records)
    root.addHandler(keep)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.removeHandler(keep)
        root.setLevel(old_level)


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) → value."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)
