"""Reading the rows of a request workbook: portal's reader against python-calamine and
openpyxl's public read-only mode. Speed and peak memory, each reader in a fresh process.

    .venv/bin/python -m bench.xlsx_readers [--rows 10000 100000] [--repeat 3]

The files are bench/import_requests.py's (XlsxWriter, shared strings, as Excel writes them;
made once in bench/out/). Each run reads every row's values, as the import job does, and
reports wall and CPU seconds and the peak RSS the read added (VmHWM after minus RSS before).
Readers that are not installed are left out (`pip install python-calamine` to include it)."""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.import_requests import ensure_files


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def portal_rows(path: Path) -> Iterator[Any]:
    from portal.adapters.xlsx_reader import XlsxSheet

    with path.open("rb") as handle:
        sheet = XlsxSheet(handle)
        try:
            for _, values in sheet.rows():
                yield values
        finally:
            sheet.close()


def calamine_rows(path: Path) -> Iterator[Any]:
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_path(str(path))
    try:
        yield from workbook.get_sheet_by_index(0).iter_rows()
    finally:
        workbook.close()


def openpyxl_rows(path: Path) -> Iterator[Any]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=False)
    try:
        sheet = workbook.worksheets[0]
        yield from sheet.iter_rows(values_only=True)
    finally:
        workbook.close()


READERS: dict[str, Callable[[Path], Iterator[Any]]] = {
    "portal": portal_rows,
    "calamine": calamine_rows,
    "openpyxl": openpyxl_rows,
}


def available(name: str) -> bool:
    module = {"portal": "portal", "calamine": "python_calamine", "openpyxl": "openpyxl"}[name]
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def child(reader: str, path: Path) -> dict[str, Any]:
    before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    started, cpu = time.perf_counter(), time.process_time()
    rows = cells = 0
    for values in READERS[reader](path):
        rows += 1
        cells += sum(v is not None and v != "" for v in values)
    return {
        "rows": rows,
        "cells": cells,
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "peak_mib": (_status_kib("VmHWM") - before) / 1024,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", type=int, default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return
    files = ensure_files(args.rows, ["xlsx"])
    readers = [name for name in READERS if available(name)]
    print(
        f"{'rows':>8} {'reader':<9} {'rows/s (best)':>14} {'s (median)':>10} {'CPU s':>7} "
        f"{'peak MiB':>9}  cells"
    )
    for size in args.rows:
        path = files[(size, "xlsx")]
        for reader in readers:
            runs = [
                json.loads(
                    subprocess.run(
                        [sys.executable, "-m", "bench.xlsx_readers", "--child", reader, str(path)],
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                )
                for _ in range(args.repeat)
            ]
            best = min(runs, key=lambda r: r["seconds"])
            median = statistics.median(r["seconds"] for r in runs)
            print(
                f"{size:>8} {reader:<9} {best['rows'] / best['seconds']:>14,.0f} {median:>10.2f} "
                f"{best['cpu']:>7.2f} {max(r['peak_mib'] for r in runs):>9.1f}  {best['cells']:,}",
                flush=True,
            )


if __name__ == "__main__":
    main()
