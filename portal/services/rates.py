"""Importing the ECB euro reference rates (SPEC §3): the use case behind the
`importExchangeRates` mutation, the `portal rates import` command and the demo data."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

from portal.adapters.ecb import BASE_CURRENCY, parse_ecb_file
from portal.adapters.rate_reader import stored_rates
from portal.adapters.rate_store import upsert_rates
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.services.scope import require_admin


@dataclass(frozen=True, slots=True)
class ImportedRates:
    count: int
    """Rates in the file (the ones of skipped currencies not counted)."""
    changed_count: int
    """Rates that were new or differed from the stored ones: 0 when a file is imported again."""
    first_day: date
    last_day: date
    currencies: tuple[str, ...]
    """The currencies with rates in the file, sorted."""
    skipped_currencies: tuple[str, ...]
    """Codes in the file that are not ISO 4217 currencies in use, sorted; not imported."""


def require_rate_importer(viewer: Viewer) -> None:
    """Only admins maintain the reference rates. Callers holding an upload ask this before
    reading it, so that nobody else can make the server read a file."""
    require_admin(viewer)


async def import_exchange_rates(
    uow: UnitOfWork, viewer: Viewer, content: bytes, filename: str | None
) -> ImportedRates:
    """Stores the rates of an ECB rate file (XML or CSV) in the unit of work, replacing stored
    rates of the same currency and day that differ. A file with any problem stores nothing:
    the parse raises the coded `DomainError` (field ``file``) before anything is written.
    The caller commits."""
    require_rate_importer(viewer)
    # Parsing a historic file takes a while: keep the event loop free meanwhile.
    parsed = await asyncio.to_thread(parse_ecb_file, content, filename)
    rates = parsed.rates
    first_day, last_day = rates[0].day, rates[-1].day
    stored = await stored_rates(uow.conn, BASE_CURRENCY, first_day, last_day)
    changed = [r for r in rates if stored.get((r.currency, r.day)) != r.rate]
    await upsert_rates(uow.conn, changed)
    return ImportedRates(
        count=len(rates),
        changed_count=len(changed),
        first_day=first_day,
        last_day=last_day,
        currencies=tuple(sorted({r.currency for r in rates})),
        skipped_currencies=parsed.skipped_currencies,
    )
