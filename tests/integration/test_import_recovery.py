"""A worker that dies in the middle of an import (SIGKILL, a lost machine): the job is taken
over once its heartbeat stops, goes on after its last committed batch, and every row ends up
applied exactly once — requests, cell errors and counts as if it had never stopped. Jobs a
queue lost are queued again; a job that kills its worker again and again is given up."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.job_store import LeaseLost, claim_job, finish_job, keep_lease
from portal.adapters.tables import conversion_requests, import_errors, jobs
from portal.adapters.unit_of_work import UnitOfWork
from portal.config import Settings
from portal.domain.jobs import JobKind, JobStatus
from portal.services import import_pass, imports
from portal.services.job_recovery import requeue_unfinished_jobs
from tests import request_factories as rf
from tests.factories import build_world
from tests.import_files import csv_bytes

ROOT = Path(__file__).resolve().parents[2]
HEADER = [
    "request_type",
    "program",
    "order_id",
    "conversion_target",
    "tracking_time",
    "order_value",
]
T = "2026-06-01T10:00:00Z"


def _rows(count: int, bad: set[int]) -> list[list[str]]:
    """CREATE_NEW rows R-0 … ; the rows in `bad` have a negative order value."""
    return [
        ["CREATE_NEW", "Nordwind DE", f"R-{i}", "SALE_NEW_CUSTOMER", T, "-1" if i in bad else "10"]
        for i in range(count)
    ]


async def _start(engine: AsyncEngine, settings: Settings, content: bytes) -> int:
    path = settings.data_dir / "upload.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    viewer = await rf.viewer(engine, "A")
    async with UnitOfWork(engine) as uow:
        job_id = await imports.start_import(
            uow,
            viewer,
            settings,
            path,
            "requests.csv",
            imports.ImportOptions(),
            imports.ImportLimits(max_bytes=10**8, max_rows=10**6),
        )
        await uow.commit()
    return job_id


async def _job(engine: AsyncEngine, job_id: int) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(jobs).where(jobs.c.id == job_id))).one()


async def _stop_beating(engine: AsyncEngine, job_id: int) -> None:
    """As the job looks a while after its worker died: its heartbeat minutes old."""
    async with engine.begin() as conn:
        await conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(heartbeat_at=datetime.now(UTC) - timedelta(minutes=5))
        )


async def _requests(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        total = await conn.scalar(select(func.count()).select_from(conversion_requests))
        orders = await conn.scalar(
            select(func.count(func.distinct(conversion_requests.c.order_id)))
        )
    return int(total or 0), int(orders or 0)


async def _error_rows(engine: AsyncEngine, job_id: int) -> list[tuple[int, str]]:
    async with engine.connect() as conn:
        found = await conn.execute(
            select(import_errors.c.row, import_errors.c.code)
            .where(import_errors.c.job_id == job_id)
            .order_by(import_errors.c.row)
        )
        return [(r.row, r.code) for r in found]


class WorkerDied(BaseException):
    """The process is gone: nothing after this point runs (not even `except Exception`)."""


async def test_an_import_taken_over_goes_on_after_its_last_committed_batch(
    engine: AsyncEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await build_world(engine)
    monkeypatch.setattr(import_pass, "BATCH_ROWS", 2)
    # Bad rows in a batch before and in a batch after the death (file rows 3 and 8), and a row
    # after it repeating the order of a row before it (file row 9 repeats row 2).
    rows = [*_rows(7, bad={1, 6}), _rows(1, bad=set())[0]]
    job_id = await _start(engine, settings, csv_bytes(HEADER, rows))
    write = import_pass._Writer._write
    written = 0

    async def dies_after_two_batches(self: Any, batch: Any) -> None:
        nonlocal written
        await write(self, batch)
        written += 1
        if written == 2:
            raise WorkerDied

    monkeypatch.setattr(import_pass._Writer, "_write", dies_after_two_batches)
    with pytest.raises(WorkerDied):
        await imports.run_import(engine, settings, job_id)
    died = await _job(engine, job_id)
    assert (died.status, died.processed, died.created_count, died.error_count) == (
        JobStatus.RUNNING.value,
        4,
        3,
        1,
    )
    monkeypatch.setattr(import_pass._Writer, "_write", write)

    # Another worker: the job still beats (its worker may be alive) — not taken.
    assert await imports.run_import(engine, settings, job_id) == "skipped"
    await _stop_beating(engine, job_id)
    assert await imports.run_import(engine, settings, job_id) == "succeeded"

    done = await _job(engine, job_id)
    assert (done.status, done.processed, done.created_count, done.error_count) == (
        JobStatus.SUCCEEDED.value,
        8,
        5,
        3,
    )
    assert done.attempts == 2
    assert await _requests(engine) == (5, 5)
    # As if it never stopped: the repeat is a duplicate in the file, not someone's request.
    assert await _error_rows(engine, job_id) == [
        (3, "NEGATIVE_VALUE"),
        (8, "NEGATIVE_VALUE"),
        (9, "DUPLICATE_IN_BATCH"),
    ]


async def test_an_all_or_nothing_import_that_died_after_its_commit_counts_what_it_created(
    engine: AsyncEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await build_world(engine)
    viewer = await rf.viewer(engine, "A")
    path = settings.data_dir / "upload.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csv_bytes(HEADER, _rows(5, bad=set())))
    async with UnitOfWork(engine) as uow:
        job_id = await imports.start_import(
            uow,
            viewer,
            settings,
            path,
            "requests.csv",
            imports.ImportOptions(all_or_nothing=True),
            imports.ImportLimits(max_bytes=10**8, max_rows=10**6),
        )
        await uow.commit()
    finish = imports.finish_succeeded

    async def dies_before_it_ends(*args: Any, **kwargs: Any) -> None:
        raise WorkerDied

    monkeypatch.setattr(imports, "finish_succeeded", dies_before_it_ends)
    with pytest.raises(WorkerDied):
        await imports.run_import(engine, settings, job_id)
    monkeypatch.setattr(imports, "finish_succeeded", finish)
    assert await _requests(engine) == (5, 5)  # committed, but never counted

    await _stop_beating(engine, job_id)
    assert await imports.run_import(engine, settings, job_id) == "succeeded"
    done = await _job(engine, job_id)
    assert (done.status, done.created_count, done.error_count) == ("SUCCEEDED", 5, 0)
    assert await _requests(engine) == (5, 5)


async def test_a_killed_worker_process_leaves_every_row_applied_once(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    """A real process, killed with SIGKILL in the middle of the job."""
    await build_world(engine)
    rows = 600
    job_id = await _start(engine, settings, csv_bytes(HEADER, _rows(rows, bad={5, 590})))
    url = engine.url.render_as_string(hide_password=False)
    # The child writes batches of 50 and pauses after each, so it is surely killed mid-way.
    log_path = tmp_path / "child.log"
    log = log_path.open("wb")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        url,
        str(settings.data_dir),
        str(job_id),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log,
    )
    log.close()
    try:
        for _ in range(600):
            await asyncio.sleep(0.05)
            progress = (await _job(engine, job_id)).processed
            if progress >= 150 or child.returncode is not None:
                break
        assert child.returncode is None, log_path.read_text()[-2000:]
        assert 150 <= progress < rows
        child.send_signal(signal.SIGKILL)
        await asyncio.wait_for(child.wait(), 10)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert (await _job(engine, job_id)).status == JobStatus.RUNNING.value

    await _stop_beating(engine, job_id)
    assert await imports.run_import(engine, settings, job_id) == "succeeded"
    done = await _job(engine, job_id)
    assert (done.processed, done.created_count, done.error_count) == (rows, rows - 2, 2)
    assert await _requests(engine) == (rows - 2, rows - 2)
    assert await _error_rows(engine, job_id) == [(7, "NEGATIVE_VALUE"), (592, "NEGATIVE_VALUE")]


_CHILD = """
import asyncio, sys
from pathlib import Path
from portal.adapters.database import create_engine
from portal.config import Settings
from portal.services import import_pass, imports

url, data_dir, job_id = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
import_pass.BATCH_ROWS = 50
write = import_pass._Writer._write

async def slow_write(self, batch):
    await write(self, batch)
    await asyncio.sleep(0.2)

import_pass._Writer._write = slow_write

async def main():
    engine = create_engine(url)
    settings = Settings(database_url=url, redis_url=None, secret_key="t", data_dir=data_dir)
    await imports.run_import(engine, settings, job_id)

asyncio.run(main())
"""


async def test_a_job_is_taken_over_only_when_it_stopped_beating_and_not_forever(
    engine: AsyncEngine, settings: Settings
) -> None:
    await build_world(engine)
    job_id = await _start(engine, settings, csv_bytes(HEADER, _rows(1, bad=set())))
    async with UnitOfWork(engine) as uow:
        first = await claim_job(uow, job_id)
        assert first is not None and (first.attempt, first.taken_over) == (1, False)
        assert await claim_job(uow, job_id) is None  # it beats: someone runs it
        await uow.commit()
    leases = [first]
    for attempt in (2, 3):
        await _stop_beating(engine, job_id)
        async with UnitOfWork(engine) as uow:
            taken = await claim_job(uow, job_id)
            assert taken is not None and (taken.attempt, taken.taken_over) == (attempt, True)
            leases.append(taken)
            await uow.commit()
    await _stop_beating(engine, job_id)
    async with UnitOfWork(engine) as uow:
        assert await claim_job(uow, job_id) is None  # three runs died: not again
    assert (await _job(engine, job_id)).attempts == 3
    # The runs it was taken from write nothing more: not progress, not its end.
    for lost in leases[:2]:
        async with UnitOfWork(engine) as uow:
            with pytest.raises(LeaseLost):
                await keep_lease(uow, lost, processed=99)
            with pytest.raises(LeaseLost):
                await finish_job(uow, job_id, JobStatus.SUCCEEDED, lease=lost)
    async with UnitOfWork(engine) as uow:
        await keep_lease(uow, leases[2], processed=1)
        await uow.commit()
    assert (await _job(engine, job_id)).processed == 1


class _Recorded:
    def __init__(self) -> None:
        self.enqueued: list[tuple[str, tuple[Any, ...], str | None]] = []

    async def enqueue(self, function: str, *args: Any, job_id: str | None = None) -> None:
        self.enqueued.append((function, args, job_id))


async def test_lost_and_dead_jobs_are_queued_again_and_given_up_after_three_deaths(
    engine: AsyncEngine,
) -> None:
    world = await build_world(engine)
    viewer = await rf.viewer(engine, "A")
    now = datetime.now(UTC)
    old, fresh = now - timedelta(hours=1), now - timedelta(seconds=5)
    cases = {
        "lost in the queue": (JobKind.IMPORT_CONVERSION_REQUESTS, "QUEUED", old, None, 0),
        "just queued": (JobKind.IMPORT_CONVERSION_REQUESTS, "QUEUED", fresh, None, 0),
        "worker died": (JobKind.EXPORT_CONVERSIONS, "RUNNING", old, old, 1),
        "running": (JobKind.IMPORT_CONVERSION_REQUESTS, "RUNNING", old, fresh, 1),
        "died three times": (JobKind.IMPORT_CONVERSION_REQUESTS, "RUNNING", old, old, 3),
        "done": (JobKind.IMPORT_CONVERSION_REQUESTS, "SUCCEEDED", old, old, 1),
    }
    ids: dict[str, int] = {}
    async with engine.begin() as conn:
        for name, (kind, status, created, beat, attempts) in cases.items():
            ids[name] = (
                await conn.execute(
                    insert(jobs)
                    .values(
                        kind=kind.value,
                        status=status,
                        created_by=viewer.user_id,
                        parameters={},
                        processed=0,
                        created_count=0,
                        error_count=0,
                        created_at=created,
                        heartbeat_at=beat,
                        attempts=attempts,
                    )
                    .returning(jobs.c.id)
                )
            ).scalar_one()
    assert world  # the jobs' author exists
    queue = _Recorded()
    assert await requeue_unfinished_jobs(engine, queue) == 2
    assert sorted(queue.enqueued) == sorted(
        [
            ("run_import", (ids["lost in the queue"],), f"import:{ids['lost in the queue']}"),
            # A take-over gets an id of its own (arq would drop the first one's for 10 min).
            ("run_export", (ids["worker died"],), f"export:{ids['worker died']}:after-attempt:1"),
        ]
    )
    given_up = await _job(engine, ids["died three times"])
    assert given_up.status == JobStatus.FAILED.value
    assert given_up.error.startswith("WORKER_LOST")
    assert (await _job(engine, ids["running"])).status == JobStatus.RUNNING.value
