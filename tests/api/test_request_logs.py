"""Issue 14, logs: one structured line per request (request id, user, role, operation, path
of execution, duration, SQL statements, query cost, error codes), the request id returned as
`X-Request-Id`, internal errors logged with the errorId the client got, a client that goes
away in one line without a traceback, and jobs that log their start, milestones and end."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.observability.requests import ObserveRequests
from tests.conftest import Api
from tests.factories import build_world
from tests.import_files import run
from tests.observed import captured_logs

MINE = "query Mine { conversions(first: 2) { nodes { id partner { name } } } }"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_request_logs_one_line_with_its_request_id_user_operation_and_costs(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    with captured_logs() as logs:
        response = await api.post(MINE, token=world.tokens["A"])
    body = response.json()
    assert body.get("errors") is None

    [line] = logs.requests()
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert len(line["request_id"]) == 32
    assert line["msg"] == "request" and line["level"] == "INFO"
    assert (line["method"], line["path"], line["status"], line["outcome"]) == (
        "POST",
        "/graphql",
        200,
        "ok",
    )
    assert (line["role"], line["operation"], line["operation_type"]) == ("PARTNER", "Mine", "query")
    assert isinstance(line["user_id"], int)
    assert line["query_cost"] == body["extensions"]["cost"]["requestedQueryCost"] > 0
    # Token lookup, the page, the partners loader (plus a last-used update on some runs).
    assert 3 <= line["sql_statements"] <= 6
    assert line["duration_ms"] > 0
    assert line["error_codes"] == []
    assert "execution_path" in line  # filled by the execution path that ran the operation


async def test_the_clients_request_id_is_kept_when_well_formed(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    given = {"X-Request-Id": "lb-2f1c9a7e-0001", **_auth(world.tokens["A"])}
    hostile = {"X-Request-Id": 'x" injected=1 ' + "a" * 300, **_auth(world.tokens["A"])}
    with captured_logs() as logs:
        kept = await api.client.post("/graphql", json={"query": MINE}, headers=given)
        replaced = await api.client.post("/graphql", json={"query": MINE}, headers=hostile)
    assert kept.headers["X-Request-Id"] == "lb-2f1c9a7e-0001"
    assert replaced.headers["X-Request-Id"] != hostile["X-Request-Id"]
    assert [line["request_id"] for line in logs.requests()] == [
        "lb-2f1c9a7e-0001",
        replaced.headers["X-Request-Id"],
    ]


async def test_error_codes_of_graphql_and_of_refused_requests_are_logged(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    with captured_logs() as logs:
        await api.post("{ conversions(first: 1) { nope } }", token=world.tokens["A"])
        await api.post(MINE, token="ptk_not-a-token-at-all")
        await api.post("{ conversions(first: 101) { nodes { id } } }", token=world.tokens["A"])
    codes = [(line["status"], line["outcome"], line["error_codes"]) for line in logs.requests()]
    assert codes == [
        (200, "error", ["GRAPHQL_VALIDATION_FAILED"]),
        (401, "error", ["UNAUTHENTICATED"]),
        (200, "error", ["BAD_USER_INPUT"]),
    ]
    assert logs.requests()[1]["user_id"] is None


async def test_an_internal_error_logs_the_error_id_the_client_got(
    api: Api, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(engine)

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    # The conditions of the list: both execution paths build them (the compiled one then
    # leaves the request to the executor, which reports the failure).
    monkeypatch.setattr("portal.adapters.reader.Reader.conversions_scope", broken)
    with captured_logs() as logs:
        response = await api.post(MINE, token=world.tokens["A"])
    [error] = response.json()["errors"]
    error_id = error["extensions"]["errorId"]
    assert error["extensions"]["code"] == "INTERNAL" and "fire" not in error["message"]

    [line] = logs.requests()
    assert (line["outcome"], line["error_codes"], line["error_ids"]) == (
        "internal",
        ["INTERNAL"],
        [error_id],
    )
    [logged] = [entry for entry in logs.lines if entry["level"] == "ERROR"]
    assert error_id in logged["msg"]
    assert logged["request_id"] == line["request_id"]
    assert "the disk is on fire" in logged["exc"]  # the server keeps what the client may not see


async def test_a_client_that_goes_away_is_one_line_and_no_traceback(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    app = api.app
    sent: list[dict[str, Any]] = []
    messages = [
        {"type": "http.request", "body": b'{"query": "{ viewer', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"portal.test"),
            (b"content-type", b"application/json"),
            (b"content-length", b"5000"),
            (b"authorization", f"Bearer {world.tokens['A']}".encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("portal.test", 80),
        "state": {},
    }
    with captured_logs() as logs:
        await app(scope, receive, send)  # returns: nothing for uvicorn to print a traceback of

    assert sent == []  # nobody is left to answer
    [line] = logs.lines
    assert (line["msg"], line["outcome"], line["status"]) == (
        "client disconnected",
        "disconnected",
        None,
    )
    assert "exc" not in line


async def test_an_exception_no_handler_caught_answers_500_with_a_logged_error_id() -> None:
    async def broken(_: Request) -> Response:
        raise RuntimeError("boom")

    # As create_app places it: inside Starlette's own error middleware, which never sees it.
    app = Starlette(routes=[Route("/files/x", broken)], middleware=[Middleware(ObserveRequests)])

    with captured_logs() as logs:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            response = await client.get("/files/x")
    assert response.status_code == 500
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL"
    error_id = error["extensions"]["errorId"]
    logged = [entry for entry in logs.lines if entry["level"] == "ERROR"]
    assert len(logged) == 1 and error_id in logged[0]["msg"] and "boom" in logged[0]["exc"]
    [line] = logs.requests()
    assert (line["status"], line["outcome"], line["error_ids"]) == (500, "internal", [error_id])


def _requests_csv(count: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["request_type", "program", "order_id", "conversion_target", "tracking_time", "order_value"]
    )
    for n in range(count):
        writer.writerow(
            [
                "CREATE_NEW",
                "Nordwind DE",
                f"LOG-{n}",
                "SALE_NEW_CUSTOMER",
                "2026-06-01T10:00:00Z",
                "10",
            ]
        )
    writer.writerow(
        ["CREATE_NEW", "Nordwind DE", "LOG-BAD", "SALE_NEW_CUSTOMER", "2026-06-01T10:00:00Z", "-1"]
    )
    return out.getvalue().encode()


async def test_an_import_job_logs_its_start_milestones_and_end_with_counts(
    api: Api, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("portal.services.import_pass.BATCH_ROWS", 2)
    monkeypatch.setattr("portal.observability.jobs.IMPORT_MILESTONE_ROWS", 4)
    world = await build_world(engine)
    with captured_logs(level="INFO") as logs:
        job = await run(api, world.tokens["A"], "log.csv", _requests_csv(9))
    assert (job["createdCount"], job["errorCount"]) == (9, 1)

    jobs = [line for line in logs.lines if "job_id" in line]
    assert {line["job_id"] for line in jobs} == {jobs[0]["job_id"]}  # one job, every line tagged
    messages = [line["msg"] for line in jobs]
    assert messages[0] == "job started" and messages[-1] == "job finished"
    assert messages.count("import progress") == 2  # after rows 4 and 8 of 10
    assert [line["rows_processed"] for line in jobs if line["msg"] == "import progress"] == [4, 8]
    summary = next(m for m in messages if m.startswith("import ") and "rows" in m)
    assert "10 rows, 9 requests created, 0 raised by an earlier upload, 1 errors" in summary
    end = jobs[-1]
    assert (end["job"], end["outcome"]) == ("run_import", "succeeded")
    assert end["sql_statements"] > 0 and end["duration_ms"] > 0
    # The request that queued it does not count the job's statements.
    upload = [line for line in logs.requests() if line["operation_type"] == "mutation"]
    assert upload and all(line["sql_statements"] < end["sql_statements"] for line in upload)
