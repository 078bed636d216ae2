"""exportTrackingDifference: the tracking-difference report as an export job. Its file is the
synchronous download's (the same bytes as CSV, the same rows as XLSX), which stays; who may
start the job is who may download the report (admins and the program's advertiser, everyone
else reads NOT_FOUND exactly as for an unknown program); the job and its file are its author's
(and, as every row, the admins'); bad input is a coded user error and writes no job."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import jobs
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role
from portal.schema.ids import encode_id
from portal.services import setup
from tests.api.order_world import OrderWorld
from tests.api.test_tracking_difference import PERIOD, lines, tracked_world, upload
from tests.conftest import Api
from tests.contract.test_operations import operation
from tests.factories import ADMIN, token_for
from tests.import_files import auth, read_csv, read_xlsx

EXPORT = operation("exportTrackingDifference")
JOB = operation("exportJob")
# 3 matched, 4 untracked, 2 not in the book, 2 value differences, 2 months and the total.
REPORT_ROWS = 3 + 4 + 2 + 2 + 2 + 1


@pytest.fixture
async def world(api: Api, engine: AsyncEngine) -> OrderWorld:
    """The tracked orders of test_tracking_difference, their book of PERIOD stored by the
    advertiser, and a partner "D" that does not work with program P."""
    world = await tracked_world(api, engine)
    stored = await upload(api, world, lines())
    assert stored["userErrors"] == [], stored
    async with UnitOfWork(engine) as uow:
        foreign = await setup.create_partner(
            uow, ADMIN, name="Elsewhere Media", payout_currency="EUR", country="DE"
        )
        world.ids["D"] = foreign.id
        world.tokens["D"] = await token_for(
            uow, "d@partner.test", Role.PARTNER, partner_id=foreign.id
        )
        await uow.commit()
    return world


async def start(
    api: Api,
    world: OrderWorld,
    token: str = "adv",
    fmt: str = "CSV",
    program: str | None = None,
    period: dict[str, str] = PERIOD,
) -> dict[str, Any]:
    variables = {
        "input": {
            "programId": program or world.gid("Program", "P"),
            "period": period,
            "format": fmt,
        }
    }
    data = await api.data(EXPORT, variables, token=world.tokens[token])
    return data["exportTrackingDifference"]  # type: ignore[no-any-return]


async def finished_job(api: Api, world: OrderWorld, job_id: str, token: str) -> dict[str, Any]:
    await api.drain_jobs()
    data = await api.data(JOB, {"id": job_id}, token=world.tokens[token])
    return data["node"]  # type: ignore[no-any-return]


def download_url(fmt: str) -> str:
    return f"2024-05-01_2024-06-30.{fmt.lower()}"


async def job_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(jobs)) or 0)


@pytest.mark.parametrize("token", ["adv", "admin"])
@pytest.mark.parametrize("fmt", ["CSV", "XLSX"])
async def test_the_jobs_file_is_the_synchronous_downloads_file(
    api: Api, world: OrderWorld, token: str, fmt: str
) -> None:
    started = await start(api, world, token, fmt)
    assert started["userErrors"] == []
    export = started["export"]
    assert (export["kind"], export["status"], export["format"]) == (
        "EXPORT_TRACKING_DIFFERENCE",
        "QUEUED",
        fmt,
    )
    assert export["downloadUrl"] is None
    job = await finished_job(api, world, export["id"], token)
    assert (job["status"], job["rowCount"], job["error"]) == ("SUCCEEDED", REPORT_ROWS, None)
    headers = auth(world.tokens[token])
    from_job = await api.client.get(job["downloadUrl"], headers=headers)
    assert from_job.status_code == 200, from_job.text
    sync_url = f"/files/tracking-difference/{world.gid('Program', 'P')}/{download_url(fmt)}"
    synchronous = await api.client.get(sync_url, headers=headers)
    assert synchronous.status_code == 200
    assert from_job.headers["content-type"] == synchronous.headers["content-type"]
    if fmt == "CSV":
        assert from_job.content == synchronous.content
        table = read_csv(from_job.content)
    else:  # a workbook carries the time it was written: the same cells, not the same bytes
        table = read_xlsx(from_job.content)
        assert table == read_xlsx(synchronous.content)
    assert len(table) == 1 + REPORT_ROWS
    assert table[0][0] == "kind" and [row[0] for row in table[-3:]] == ["MONTH", "MONTH", "TOTAL"]
    # The author lists it among its exports.
    listed = await api.data("{ exports { nodes { id kind } } }", token=world.tokens[token])
    assert listed["exports"]["nodes"] == [
        {"id": export["id"], "kind": "EXPORT_TRACKING_DIFFERENCE"}
    ]


# -- visibility ------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["A", "D", "other"])
async def test_partners_and_other_advertisers_read_the_program_as_unknown(
    api: Api, world: OrderWorld, engine: AsyncEngine, token: str
) -> None:
    unknown = encode_id("Program", world.ids["P"] + 1000)
    as_unknown = await start(api, world, token, program=unknown)
    refused = await start(api, world, token)
    assert refused["export"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "programId"], "NOT_FOUND")
    ]
    # Word for word what an unknown program gives: nothing says the program exists.
    assert refused == as_unknown
    # A bad period does not tell either: the program is checked first.
    backwards = await start(api, world, token, period={"from": "2024-06-30", "to": "2024-05-01"})
    assert backwards == as_unknown
    assert await job_rows(engine) == 0


@pytest.mark.parametrize("token", ["A", "D", "other"])
async def test_only_the_author_downloads_the_jobs_file(
    api: Api, world: OrderWorld, token: str
) -> None:
    started = await start(api, world, "adv")
    job = await finished_job(api, world, started["export"]["id"], "adv")
    assert job["status"] == "SUCCEEDED"
    url = job["downloadUrl"]
    assert (await api.client.get(url, headers=auth(world.tokens["adv"]))).status_code == 200
    # Anybody else finds neither the job nor its file.
    polled = await api.data(JOB, {"id": job["id"]}, token=world.tokens[token])
    assert polled["node"] is None
    response = await api.client.get(url, headers=auth(world.tokens[token]))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert (await api.client.get(url)).status_code == 401


async def test_admins_see_every_job_and_an_admins_job_is_no_advertisers(
    api: Api, world: OrderWorld
) -> None:
    """Admins see every job, as every other row (the one visibility rule of the data layer);
    the advertiser does not see a job an admin started for its program."""
    by_advertiser = await start(api, world, "adv")
    by_admin = await start(api, world, "admin", "XLSX")
    await api.drain_jobs()
    advertisers = await api.data(
        JOB, {"id": by_advertiser["export"]["id"]}, token=world.tokens["admin"]
    )
    admins = await api.data(JOB, {"id": by_admin["export"]["id"]}, token=world.tokens["admin"])
    for job in (advertisers["node"], admins["node"]):
        response = await api.client.get(job["downloadUrl"], headers=auth(world.tokens["admin"]))
        assert response.status_code == 200
    hidden = await api.data(JOB, {"id": by_admin["export"]["id"]}, token=world.tokens["adv"])
    assert hidden["node"] is None
    response = await api.client.get(
        admins["node"]["downloadUrl"], headers=auth(world.tokens["adv"])
    )
    assert response.status_code == 404


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("program", "period", "expected"),
    [
        ("unknown", PERIOD, (["input", "programId"], "NOT_FOUND")),
        ("partner id", PERIOD, (["input", "programId"], "INVALID_ID")),
        ("not an id", PERIOD, (["input", "programId"], "INVALID_ID")),
        (
            "P",
            {"from": "2024-06-30", "to": "2024-05-01"},
            (["input", "period", "to"], "INVALID_PERIOD"),
        ),
        (
            "P",
            {"from": "2023-01-01", "to": "2024-06-30"},
            (["input", "period", "to"], "PERIOD_TOO_LONG"),
        ),
        # No book of this period is stored (the book is May–June).
        ("P", {"from": "2024-05-01", "to": "2024-05-31"}, (["input", "period"], "NOT_FOUND")),
    ],
)
async def test_bad_input_is_coded_and_writes_no_job(
    api: Api,
    world: OrderWorld,
    engine: AsyncEngine,
    program: str,
    period: dict[str, str],
    expected: tuple[list[str], str],
) -> None:
    program_id = {
        "unknown": encode_id("Program", world.ids["P"] + 1000),
        "partner id": world.gid("Partner", "A"),
        "not an id": "nonsense",
        "P": world.gid("Program", "P"),
    }[program]
    refused = await start(api, world, program=program_id, period=period)
    assert refused["export"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [expected]
    assert await job_rows(engine) == 0


async def test_an_unknown_format_is_refused_before_anything_runs(
    api: Api, world: OrderWorld, engine: AsyncEngine
) -> None:
    variables = {
        "input": {"programId": world.gid("Program", "P"), "period": PERIOD, "format": "PDF"}
    }
    answer = await api.query(EXPORT, variables, token=world.tokens["adv"])
    assert "data" not in answer
    assert answer["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert await job_rows(engine) == 0
