"""`portal import FILE --token T`: uploads a request file to a running portal and follows the
job with a progress bar. Exit status: 0 all rows applied (a dry run: would be), 2 some rows had
errors, 1 the file or the job failed. A missing file or an unreachable server raises, and the
command line reports it in one line (portal.cli_errors)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

UPLOAD = """mutation($input: ImportConversionRequestsInput!) {
  importConversionRequests(input: $input) {
    importJob { id } userErrors { field code message } } }"""
STATUS = """query($id: ID!) { node(id: $id) { ... on ImportJob {
  status createdCount errorCount error errorReportUrl progress { processed total } } } }"""
FINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


def run_import(
    path: Path,
    token: str,
    url: str,
    *,
    dry_run: bool,
    all_or_nothing: bool,
    time_zone: str,
    console: Console | None = None,
    poll_seconds: float = 0.5,
) -> int:
    console = console or Console(stderr=True)
    headers = {"Authorization": f"Bearer {token}"}
    operations = {
        "query": UPLOAD,
        "variables": {
            "input": {
                "file": None,
                "dryRun": dry_run,
                "allOrNothing": all_or_nothing,
                "timeZone": time_zone,
            }
        },
    }
    with (
        httpx.Client(base_url=url, headers=headers, timeout=300) as client,
        path.open("rb") as handle,
    ):
        response = client.post(
            "/graphql",
            data={
                "operations": json.dumps(operations),
                "map": json.dumps({"0": ["variables.input.file"]}),
            },
            files={"0": (path.name, handle, "application/octet-stream")},
        )
        body = _json(response, console)
        if body is None:
            return 1
        payload = body["data"]["importConversionRequests"]
        if payload["userErrors"]:
            for error in payload["userErrors"]:
                console.print(f"[red]{error['code']}[/red]: {error['message']}")
            return 1
        job_id = payload["importJob"]["id"]
        job = _follow(client, job_id, console, poll_seconds)
    if job is None:
        return 1
    if job["status"] != "SUCCEEDED":
        console.print(f"[red]import {job['status']}[/red]: {job.get('error')}")
        return 1
    console.print(summary(job["createdCount"], job["errorCount"], dry_run=dry_run))
    if job["errorReportUrl"]:
        console.print(
            f"error report: {url.rstrip('/')}{job['errorReportUrl']} (or …/errors.xlsx)",
            soft_wrap=True,  # a URL to copy, in one piece
        )
        return 2
    return 0


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def summary(created: int, errors: int, *, dry_run: bool) -> str:
    if dry_run:
        return (
            f"[yellow]dry run[/yellow]: {_count(created, 'request')} would be created, "
            f"{_count(errors, 'cell error')}; nothing was written"
        )
    return f"{_count(created, 'request')} created, {_count(errors, 'cell error')}"


def _json(response: httpx.Response, console: Console) -> dict[str, Any] | None:
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        console.print(f"[red]HTTP {response.status_code}[/red]: {response.text[:200]}")
        return None
    if body.get("errors"):
        for error in body["errors"]:
            console.print(
                f"[red]{error.get('extensions', {}).get('code', 'ERROR')}[/red]: {error['message']}"
            )
        return None
    return body


def _follow(
    client: httpx.Client, job_id: str, console: Console, poll_seconds: float
) -> dict[str, Any] | None:
    columns = (
        TextColumn("[bold]importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("rows", total=None)
        while True:
            body = _json(
                client.post("/graphql", json={"query": STATUS, "variables": {"id": job_id}}),
                console,
            )
            if body is None or body["data"]["node"] is None:
                return None
            job: dict[str, Any] = body["data"]["node"]
            progress.update(
                task, completed=job["progress"]["processed"], total=job["progress"]["total"]
            )
            if job["status"] in FINAL:
                return job
            time.sleep(poll_seconds)
