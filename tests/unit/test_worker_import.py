"""Importing the arq worker settings (`arq portal.jobs.worker.WorkerSettings`, `portal worker`,
a test, a linter) has no side effects (issue 14): it used to create the data directory and
a new secret key file at import time, from wherever it was imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
from portal.jobs import worker
print(worker.WorkerSettings.queue_name)
print(worker.WorkerSettings.redis_settings.host, worker.WorkerSettings.redis_settings.port)
"""


def _import_worker(tmp_path: Path, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    clean.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "xdg"), **env)
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=clean,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_importing_the_worker_settings_creates_no_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    _import_worker(tmp_path, PORTAL_DATA_DIR=str(data_dir))

    assert not data_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [], list(tmp_path.rglob("*"))


def test_the_worker_serves_the_queue_and_redis_of_its_environment(tmp_path: Path) -> None:
    from portal.jobs.queue import queue_name_of

    url = "postgresql+asyncpg://portal@db.example:5432/portal"
    queue, redis = _import_worker(
        tmp_path, PORTAL_DATABASE_URL=url, PORTAL_REDIS_URL="redis://cache.example:6380/2"
    )

    assert queue == queue_name_of(url)
    assert redis == "cache.example 6380"
    # Without PORTAL_DATABASE_URL, the embedded database of the data directory, as the server.
    embedded = tmp_path / "embedded"
    queue, _ = _import_worker(tmp_path, PORTAL_DATA_DIR=str(embedded))
    assert queue == queue_name_of(f"sqlite+aiosqlite:///{embedded.resolve() / 'portal.db'}")
    assert not embedded.exists()
