"""Importing conversion request files (SPEC §7) on PostgreSQL: rows per second and peak memory.

    .venv/bin/python -m bench.import_requests [--rows 10000 50000 100000] [--formats csv xlsx] \
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/portal_bench_import]

Drops and recreates the database, migrates, and sets up one advertiser, one EUR program (the
standard targets, `default` category), one partner with an ACTIVE relationship on a 5 % model,
and a PARTNER user. For each size it writes a CSV and an XLSX file (bench/out/, cached) of
CREATE_NEW requests with distinct order ids, 1 % of them CHANGE_EXISTING rows (new order value)
against conversions inserted beforehand and found by order id.

Each import runs in a fresh subprocess (so VmHWM is that run's peak) that, like `portal
worker`, freezes its start-up heap first: `start_import` (structure check, row count, sha256,
copy) then `run_import` (the job: parse, check, insert, in batches), called directly, in
process, no HTTP. Before each run the requests and jobs of earlier runs are truncated (each
run is a file's first upload). Each scenario runs `--repeat` times (3); reported are the best
run (a shared machine only ever slows a run down) and the median:

- rows/s over the whole job (start_import + run_import; every row validated and applied),
- CPU seconds of the process and the seconds its event loop waited for PostgreSQL (idle),
- peak memory: RSS high-water mark of the job (VmHWM, reset via /proc/self/clear_refs just
  before the job) minus RSS before it; with `--tracemalloc` also the tracemalloc peak (a separate
  run per size: tracemalloc slows Python down ~2×, so its rows/s are not reported).

`--phases` adds a run per scenario with timers on the phases (parse, per-row checks, checks
against the database, the writer) and on SQL statements by kind; they cost time themselves.
`--dry-run` adds a dryRun run per size (validates every row, writes nothing), `--all-or-nothing`
an allOrNothing one (a checking pass, then one transaction); `--bad-percent P`
a CSV with P % bad rows (cell errors, the error reports). `--profile FILE` runs cProfile around
one run (the first size and format) and prints the top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import json
import os
import pstats
import random
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "bench" / "out"
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/portal_bench_import"
PROGRAM_NAME = "Bench Shop DE"
CHANGE_SHARE = 100  # every 100th row is a CHANGE_EXISTING row
HEADER = ("request_type", "program", "order_id", "conversion_target", "tracking_category",
          "tracking_time", "order_value", "currency", "sub_id_1", "device", "comment")  # fmt: skip
NOW = datetime.now(UTC).replace(microsecond=0)


def existing_order(n: int) -> str:
    return f"EXIST-{n:07d}"


# -- setup (parent) ----------------------------------------------------------------------------


async def recreate_database(url: str) -> None:
    from portal.adapters.database import create_engine

    parsed = make_url(url)
    name = parsed.database
    assert name and name.isidentifier(), f"unexpected database name {name!r}"
    admin = create_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()


async def build_world(url: str, existing: int) -> dict[str, Any]:
    from portal.adapters.database import create_engine, migrate
    from portal.adapters.tables import conversions
    from portal.adapters.unit_of_work import UnitOfWork
    from portal.demo_data import SYSTEM, add_model, set_relationship
    from portal.domain.access import Role
    from portal.services import access, setup

    await recreate_database(url)
    engine = create_engine(url)
    try:
        await migrate(engine)
        async with UnitOfWork(engine) as uow:
            advertiser = await setup.create_advertiser(uow, SYSTEM, name="Bench Advertiser")
            program = await setup.create_program(
                uow, SYSTEM, advertiser_id=advertiser.id, name=PROGRAM_NAME, currency="EUR"
            )
            partner = await setup.create_partner(
                uow, SYSTEM, name="Bench Partner", payout_currency="EUR", country="DE"
            )
            model_id = await add_model(
                uow, program.id, "standard", NOW - timedelta(days=3 * 365), Decimal(5), None
            )
            await set_relationship(uow, partner.id, program.id, model_id)
            user = await access.create_user(
                uow,
                None,
                email="partner@bench.test",
                name="Bench Partner User",
                role=Role.PARTNER,
                partner_id=partner.id,
            )
            # The conversions the CHANGE_EXISTING rows change (5 % of 100.00 = 5.00, as rated).
            await uow.execute(insert(conversions), [
                {"program_id": program.id, "partner_id": partner.id, "order_id": existing_order(n),
                 "target": "SALE_NEW_CUSTOMER", "target_kind": "SALE", "category": "default",
                 "tracking_time": NOW - timedelta(days=30, minutes=n), "currency": "EUR",
                 "order_value": Decimal("100.00"), "commission": Decimal("5.00"), "status": "OPEN",
                 "commission_model_name": "standard", "commission_breakdown": {},
                 "commission_overridden": False, "basket": [], "created_at": uow.now,
                 "updated_at": uow.now}
                for n in range(existing)
            ])  # fmt: skip
            await uow.commit()
        async with engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(conversions))
        return {
            "user_id": user.id,
            "program_id": program.id,
            "partner_id": partner.id,
            "conversions": count,
        }
    finally:
        await engine.dispose()


def request_rows(count: int, seed: int = 1) -> list[tuple[Any, ...]]:
    """Row values: (request_type, program, order_id, target, category, time, value, currency,
    sub id, device, comment); times as aware datetimes, values as Decimal."""
    rng = random.Random(seed)
    out: list[tuple[Any, ...]] = []
    changes = 0
    for n in range(count):
        if n % CHANGE_SHARE == CHANGE_SHARE - 1:
            value = Decimal(rng.randint(1000, 90000)).scaleb(-2)
            out.append(
                (
                    "CHANGE_EXISTING",
                    PROGRAM_NAME,
                    existing_order(changes),
                    None,
                    None,
                    None,
                    value,
                    None,
                    None,
                    None,
                    "order value corrected",
                )
            )
            changes += 1
            continue
        tracked = NOW - timedelta(days=1, seconds=rng.randrange(300 * 86400))
        value = Decimal(int(rng.lognormvariate(8.5, 0.8)) + 100).scaleb(-2)
        target = "SALE_NEW_CUSTOMER" if rng.random() < 0.6 else "SALE_EXISTING_CUSTOMER"
        out.append(
            (
                "CREATE_NEW",
                PROGRAM_NAME,
                f"IMP-{seed}-{n:07d}",
                target,
                "default",
                tracked,
                value,
                "EUR",
                f"click-{rng.randrange(10**8)}",
                rng.choice(("DESKTOP", "MOBILE", "TABLET")),
                "missed by tracking",
            )
        )
    return out


def write_csv(path: Path, rows: list[tuple[Any, ...]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for r in rows:
            writer.writerow(
                ["" if v is None else v.isoformat() if isinstance(v, datetime) else v for v in r]
            )


def write_xlsx(path: Path, rows: list[tuple[Any, ...]]) -> None:
    """As Excel saves a sheet (XlsxWriter: shared strings, like Excel; openpyxl writes inline
    strings, which no spreadsheet program does): times as date cells (naive, in the import's
    zone, UTC here), amounts as numbers."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("requests")
    when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.write_row(0, 0, HEADER)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, datetime):
                sheet.write_datetime(r, c, value.replace(tzinfo=None), when)
            elif isinstance(value, Decimal):
                sheet.write_number(r, c, float(value))
            else:
                sheet.write_string(r, c, value)
    workbook.close()


def ensure_files(
    sizes: list[int], formats: list[str], bad_percent: int = 0
) -> dict[tuple[int, str], Path]:
    """Files are cached in bench/out/ by size (their tracking times are relative to the day
    they were made, so they are remade after 30 days). With `bad_percent`, also a CSV in which
    that share of the rows has a negative order value (key `csv-bad<percent>`)."""
    files: dict[tuple[int, str], Path] = {}
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for size in sizes:
        rows: list[tuple[Any, ...]] | None = None
        variants = [(fmt, fmt, 0) for fmt in formats]
        if bad_percent:
            variants.append((f"csv-bad{bad_percent}", "csv", bad_percent))
        for key, fmt, bad in variants:
            name = f"import-{size}.{fmt}" if not bad else f"import-{size}-bad{bad}.csv"
            path = OUT_DIR / name
            stale = not path.exists() or time.time() - path.stat().st_mtime > 30 * 86400
            if stale:
                rows = rows or request_rows(size, seed=size)
                content = _spoiled(rows, bad) if bad else rows
                started = time.perf_counter()
                (write_csv if fmt == "csv" else write_xlsx)(path, content)
                print(
                    f"  wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.1f} MB) in "
                    f"{time.perf_counter() - started:.1f} s",
                    flush=True,
                )
            files[(size, key)] = path
    return files


def _spoiled(rows: list[tuple[Any, ...]], percent: int) -> list[tuple[Any, ...]]:
    """Every (100 / percent)-th row with a negative order value (a cell error)."""
    step = max(1, round(100 / percent))
    return [
        (*r[:6], -r[6], *r[7:]) if i % step == step // 2 and r[6] is not None else r
        for i, r in enumerate(rows)
    ]


# -- one run (child process) -------------------------------------------------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class IdleClock:
    """Seconds the event loop waits for the network (PostgreSQL) while the block runs: the part
    of the job in which this process does nothing."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._original = selectors.EpollSelector.select

    def __enter__(self) -> IdleClock:
        original, clock = self._original, self

        def select(selector: Any, timeout: float | None = None) -> Any:
            waited = time.perf_counter()
            try:
                return original(selector, timeout)
            finally:
                clock.seconds += time.perf_counter() - waited

        selectors.EpollSelector.select = select  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        selectors.EpollSelector.select = self._original  # type: ignore[method-assign]


class Phases:
    """Adds up wall time per phase: wrapped functions, and SQL statements by kind."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        elapsed = time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
        words = statement.split(None, 3)
        kind = " ".join(words[:3]) if words[0] in ("INSERT", "UPDATE", "DELETE") else "SELECT"
        if "conversion_requests" in statement and words[0] == "SELECT":
            by = (
                "idempotency_key"
                if "idempotency_key IN" in statement or "idempotency_key =" in statement
                else "open_key"
            )
            kind = f"SELECT conversion_requests by {by}"
        elif "conversions" in statement and words[0] == "SELECT":
            kind = "SELECT conversions"
        self.seconds["sql: " + kind] += elapsed
        self.counts["sql: " + kind] += 1

    def wrap_sync(self, owner: Any, name: str, phase: str) -> None:
        original = getattr(owner, name)
        seconds = self.seconds

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[phase] += time.perf_counter() - started

        setattr(owner, name, timed)

    def wrap_async(self, owner: Any, name: str, phase: str) -> None:
        original = getattr(owner, name)
        seconds = self.seconds

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                seconds[phase] += time.perf_counter() - started

        setattr(owner, name, timed)


async def child(args: argparse.Namespace) -> dict[str, Any]:
    from portal.adapters.database import create_engine
    from portal.adapters.request_files import TableSource
    from portal.adapters.tables import conversion_requests, jobs
    from portal.adapters.unit_of_work import UnitOfWork
    from portal.config import Settings
    from portal.domain.access import Role, Viewer
    from portal.heap import freeze_startup_heap
    from portal.services import import_pass, import_rows, imports

    engine = create_engine(args.database_url)
    async with engine.begin() as conn:
        # Each run a first upload: no requests, no earlier import of the file.
        await conn.execute(text("TRUNCATE conversion_requests, import_errors, jobs CASCADE"))
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE conversion_requests"))
    data_dir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    settings = Settings(
        database_url=args.database_url, redis_url=None, secret_key="bench", data_dir=data_dir
    )
    viewer = Viewer(user_id=args.user_id, role=Role.PARTNER, partner_id=args.partner_id)
    options = imports.ImportOptions(dry_run=args.dry, all_or_nothing=args.atomic, time_zone="UTC")
    limits = imports.ImportLimits(max_bytes=500 * 1024 * 1024, max_rows=1_000_000)
    phases = Phases(engine) if args.phases else None
    if phases is not None:
        phases.wrap_sync(TableSource, "count_rows", "start: count rows")
        phases.wrap_sync(imports, "_sha256", "start: sha256")
        phases.wrap_sync(import_rows.RowParser, "parse", "parse (RowParser.parse, per row)")
        phases.wrap_async(import_pass, "_check_rows", "checks of each row (a batch at a time)")
        phases.wrap_async(import_pass, "_check_keys", "checks against the database (task, wall)")
        phases.wrap_async(import_pass._Writer, "_write", "writer (task, wall)")
        phases.wrap_async(import_pass._Writer, "_wait", "waiting for the writer")
    # Warm the pool and the imports, so the job measures the job; then freeze the start-up
    # heap, as `portal worker` and `portal serve` do.
    async with engine.connect() as conn:
        await conn.scalar(select(func.count()).select_from(jobs))
    freeze_startup_heap()
    idle = IdleClock()
    profiler = cProfile.Profile() if args.profile_to else None
    rss_before = _status_kib("VmRSS")
    hwm_reset = _reset_hwm()
    if args.tracemalloc:
        tracemalloc.start()
    if profiler is not None:
        profiler.enable()
    started, cpu_started = time.perf_counter(), time.process_time()
    async with UnitOfWork(engine) as uow:
        job_id = await imports.start_import(
            uow, viewer, settings, Path(args.file), Path(args.file).name, options, limits
        )
        await uow.commit()
    started_job = time.perf_counter()
    with idle:
        outcome = await imports.run_import(engine, settings, job_id)
    finished, cpu = time.perf_counter(), time.process_time() - cpu_started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile_to)
    traced_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
    if args.tracemalloc:
        tracemalloc.stop()
    hwm = _status_kib("VmHWM")
    async with engine.connect() as conn:
        job = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).one()
        stored = await conn.scalar(select(func.count()).select_from(conversion_requests))
    await engine.dispose()
    return {
        "file": Path(args.file).name,
        "dry": args.dry,
        "atomic": args.atomic,
        "outcome": outcome,
        "status": job.status,
        "job_error": job.error,
        "processed": job.processed,
        "created": job.created_count,
        "errors": job.error_count,
        "stored": stored,
        "start_s": started_job - started,
        "run_s": finished - started_job,
        "total_s": finished - started,
        "cpu_s": cpu,
        "idle_s": idle.seconds,
        "rss_before_mib": rss_before / 1024,
        "hwm_mib": hwm / 1024,
        "hwm_reset": hwm_reset,
        "rss_delta_mib": (hwm - rss_before) / 1024,
        "tracemalloc_peak_mib": None if traced_peak is None else traced_peak / 2**20,
        "phases": dict(phases.seconds) if phases else {},
        "counts": dict(phases.counts) if phases else {},
    }


# -- driver (parent) ---------------------------------------------------------------------------


def run_child(
    args: argparse.Namespace,
    world: dict[str, Any],
    path: Path,
    *,
    dry: bool = False,
    atomic: bool = False,
    traced: bool = False,
    phases: bool = False,
    profile_to: str | None = None,
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.import_requests",
        "--child",
        "--database-url",
        args.database_url,
        "--file",
        str(path),
        "--user-id",
        str(world["user_id"]),
        "--partner-id",
        str(world["partner_id"]),
    ]
    if dry:
        command.append("--dry")
    if atomic:
        command.append("--atomic")
    if traced:
        command.append("--tracemalloc")
    if phases:
        command.append("--phases")
    if profile_to:
        command += ["--profile-to", profile_to]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"child failed: {' '.join(command)}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def report(rows: int, results: list[dict[str, Any]]) -> None:
    """The best of the runs (the fewest seconds: the least disturbed by the rest of the
    machine), the median, and the best run's CPU, idle time and memory."""
    best = min(results, key=lambda r: r["total_s"])
    median = statistics.median(r["total_s"] for r in results)
    print(
        f"  {best['file']:<24} {_mode(best):<7} {best['status']:<9} "
        f"processed {best['processed']:>7} created {best['created']:>7} errors {best['errors']:>5} "
        f"| {rows / best['total_s']:7.0f} rows/s (best of {len(results)}; median "
        f"{rows / median:6.0f}) = start_import {best['start_s']:5.2f} s + job "
        f"{best['run_s']:6.2f} s | CPU {best['cpu_s']:5.2f} s, idle {best['idle_s']:4.2f} s "
        f"| VmHWM {best['hwm_mib']:.0f} MiB, +{best['rss_delta_mib']:.0f} MiB",
        flush=True,
    )
    if best["job_error"]:
        print("    job error:", best["job_error"])
    for phase, seconds in sorted(best["phases"].items(), key=lambda kv: -kv[1]):
        count = best["counts"].get(phase)
        print(f"      {phase:<52} {seconds:7.2f} s" + (f"  ({count} statements)" if count else ""))


def _mode(result: dict[str, Any]) -> str:
    return "dryRun" if result["dry"] else "atomic" if result.get("atomic") else "apply"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("PORTAL_BENCH_IMPORT_URL", DEFAULT_URL)
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--formats", nargs="+", default=["csv", "xlsx"], choices=["csv", "xlsx"])
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (best reported)")
    parser.add_argument("--dry-run", action="store_true", help="also a dryRun run per size (CSV)")
    parser.add_argument(
        "--all-or-nothing", action="store_true", help="also an allOrNothing run per size (CSV)"
    )
    parser.add_argument(
        "--bad-percent",
        type=int,
        default=0,
        help="also a CSV whose rows are bad in this share (a negative order value)",
    )
    parser.add_argument(
        "--phases", action="store_true", help="also a run per scenario with phase timers"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also a tracemalloc run per size (CSV)"
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="cProfile one run (first size and format) into FILE"
    )
    parser.add_argument(
        "--skip-setup", action="store_true", help="reuse the database of an earlier run"
    )
    # Child process options.
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--user-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--partner-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dry", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--atomic", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(args))))
        return

    existing = max(args.rows) // CHANGE_SHARE
    world_file = OUT_DIR / "import-world.json"
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if args.skip_setup and world_file.exists():
        world = json.loads(world_file.read_text())
    else:
        started = time.perf_counter()
        world = asyncio.run(build_world(args.database_url, existing))
        world_file.write_text(json.dumps(world))
        print(
            f"setup: {world['conversions']} conversions to change, "
            f"in {time.perf_counter() - started:.1f} s"
        )
    files = ensure_files(args.rows, args.formats, args.bad_percent)
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, {os.cpu_count()} CPUs")
    if args.profile:
        size, fmt = args.rows[0], args.formats[0]
        result = run_child(args, world, files[(size, fmt)], profile_to=args.profile)
        report(size, [result])
        stats = pstats.Stats(args.profile)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        return

    def scenario(size: int, path: Path, dry: bool = False, atomic: bool = False) -> None:
        runs = [run_child(args, world, path, dry=dry, atomic=atomic) for _ in range(args.repeat)]
        report(size, runs)
        if args.phases:
            report(size, [run_child(args, world, path, dry=dry, atomic=atomic, phases=True)])

    for size in args.rows:
        for fmt in args.formats:
            scenario(size, files[(size, fmt)])
        if args.dry_run:
            scenario(size, files[(size, args.formats[0])], dry=True)
        if args.all_or_nothing:
            scenario(size, files[(size, args.formats[0])], atomic=True)
        if args.bad_percent:
            scenario(size, files[(size, f"csv-bad{args.bad_percent}")])
        if args.tracemalloc:
            traced = run_child(args, world, files[(size, args.formats[0])], traced=True)
            print(
                f"  {traced['file']:<24} tracemalloc peak {traced['tracemalloc_peak_mib']:.1f} MiB "
                f"(VmHWM {traced['hwm_mib']:.0f} MiB, +{traced['rss_delta_mib']:.0f} MiB; "
                f"status {traced['status']}, "
                f"processed {traced['processed']})",
                flush=True,
            )
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
