"""How background work fails. A transient failure of the database (connections cut, the
database refusing connections for a while) is retried with backoff and the job ends as if
nothing happened; only a permanent failure fails it — with a code and a message for people
that names an error id, the SQL and its parameters only in the log."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.database import create_engine, migrate
from portal.adapters.filter_json import filter_to_json
from portal.adapters.reader import ConversionFilter
from portal.adapters.spreadsheets import TableFormat
from portal.adapters.tables import import_errors, jobs
from portal.adapters.unit_of_work import UnitOfWork
from portal.config import Settings
from portal.domain.jobs import JobKind, JobStatus
from portal.domain.requests import RequestStatus
from portal.services import exports, imports, request_processing
from tests import request_factories as rf
from tests.factories import build_world
from tests.import_files import csv_bytes, start_import_of
from tests.integration.conftest import allow_connections, cut_connections


async def _export_job(engine: AsyncEngine, who: str, parameters: dict[str, object]) -> int:
    viewer = await rf.viewer(engine, who)
    async with UnitOfWork(engine) as uow:
        job_id = await exports.start_job_export(
            uow, viewer, JobKind.EXPORT_CONVERSIONS, parameters, TableFormat.CSV
        )
        await uow.commit()
    return job_id


async def _job(engine: AsyncEngine, job_id: int) -> tuple[str, str | None, int]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).one()
    return row.status, row.error, row.processed


async def test_an_unexpected_failure_shows_a_code_and_an_error_id_never_sql(
    engine: AsyncEngine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A job stored before filters were checked, naming a program id no database column can
    hold: the database refuses the statement (PostgreSQL) or the driver its parameter."""
    await build_world(engine)
    job_id = await _export_job(engine, "A", {"program_ids": [2**70]})
    with caplog.at_level(logging.ERROR, logger="portal.jobs"):
        assert await exports.run_export(engine, settings, job_id) == "failed"
    status, error, _ = await _job(engine, job_id)
    assert status == JobStatus.FAILED.value
    assert error is not None and error.startswith("INTERNAL: ")
    error_id = error.split("error id ")[1][:12]
    for internal in ("SELECT", "[SQL", "parameters", str(2**70), "Error:"):
        assert internal not in error
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the details, for the operator


async def test_nul_characters_in_cells_are_cell_errors_and_the_rest_is_imported(
    engine: AsyncEngine, settings: Settings
) -> None:
    await build_world(engine)
    header = ["request_type", "program", "order_id", "conversion_target", "tracking_time"]
    header += ["order_value", "comment", "sub_id_1"]
    t = "2026-06-01T10:00:00Z"
    rows = [
        ["CREATE_NEW", "Nordwind DE", "N-1", "SALE_NEW_CUSTOMER", t, "10", "fine", ""],
        ["CREATE_NEW", "Nordwind DE", "N-\x002", "SALE_NEW_CUSTOMER", t, "10", "", ""],
        ["CREATE_NEW", "Nordwind DE", "N-3", "SALE_NEW_CUSTOMER", t, "10", "a\x00b", "x\x00"],
        ["CREATE_NEW", "Nordwind\x00 DE", "N-4", "SALE_NEW_CUSTOMER", t, "10", "", ""],
        ["CREATE_NEW", "Nordwind DE", "N-5", "SALE_NEW_CUSTOMER", t, "10", "", ""],
    ]
    job_id = await start_import_of(engine, settings, "A", csv_bytes(header, rows))
    assert await imports.run_import(engine, settings, job_id) == "succeeded"
    async with engine.connect() as conn:
        job = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).one()
        errors = (
            await conn.execute(
                select(import_errors.c.row, import_errors.c.column, import_errors.c.code)
                .where(import_errors.c.job_id == job_id)
                .order_by(import_errors.c.row, import_errors.c.column)
            )
        ).all()
    assert (job.status, job.created_count, job.error_count) == ("SUCCEEDED", 2, 4)
    assert [tuple(e) for e in errors] == [
        (3, "order_id", "NUL_CHARACTER"),
        (4, "comment", "NUL_CHARACTER"),
        (4, "sub_id_1", "NUL_CHARACTER"),
        (5, "program", "NUL_CHARACTER"),
    ]


# -- transient failures, on a PostgreSQL database of the test's own --------------------------


async def _own(url: str, tmp_path: Path) -> tuple[AsyncEngine, Settings]:
    engine = create_engine(url)
    await migrate(engine)
    settings = Settings(database_url=url, redis_url=None, secret_key="t", data_dir=tmp_path)
    return engine, settings


@pytest.mark.postgres
async def test_an_export_started_while_the_database_is_down_waits_for_it_and_succeeds(
    own_database: tuple[str, AsyncEngine], tmp_path: Path
) -> None:
    url, admin = own_database
    name = make_url(url).database
    assert name
    engine, settings = await _own(url, tmp_path)
    try:
        await build_world(engine)
        job_id = await _export_job(engine, "adv1", filter_to_json(ConversionFilter()))
        await allow_connections(admin, name, False)
        assert await cut_connections(admin, name) > 0
        run = asyncio.create_task(exports.run_export(engine, settings, job_id))
        await asyncio.sleep(2.5)  # tries at 0, 1 and 3 s: two fail
        assert not run.done()
        await allow_connections(admin, name, True)
        assert await asyncio.wait_for(run, 60) == "succeeded"
        status, error, processed = await _job(engine, job_id)
        assert (status, error, processed) == ("SUCCEEDED", None, 6)
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_connections_cut_in_the_middle_of_jobs_do_not_fail_them(
    own_database: tuple[str, AsyncEngine], tmp_path: Path
) -> None:
    url, admin = own_database
    name = make_url(url).database
    assert name
    engine, settings = await _own(url, tmp_path)
    try:
        world = await build_world(engine)
        requests = [(await rf.raise_new_order(engine, world)).id for _ in range(5)]
        for request_id in requests:
            await rf.accept(engine, request_id)
        export_ids = [
            await _export_job(engine, "adv1", filter_to_json(ConversionFilter())) for _ in range(4)
        ]
        work = [
            *(exports.run_export(engine, settings, job_id) for job_id in export_ids),
            *(request_processing.process_request(engine, r) for r in requests),
        ]
        running = asyncio.gather(*work)
        for _ in range(5):  # cut whatever they hold, again and again
            await cut_connections(admin, name)
            await asyncio.sleep(0.05)
        results = await asyncio.wait_for(running, 120)
        assert results == ["succeeded"] * 4 + ["processed"] * 5
        for job_id in export_ids:
            assert (await _job(engine, job_id))[0] == "SUCCEEDED"
        for request_id in requests:
            assert (await rf.request(engine, request_id)).status is RequestStatus.PROCESSED
    finally:
        await engine.dispose()


async def test_a_permanent_failure_is_not_retried(
    engine: AsyncEngine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await build_world(engine)
    job_id = await _export_job(engine, "A", {"program_ids": [2**70]})
    with caplog.at_level(logging.WARNING, logger="portal.jobs"):
        assert await exports.run_export(engine, settings, job_id) == "failed"
    assert not [r for r in caplog.records if "transient" in r.getMessage()]
    assert (await _job(engine, job_id))[0] == "FAILED"
