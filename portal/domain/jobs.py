"""Background jobs as users see them (exports, imports): a row that records their state."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ALREADY_IMPORTED = "ALREADY_IMPORTED"
"""The outcome of an imported row that an earlier upload of the same file raised already: it
names that request and is no error (a row raised from a withdrawn request is raised again)."""


class JobStatus(enum.Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class JobKind(enum.Enum):
    EXPORT_CONVERSION_REQUESTS = "EXPORT_CONVERSION_REQUESTS"
    EXPORT_CONVERSIONS = "EXPORT_CONVERSIONS"
    EXPORT_TRACKING_DIFFERENCE = "EXPORT_TRACKING_DIFFERENCE"
    IMPORT_CONVERSION_REQUESTS = "IMPORT_CONVERSION_REQUESTS"
    IMPORT_SALES_VALIDATION = "IMPORT_SALES_VALIDATION"
    BILLING_RUN = "BILLING_RUN"


EXPORT_KINDS = (
    JobKind.EXPORT_CONVERSION_REQUESTS,
    JobKind.EXPORT_CONVERSIONS,
    JobKind.EXPORT_TRACKING_DIFFERENCE,
)
"""The jobs that write a file for their author: `ExportJob`s, run by `run_export`."""


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: JobKind
    status: JobStatus
    created_by: int
    parameters: dict[str, Any]
    format: str | None
    processed: int
    total: int | None
    created_count: int
    error_count: int
    file_path: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None = None
    attempts: int = 0
