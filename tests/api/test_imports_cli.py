"""`portal import`: the CLI against a real uvicorn server (SQLite). Exit status 0 when every
row was applied, 2 with row errors, 1 when the file (or the job) failed."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from portal.adapters.database import create_engine
from portal.cli_import import run_import
from tests.conftest import run_in_thread
from tests.factories import World, build_world
from tests.import_files import csv_bytes, xlsx_bytes

HEADER = [
    "request_type",
    "program",
    "order_id",
    "conversion_target",
    "tracking_time",
    "order_value",
]
T = "01.06.2026 10:00"


@dataclass
class Server:
    url: str
    world: World
    files: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("cli")
    database = root / "portal.db"
    shutil.copyfile(sqlite_template, database)
    url = f"sqlite+aiosqlite:///{database}"

    async def prepare() -> World:
        engine = create_engine(url)
        try:
            return await build_world(engine)
        finally:
            await engine.dispose()

    world = run_in_thread(prepare())
    port = _free_port()
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": url,
        "PORTAL_DATA_DIR": str(root / "data"),
        "PORTAL_SECRET_KEY": "cli-test-secret",
    }
    env.pop("PORTAL_REDIS_URL", None)
    log = (root / "server.log").open("wb")
    uvicorn = Path(sys.executable).parent / "uvicorn"
    process = subprocess.Popen(
        [
            str(uvicorn),
            "--factory",
            "portal.web.app:create_served_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "server.log").read_text())
            time.sleep(0.1)
        files = root / "files"
        files.mkdir()
        yield Server(base, world, files)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _import(server: Server, name: str, content: bytes, **options: object) -> tuple[int, str]:
    path = server.files / name
    path.write_bytes(content)
    out = io.StringIO()
    code = run_import(
        path,
        server.world.tokens["A"],
        server.url,
        dry_run=bool(options.get("dry_run", False)),
        all_or_nothing=bool(options.get("all_or_nothing", False)),
        time_zone=str(options.get("time_zone", "Europe/Berlin")),
        console=Console(file=out, width=200),
        poll_seconds=0.05,
    )
    return code, out.getvalue()


def _row(order: str, value: str = "10") -> list[str]:
    return ["CREATE_NEW", "Nordwind DE", order, "SALE_NEW_CUSTOMER", T, value]


def test_a_clean_file_exits_0(server: Server) -> None:
    code, output = _import(
        server, "clean.csv", csv_bytes(HEADER, [_row("CLI-1"), _row("CLI-2")], delimiter=";")
    )
    assert code == 0, output
    assert "2 requests created, 0 cell errors" in output


def test_a_clean_workbook_exits_0(server: Server) -> None:
    code, output = _import(server, "clean.xlsx", xlsx_bytes(HEADER, [_row("CLI-X1")]))
    assert code == 0, output
    assert "1 request created, 0 cell errors" in output


def test_row_errors_exit_2_and_name_the_report(server: Server) -> None:
    code, output = _import(
        server, "rows.csv", csv_bytes(HEADER, [_row("CLI-3"), _row("CLI-4", "-5")], delimiter=";")
    )
    assert code == 2, output
    assert "1 request created, 1 cell error" in output
    assert "/errors.csv" in output


def test_a_dry_run_with_row_errors_exits_2_and_writes_nothing(server: Server) -> None:
    code, output = _import(
        server,
        "dry.csv",
        csv_bytes(HEADER, [_row("CLI-5"), _row("CLI-6", "abc")], delimiter=";"),
        dry_run=True,
    )
    assert code == 2, output
    assert "dry run: 1 request would be created, 1 cell error; nothing was written" in output
    again = _import(server, "dry-clean.csv", csv_bytes(HEADER, [_row("CLI-5")], delimiter=";"))
    assert again[0] == 0 and "1 request created" in again[1]


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("broken.xlsx", bytes(range(256)) * 16, "UNREADABLE_FILE"),
        ("empty.csv", b"", "EMPTY_FILE"),
        ("columns.csv", b"request_type,order_id\nCREATE_NEW,1\n", "MISSING_COLUMN"),
    ],
)
def test_a_broken_file_exits_1(server: Server, name: str, content: bytes, code: str) -> None:
    exit_code, output = _import(server, name, content)
    assert exit_code == 1, output
    assert code in output


def test_a_bad_token_exits_1(server: Server) -> None:
    path = server.files / "token.csv"
    path.write_bytes(csv_bytes(HEADER, [_row("CLI-9")]))
    out = io.StringIO()
    code = run_import(
        path,
        "not-a-token",
        server.url,
        dry_run=False,
        all_or_nothing=False,
        time_zone="UTC",
        console=Console(file=out, width=200),
        poll_seconds=0.05,
    )
    assert code == 1
    assert "UNAUTHENTICATED" in out.getvalue()
