"""A sales validation import whose worker died is queued again (job recovery knows its job
function) and, taken over, starts again from the first row: what the dead run applied comes out
UNCHANGED, and no conversion gets a second revision for the same line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.spreadsheets import TableFormat
from portal.adapters.tables import conversion_revisions, jobs
from portal.adapters.unit_of_work import UnitOfWork
from portal.config import Settings
from portal.domain.jobs import JobStatus
from portal.services.imports import ImportLimits
from portal.services.job_recovery import requeue_unfinished_jobs
from portal.services.sales_validation_files import (
    report_path,
    run_validation_import,
    start_validation_import,
)
from tests import request_factories as rf
from tests.factories import build_world
from tests.import_files import csv_bytes, read_csv


class RecordingQueue:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def enqueue(self, function: str, *args: Any, job_id: str | None = None) -> None:
        self.calls.append((function, args))


async def _revisions(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(conversion_revisions)) or 0)


async def test_a_taken_over_validation_import_applies_each_line_once(
    engine: AsyncEngine, settings: Settings
) -> None:
    world = await build_world(engine)
    path = settings.data_dir / "book.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        csv_bytes(
            ["order_id", "status", "conversion_note"],
            [["A-0", "CONFIRMED", ""], ["A-1", "REJECTED", "RETURNED"], ["NOPE", "CONFIRMED", ""]],
        )
    )
    async with UnitOfWork(engine) as uow:
        job_id = await start_validation_import(
            uow,
            await rf.viewer(engine, "adv1"),
            settings,
            world.ids["p1"],
            path,
            "book.csv",
            dry_run=False,
            all_or_nothing=False,
            limits=ImportLimits(max_bytes=10**6, max_rows=10**4),
        )
        await uow.commit()
    assert await run_validation_import(engine, settings, job_id) == "succeeded"
    revisions = await _revisions(engine)

    # when the worker is found dead after its work (RUNNING, the heartbeat minutes old)
    async with engine.begin() as conn:
        await conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(
                status=JobStatus.RUNNING.value,
                heartbeat_at=datetime.now(UTC) - timedelta(minutes=5),
            )
        )
    queue = RecordingQueue()
    assert await requeue_unfinished_jobs(engine, queue) == 1
    assert queue.calls == [("run_sales_validation_import", (job_id,))]

    # then the run that takes it over finds every line validated
    assert await run_validation_import(engine, settings, job_id) == "succeeded"
    assert await _revisions(engine) == revisions
    async with engine.connect() as conn:
        job = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).one()
    assert (job.status, job.processed, job.created_count, job.error_count) == (
        "SUCCEEDED",
        3,
        0,
        1,
    )
    report = read_csv(report_path(settings, job_id, TableFormat.CSV).read_bytes())
    outcome = report[0].index("outcome")
    assert [row[outcome] for row in report[1:]] == ["UNCHANGED", "UNCHANGED", "NOT_FOUND"]
