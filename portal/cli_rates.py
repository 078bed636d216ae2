"""`portal rates import FILE`: imports an ECB reference rate file as the trusted system."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from portal.adapters.database import create_engine, migrate
from portal.adapters.unit_of_work import UnitOfWork
from portal.config import Settings
from portal.domain.errors import DomainError
from portal.services.rates import ImportedRates, import_exchange_rates


async def _import(settings: Settings, content: bytes, filename: str) -> ImportedRates:
    from portal.demo_data import SYSTEM

    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
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
    try:
        content = path.read_bytes()
    except OSError as error:
        print(f"error: cannot read {path}: {error.strerror}", file=sys.stderr)
        return 2
    try:
        imported = asyncio.run(_import(Settings.from_env(), content, path.name))
    except DomainError as error:
        print(f"error: {error.code}: {error.message}", file=sys.stderr)
        return 1
    print(describe(imported))
    return 0


def add_rates_commands(commands: Any) -> None:
    """Registers `rates import` on the subcommands of `portal`."""
    rates = commands.add_parser("rates", help="reference exchange rates")
    actions = rates.add_subparsers(dest="rates_command", required=True)
    p = actions.add_parser("import", help="import an ECB euro reference rate file (XML or CSV)")
    p.add_argument("file", help="path of the file")
    p.set_defaults(run=import_rates)
