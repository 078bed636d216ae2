"""Rendering billing documents (issue 11): PDFs per second by number of lines, run sheets (CSV,
XLSX) rows per second, SEPA files entries per second, and the peak memory of each.

No database and no server: the renderers take domain values (`portal/domain/billing/document.py`)
and issue no SQL statement (0 per download; the download endpoint's own reads are measured with
the billing API). Throughput is per CPU second of this process (the machine is shared). Peak
memory is tracemalloc's peak of one render, in a separate pass (tracemalloc slows Python down,
so that pass's times are not reported).

    .venv/bin/python -m bench.billing_documents            # under 2 minutes on the shared machine
    .venv/bin/python -m bench.billing_documents --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from portal.adapters.billing_documents.pdf import render_pdf
from portal.adapters.billing_documents.sepa import _schema, render_sepa
from portal.adapters.billing_documents.sheets import write_run_sheet
from portal.adapters.spreadsheets import TableFormat
from portal.domain.billing.document import (
    BankAccount,
    BillingDocument,
    DocumentLine,
    LineRate,
    RunSheetRow,
    Vat,
)
from tests.billing_documents import credit_note

NETWORK = BankAccount("Netzwerk Süd GmbH", "DE02120300000000202051", "BYLADEM1001")
IBANS = ("DE89370400440532013000", "FR1420041010050500013M02606", "AT611904300234573201")


def document_with(lines: int) -> BillingDocument:
    rows = tuple(
        DocumentLine(
            f"Programm {n} – Bücher & Reisen",
            n,
            Decimal(n) + Decimal("0.99"),
            "USD",
            (Decimal(n) + Decimal("0.99")) / 2,
            LineRate(Decimal("0.5"), date(2026, 11, 30)),
        )
        for n in range(1, lines + 1)
    )
    # `/ 2` of an amount with two places may need three: keep lines final for the check.
    rows = tuple(
        replace(line, line_amount=line.line_amount.quantize(Decimal("0.01"))) for line in rows
    )
    net = sum((line.line_amount for line in rows), Decimal(0))
    return credit_note(lines=rows, net=net, vat=Vat(Decimal("19"), Decimal("0.00")), gross=net)


def entries(count: int) -> list[RunSheetRow]:
    return list(iter_entries(count))


def iter_entries(count: int) -> Iterator[RunSheetRow]:
    return (
        RunSheetRow(
            number=f"GS-2026-{n:06d}",
            partner_id=f"UGFydG5lcjo{n}",
            partner=f"Partner Nr. {n} Müller",
            currency="EUR",
            net=Decimal(n) + Decimal("0.10"),
            vat=Decimal("0.00"),
            gross=Decimal(n) + Decimal("0.10"),
            status="CONFIRMED",
            account=BankAccount(f"Holder {n}", IBANS[n % 3], "COBADEFFXXX"),
            payment_reference=f"GS-2026-{n:06d}",
        )
        for n in range(1, count + 1)
    )


def timed(action: Callable[[], object], repeat: int) -> float:
    """CPU seconds per call (process time: on a shared machine wall time mostly measures the
    neighbours)."""
    started = time.process_time()
    for _ in range(repeat):
        action()
    return (time.process_time() - started) / repeat


def peak_mib(action: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    args = parser.parse_args()
    repeat = 1 if args.quick else 2
    line_counts = (3,) if args.quick else (3, 30, 100)
    row_counts = {
        TableFormat.CSV: (1_000,) if args.quick else (1_000, 20_000),
        TableFormat.XLSX: (1_000,) if args.quick else (1_000, 3_000),
    }
    sepa_counts = (100,) if args.quick else (100, 500)

    print(f"{'what':<28}{'size':>9}{'per CPU s':>14}{'CPU s':>10}{'peak MiB':>10}")
    for lines in line_counts:
        document = document_with(lines)
        size = len(render_pdf(document))
        seconds = timed(lambda d=document: render_pdf(d), repeat)  # type: ignore[misc]
        peak = peak_mib(lambda d=document: render_pdf(d))  # type: ignore[misc]
        print(
            f"{'PDF, lines':<28}{lines:>9,}{1 / seconds:>14.2f}{seconds:>10.3f}{peak:>10.1f}"
            f"   ({size / 1024:.0f} KiB)"
        )
    with tempfile.TemporaryDirectory() as directory:
        for fmt in (TableFormat.CSV, TableFormat.XLSX):
            for count in row_counts[fmt]:
                rows = entries(count)
                path = Path(directory) / f"run.{fmt.extension}"
                seconds = timed(lambda r=rows, p=path, f=fmt: write_run_sheet(p, r, f), 1)  # type: ignore[misc]
                # Streamed: the rows come from a generator, so only the writer's memory counts.
                peak = peak_mib(
                    lambda c=count, p=path, f=fmt: write_run_sheet(  # type: ignore[misc]
                        p, iter_entries(c), f
                    )
                )
                print(
                    f"{'run sheet ' + fmt.value + ', rows':<28}{count:>9,}"
                    f"{count / seconds:>14,.0f}{seconds:>10.3f}{peak:>10.1f}"
                )
    seconds = timed(_schema, 1)
    print(f"{'SEPA schema, parsed once':<28}{'':>9}{'':>14}{seconds:>10.3f}")
    for count in sepa_counts:
        rows = entries(count)
        run = lambda r=rows: render_sepa(r, NETWORK, date(2026, 12, 4))  # type: ignore[misc]  # noqa: E731
        seconds = timed(run, 1)
        peak = peak_mib(run)
        print(
            f"{'SEPA pain.001, entries':<28}{count:>9,}{count / seconds:>14,.0f}"
            f"{seconds:>10.3f}{peak:>10.1f}"
        )
    print("SQL statements per render: 0 (renderers take domain values)")


if __name__ == "__main__":
    main()
