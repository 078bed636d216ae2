"""Issue 14 on a real server: `portal serve --workers 2` as a user starts it (no settings but a
home directory), its banner with the address actually served, JSON log lines with request ids,
`/metrics` adding up the samples of both worker processes (Prometheus multiprocess mode), and
the demo tokens that a second start prints again instead of minting new ones."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.observed import samples, value

PORTAL = str(Path(sys.executable).parent / "portal")


@dataclass
class Served:
    url: str
    tokens: dict[str, str]
    banner: str
    log: Path
    env: dict[str, str]
    home: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "PROMETHEUS_"))}
    env.pop("XDG_DATA_HOME", None)
    return {**env, "HOME": str(home), "PORTAL_LOG_FORMAT": "json"}


def _start(
    args: list[str], env: dict[str, str], cwd: Path, log: Path
) -> tuple[subprocess.Popen[str], str]:
    """Starts `portal serve`, returns it with its banner once /health answers."""
    with log.open("w") as stderr:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [PORTAL, "serve", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert process.stdout is not None
    banner = ""
    deadline = time.monotonic() + 60
    while "GraphiQL:" not in banner:
        line = process.stdout.readline()
        if not line or time.monotonic() > deadline:
            _stop(process)
            raise AssertionError(f"no banner: {banner}\n{log.read_text()}")
        banner += line
    url = re.search(r"GraphiQL: (http://\S+)/graphql", banner)
    assert url is not None, banner
    while True:
        try:
            if httpx.get(f"{url.group(1)}/health", timeout=1).status_code == 200:
                return process, banner
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            raise AssertionError(log.read_text())
        time.sleep(0.2)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _tokens(banner: str) -> dict[str, str]:
    return dict(re.findall(r"^\s+(admin|advertiser|partner)\s+(ptk_\S+)$", banner, re.M))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve")
    home, cwd = root / "home", root / "somewhere"
    home.mkdir()
    cwd.mkdir()
    env = _environment(home)
    port = _free_port()
    log = root / "serve.log"
    process, banner = _start(["--port", str(port), "--workers", "2"], env, cwd, log)
    try:
        yield Served(f"http://127.0.0.1:{port}", _tokens(banner), banner, log, env, home)
    finally:
        _stop(process)


def test_the_banner_names_the_port_served_and_the_demo_tokens(served: Served) -> None:
    assert f"GraphiQL: {served.url}/graphql" in served.banner
    assert f"curl -s {served.url}/graphql" in served.banner
    assert set(served.tokens) == {"admin", "advertiser", "partner"}
    data_dir = served.home / ".local" / "share" / "portal"
    assert (data_dir / "portal.db").exists()  # not in the working directory
    assert str(data_dir / "demo-tokens.json") in served.banner


def test_metrics_add_up_both_worker_processes(served: Served) -> None:
    admin = {"Authorization": f"Bearer {served.tokens['admin']}"}
    partner = {"Authorization": f"Bearer {served.tokens['partner']}"}
    before = samples(httpx.get(f"{served.url}/metrics", headers=admin, timeout=10).text)
    for _ in range(12):  # a new connection each: the kernel hands them to either worker
        response = httpx.post(
            f"{served.url}/graphql",
            json={"query": "query Probe { viewer { user { role } } }"},
            headers=partner,
            timeout=10,
        )
        assert response.status_code == 200 and response.json().get("errors") is None
    scrapes = [
        samples(httpx.get(f"{served.url}/metrics", headers=admin, timeout=10).text)
        for _ in range(4)
    ]
    labels = {"endpoint": "graphql", "operation": "Probe", "outcome": "ok"}
    for after in scrapes:  # whichever worker answers the scrape sees all of them
        probes = value(after, "portal_http_requests_total", **labels) - value(
            before, "portal_http_requests_total", **labels
        )
        assert probes == 12
        # Each worker's pool is counted once: two processes of 15 (SQLite: 5 + 10 overflow).
        assert value(after, "portal_db_pool_capacity") == 30
    assert httpx.get(f"{served.url}/metrics", timeout=10).status_code == 401
    assert httpx.get(f"{served.url}/metrics", headers=partner, timeout=10).status_code == 403


def test_the_log_is_json_lines_with_request_ids_and_no_tracebacks(served: Served) -> None:
    response = httpx.post(
        f"{served.url}/graphql",
        json={"query": "query LogMe { viewer { user { id } } }"},
        headers={"Authorization": f"Bearer {served.tokens['advertiser']}"},
        timeout=10,
    )
    request_id = response.headers["X-Request-Id"]
    deadline = time.monotonic() + 10
    while request_id not in served.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = [json.loads(line) for line in served.log.read_text().splitlines() if line.strip()]
    [mine] = [line for line in lines if line.get("request_id") == request_id]
    assert (mine["operation"], mine["role"], mine["status"]) == ("LogMe", "ADVERTISER", 200)
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # its lines, our format
    assert not any("Traceback" in line.get("exc", "") for line in lines)
    for secret in served.tokens.values():
        assert secret not in served.log.read_text()


def test_a_second_start_prints_the_same_demo_tokens(served: Served, tmp_path: Path) -> None:
    process, banner = _start(
        ["--port", str(_free_port())], served.env, tmp_path, tmp_path / "second.log"
    )
    _stop(process)
    assert _tokens(banner) == served.tokens
