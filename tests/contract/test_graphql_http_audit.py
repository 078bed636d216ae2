"""The official GraphQL-over-HTTP audit (npm graphql-http 1.23.1, tools/http-audit) against a
live uvicorn server: every MUST, SHOULD and MAY audit passes.

Needs Node and `npm ci --prefix tools/http-audit` (.ci/run does both); skipped without them
outside CI, failing under CI=true. The results are written to
bench/out/graphql-http-audit.json (a CI artefact, git-ignored).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from tests.conftest import unavailable
from tests.live_server import live_server

ROOT = Path(__file__).resolve().parents[2]
AUDIT = ROOT / "tools" / "http-audit"
REPORT = ROOT / "bench" / "out" / "graphql-http-audit.json"


def test_the_graphql_http_audit_finds_no_failure(tmp_path: Path, sqlite_template: Path) -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("Node.js (node), to run the graphql-http audit")
    if not (AUDIT / "node_modules" / "graphql-http").is_dir():
        unavailable("the graphql-http audit (npm ci --prefix tools/http-audit)")
    assert node is not None
    database = tmp_path / "portal.db"
    shutil.copyfile(sqlite_template, database)

    with live_server(database, tmp_path / "data") as base:
        completed = subprocess.run(
            [node, "audit.mjs", f"{base}/graphql"],
            cwd=AUDIT,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    results = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(results, indent=2))
    by_level = Counter((r["name"].split()[0], r["status"]) for r in results)
    failed = [r for r in results if r["status"] != "ok"]
    assert len(results) >= 60, completed.stderr  # 61 audits in 1.23.1
    assert failed == [], f"{by_level}: {failed}"
    assert completed.returncode == 0, completed.stderr
