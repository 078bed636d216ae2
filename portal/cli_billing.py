"""`portal billing run --period-end DAY [--program ID …] [--dry-run]`: a billing run from the
command line, run in this process (the same service and job function as `startBillingRun`),
with a progress display and a summary table."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from typing import Any

from sqlalchemy import select

from portal.cli_errors import CliError


def _program_pk(raw: str) -> int:
    if raw.isdigit():
        return int(raw)
    from portal.schema.ids import decode_typed

    return decode_typed(raw, "Program", ("program",))


async def _run(
    period_end: date, programs: tuple[int, ...], dry_run: bool, email: str | None
) -> Any:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from portal.adapters.rows import user as user_of
    from portal.adapters.tables import billing_runs, users
    from portal.adapters.unit_of_work import UnitOfWork
    from portal.cli_database import existing_database
    from portal.domain.errors import DomainError, ValidationFailed
    from portal.services.billing_runs import run_billing, start_billing_run

    engine = await existing_database()
    console = Console(stderr=True)
    try:
        async with engine.connect() as conn:
            stmt = select(users).where(users.c.role == "ADMIN").order_by(users.c.id).limit(1)
            if email:
                stmt = select(users).where(users.c.email == email.lower())
            row = (await conn.execute(stmt)).first()
        if row is None:
            raise CliError("no admin user to run billing as (create one: portal token …)")
        viewer = user_of(row).as_viewer()
        try:
            async with UnitOfWork(engine) as uow:
                run_id = await start_billing_run(uow, viewer, period_end, programs, dry_run)
                await uow.commit()
        except ValidationFailed as failed:
            raise CliError("; ".join(f"{e.code}: {e.message}" for e in failed.errors)) from None
        except DomainError as error:
            raise CliError(f"{error.code}: {error.message}") from None
        async with engine.connect() as conn:
            job_id = await conn.scalar(
                select(billing_runs.c.job_id).where(billing_runs.c.id == run_id)
            )
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console, transient=True,
        ) as progress:  # fmt: skip
            progress.add_task(f"billing run {run_id} (up to {period_end.isoformat()})", total=None)
            outcome = await run_billing(engine, job_id)
        async with engine.connect() as conn:
            report = await conn.scalar(
                select(billing_runs.c.report).where(billing_runs.c.id == run_id)
            )
        return run_id, outcome, report
    finally:
        await engine.dispose()


def _summary(run_id: int, outcome: str, report: dict[str, Any] | None, dry_run: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if report is None:
        raise CliError(f"billing run {run_id} {outcome} (see the job's error)")
    title = f"Billing run {run_id}{' (dry run: nothing written)' if dry_run else ''}"
    table = Table(title=title)
    for column in ("partner", "currency", "conversions", "net", "gross", "outcome"):
        table.add_column(
            column, justify="right" if column in ("conversions", "net", "gross") else "left"
        )
    for e in report["entries"]:
        table.add_row(
            str(e["partnerId"]), e["currency"], str(e["count"]), e["net"], e["gross"], "PREVIEW"
        )
    for c in report["carriedOver"]:
        table.add_row(
            str(c["partnerId"]),
            c["currency"],
            "",
            c["amount"],
            "",
            f"carried over (< {c['minimum']})",
        )
    for f in report["failures"]:
        table.add_row(str(f["partnerId"]), "", "", "", "", f"{f['code']}: {f['message']}")
    console.print(table)
    console.print(
        f"{report['conversionCount']} conversions in {len(report['entries'])} payout entries; "
        f"{report['invoicedCount']} in {len(report['invoices'])} advertiser invoices"
        + ("; nothing to bill" if report.get("nothingToBill") else "")
    )


def billing_run(args: argparse.Namespace) -> int:
    try:
        period_end = date.fromisoformat(args.period_end)
    except ValueError:
        raise CliError(f"--period-end {args.period_end!r} is not a day like 2026-03-31") from None
    programs = tuple(_program_pk(p) for p in args.program or ())
    run_id, outcome, report = asyncio.run(_run(period_end, programs, args.dry_run, args.as_user))
    _summary(run_id, outcome, report, args.dry_run)
    return 0 if outcome == "succeeded" else 1


def add_billing_commands(commands: Any) -> None:
    """Registers `billing run` on the subcommands of `portal`."""
    billing = commands.add_parser("billing", help="billing runs")

    def usage(_: argparse.Namespace) -> int:
        billing.print_help(sys.stderr)
        return 2

    billing.set_defaults(run=usage)
    actions = billing.add_subparsers(dest="billing_command", metavar="COMMAND")
    p = actions.add_parser("run", help="bill confirmed conversions up to the end of a day")
    p.add_argument("--period-end", required=True, help="last day of the period (YYYY-MM-DD)")
    p.add_argument("--program", action="append", help="a program (id); default: all")
    p.add_argument("--dry-run", action="store_true", help="compute and report, write nothing")
    p.add_argument("--as", dest="as_user", help="the admin's e-mail (default: the first admin)")
    p.set_defaults(run=billing_run)
