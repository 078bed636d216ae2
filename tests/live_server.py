"""A real uvicorn server in a subprocess, for tests that need a live HTTP endpoint (the
graphql-http audit, the browser test, the HTTP fuzz, `portal import`). It serves the app factory
as `portal serve` does, on a free port of 127.0.0.1, with the given SQLite database and
settings; its output goes to `<data_dir>/uvicorn.log`."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def live_server(
    database: Path, data_dir: Path, factory: str = "portal.web.app:create_app", **env: str
) -> Iterator[str]:
    """Yields the base URL (`http://127.0.0.1:<port>`) while the server runs."""
    port = free_port()
    environment = {
        **os.environ,
        "PORTAL_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "PORTAL_DATA_DIR": str(data_dir),
        "PORTAL_SECRET_KEY": "live-server-test-key",
        **env,
    }
    environment.pop("PORTAL_REDIS_URL", None)
    log = data_dir / "uvicorn.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                factory,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, process, log)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within 60 s:\n{log.read_text(errors='replace')}")
