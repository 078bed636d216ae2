"""`portal events prune [--older-than-days N]`: prunes the events outbox now, as the worker
(or `portal serve` without Redis) does every hour."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from portal.cli_errors import CliError
from portal.domain.events import retention_problem


async def _prune(older_than_days: int) -> int:
    from portal.cli_database import existing_database
    from portal.services.webhooks import prune_events

    engine = await existing_database()
    try:
        return await prune_events(engine, older_than_days)
    finally:
        await engine.dispose()


def prune(args: argparse.Namespace) -> int:
    days = args.older_than_days
    if days is None:
        from portal.config import Settings

        days = Settings.from_env().event_retention_days
    elif (problem := retention_problem(days)) is not None:
        raise CliError(f"--older-than-days must be {problem}")
    deleted = asyncio.run(_prune(days))
    print(f"deleted {deleted} events older than {days} days")
    return 0


def add_events_commands(commands: Any) -> None:
    """Registers `events prune` on the subcommands of `portal`."""
    group = commands.add_parser("events", help="the events outbox (webhooks)")

    def usage(_: argparse.Namespace) -> int:
        group.print_help(sys.stderr)
        return 2

    group.set_defaults(run=usage)
    actions = group.add_subparsers(dest="events_command", metavar="COMMAND")
    p = actions.add_parser(
        "prune",
        help="delete old events whose webhook deliveries are all final",
        description="Deletes the events older than the retention that are dispatched and "
        "whose webhook deliveries are all delivered or failed for good (or that have none), "
        "with their deliveries and attempts; prints how many. Events with a pending delivery "
        "stay. The worker (or `portal serve` without Redis) does this every hour.",
    )
    p.add_argument(
        "--older-than-days",
        type=int,
        default=None,
        metavar="N",
        help="retention in days (default: PORTAL_EVENT_RETENTION_DAYS, 90)",
    )
    p.set_defaults(run=prune)
