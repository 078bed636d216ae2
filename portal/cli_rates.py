"""`portal rates import FILE`: imports an ECB reference rate file as the trusted system."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from portal.adapters.unit_of_work import UnitOfWork
from portal.services.rates import ImportedRates, import_exchange_rates


async def _import(content: bytes, filename: str) -> ImportedRates:
    from portal.cli_database import existing_database
    from portal.demo_data import SYSTEM

    engine = await existing_database()
    try:
        async with UnitOfWork(engine) as uow:
            imported = await import_exchange_rates(uow, SYSTEM, content, filename)
            await uow.commit()
        return imported
    finally:
        await engine.dispose()


def describe(imported: ImportedRates) -> str:
    skipped = ", ".join(imported.skipped_currencies) or "none"
    return (
        f"imported {imported.count} rates ({imported.first_day.isoformat()} …"
        f" {imported.last_day.isoformat()}, {', '.join(imported.currencies)};"
        f" {imported.changed_count} new or changed), skipped currencies: {skipped}"
    )


def import_rates(args: argparse.Namespace) -> int:
    path = Path(args.file)
    content = path.read_bytes()  # a missing file is one line (portal.cli_errors)
    imported = asyncio.run(_import(content, path.name))
    print(describe(imported))
    return 0


def add_rates_commands(commands: Any) -> None:
    """Registers `rates import` on the subcommands of `portal`."""
    rates = commands.add_parser("rates", help="reference exchange rates")

    def usage(_: argparse.Namespace) -> int:
        rates.print_help(sys.stderr)
        return 2

    rates.set_defaults(run=usage)
    actions = rates.add_subparsers(dest="rates_command", metavar="COMMAND")
    p = actions.add_parser("import", help="import an ECB euro reference rate file (XML or CSV)")
    p.add_argument("file", help="path of the file")
    p.set_defaults(run=import_rates)
