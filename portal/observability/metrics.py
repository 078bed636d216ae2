"""Prometheus metrics (`/metrics`, portal.web.metrics).

With several uvicorn workers (`portal serve --workers N`) every process writes its samples
to files in `PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess mode), and a scrape
of any worker reads all of them. `portal serve` sets the directory up itself; a `portal
worker` on the same host that is given the same directory adds its job metrics.

Labels stay bounded: operation names are the client's, so only well-formed names are kept,
and at most `MAX_OPERATION_NAMES` of them per process (the rest count as `other`)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the classic text format every Prometheus reads
MAX_OPERATION_NAMES = 200
_OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_JOB_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)

REQUESTS = Counter(
    "portal_http_requests",
    "HTTP requests by endpoint, GraphQL operation and outcome (ok, error, internal, disconnected).",
    ["endpoint", "operation", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "portal_http_request_duration_seconds",
    "Time from the request's arrival to its last response byte.",
    ["endpoint", "operation", "outcome"],
    buckets=_LATENCY_BUCKETS,
)
ERRORS = Counter(
    "portal_errors",
    "Top-level errors answered, by extensions.code (one per error).",
    ["code"],
)
RATE_LIMITED = Counter(
    "portal_rate_limit_rejections",
    "Requests refused with RATE_LIMITED: the viewer's query-cost bucket was empty.",
)
JOB_SECONDS = Histogram(
    "portal_job_duration_seconds",
    "Duration of job runs by kind and outcome.",
    ["kind", "outcome"],
    buckets=_JOB_BUCKETS,
)
IMPORT_ROWS = Counter(
    "portal_import_rows_processed",
    "Rows of request files processed by import jobs: `applied`, or `checked` only (dry runs "
    "and the checking pass of allOrNothing imports).",
    ["mode"],
)
DB_IN_USE = Gauge(
    "portal_db_pool_connections_in_use",
    "Database connections checked out of the pools of the live processes.",
    multiprocess_mode="livesum",
)
DB_CAPACITY = Gauge(
    "portal_db_pool_capacity",
    "Connections the pools of the live processes may open (pool size + overflow).",
    multiprocess_mode="livesum",
)

# `*_created` series double the output and no dashboard reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

_operation_names: set[str] = set()


def operation_label(name: str | None) -> str:
    if not name:
        return "-"
    if name in _operation_names:
        return name
    if not _OPERATION_NAME.fullmatch(name) or len(_operation_names) >= MAX_OPERATION_NAMES:
        return "other"
    _operation_names.add(name)
    return name


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROCESS_ENV)
    return Path(value) if value else None


def prepare_multiprocess_dir(path: Path) -> None:
    """An empty directory for the samples of a new set of processes (call it before they
    start: prometheus-client chooses its storage when it is imported)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ[MULTIPROCESS_ENV] = str(path)


def process_ended() -> None:
    """Drops the live gauges of this process (pool usage) from the shared samples."""
    if multiprocess_dir() is not None:
        prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class _LiveGauges:
    """Gauges read at scrape time (not stored per process, so never summed twice)."""

    def __init__(self, unfinished: dict[tuple[str, str], int], queue_depth: int | None) -> None:
        self.unfinished = unfinished
        self.queue_depth = queue_depth

    def collect(self) -> list[Metric]:
        jobs = GaugeMetricFamily(
            "portal_jobs_unfinished",
            "Jobs waiting (QUEUED) or running (RUNNING), by kind, from the database; accepted "
            "conversion requests count as PROCESS_CONVERSION_REQUEST jobs waiting.",
            labels=["kind", "status"],
        )
        for (kind, status), count in sorted(self.unfinished.items()):
            jobs.add_metric([kind, status], count)
        found: list[Metric] = [jobs]
        if self.queue_depth is not None:
            found.append(
                GaugeMetricFamily(
                    "portal_job_queue_depth",
                    "Jobs in the queue (arq's Redis queue, or the in-process queue's tasks).",
                    value=self.queue_depth,
                )
            )
        return found


def live_gauges(
    unfinished: dict[tuple[str, str], int], queue_depth: int | None
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_LiveGauges(unfinished, queue_depth))
    return registry


def exposition(live: CollectorRegistry | None = None) -> bytes:
    """The text a scrape gets: the samples of every process, then `live`, gauges read at
    scrape time (queue depths)."""
    if multiprocess_dir() is not None:
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    text = generate_latest(registry)
    if live is not None:
        text += generate_latest(live)
    return text
