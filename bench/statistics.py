"""Dashboard statistics on the bench database: server time of `statistics` per scenario.

    .venv/bin/python -m bench.statistics [--tokens bench/out/tokens.json] [--runs 30]

Reads the tokens `python -m bench.generate` wrote. Each scenario is one GraphQL request,
served in process through the ASGI app (the same stack uvicorn runs, without the socket), run
once to warm up and then `--runs` times: p50/p95/max server time, the process's CPU time (the
server's work without the waits a loaded machine adds; PostgreSQL's work is not in it), SQL
statements per
request, rows, and the peak RSS of the process. A scenario with a currency needs rates: when
the database has none for USD/GBP, synthetic daily EUR rates are stored first (labelled so).
Every loop is bounded; the whole run takes well under two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, func, select, text

from portal.adapters.database import create_engine
from portal.adapters.rate_store import upsert_rates
from portal.adapters.tables import exchange_rates
from portal.config import Settings
from portal.domain.exchange_rates import ReferenceRate
from portal.web.app import create_app

OUT_DIR = Path(__file__).resolve().parent / "out"
TWELVE_MONTHS = {"from": "2025-06-01", "to": "2026-05-31"}
QUERY = """
query Stats($filter: StatisticsFilterInput!, $groupBy: [StatisticsGroupBy!],
            $currency: CurrencyCode, $timeZone: String) {
  statistics(filter: $filter, groupBy: $groupBy, currency: $currency, timeZone: $timeZone) {
    rows {
      periodStart currency partner { id name } program { id name }
      conversionCount orderValue { amount } commission { amount } averageOrderValue { amount }
      confirmed { conversionCount orderValue { amount } }
      open { conversionCount } rejected { conversionCount }
    }
    totals { currency conversionCount orderValue { amount } commission { amount } }
    userErrors { code message }
  }
}
"""
SCENARIOS: list[tuple[str, str, dict[str, Any]]] = [
    ("advertiser, 12 months by DAY (UTC)", "advertiser", {"groupBy": ["DAY"]}),
    (
        "advertiser, 12 months by DAY, Europe/Berlin",
        "advertiser",
        {"groupBy": ["DAY"], "timeZone": "Europe/Berlin"},
    ),
    (
        "advertiser, 12 months by DAY in EUR (converted)",
        "advertiser",
        {"groupBy": ["DAY"], "currency": "EUR"},
    ),
    ("advertiser, 12 months by PARTNER (top partners)", "advertiser", {"groupBy": ["PARTNER"]}),
    (
        "biggest partner, 12 months by PROGRAM and MONTH",
        "partner",
        {"groupBy": ["PROGRAM", "MONTH"]},
    ),
    ("biggest partner, last 30 days by DAY", "partner", {"groupBy": ["DAY"], "days": 30}),
]


async def ensure_rates(url: str) -> str:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            stored = await conn.scalar(
                select(func.count())
                .select_from(exchange_rates)
                .where(exchange_rates.c.currency.in_(("USD", "GBP")))
            )
            if stored:
                return "stored rates"
            day, rates = date(2025, 5, 20), []
            while day <= date(2026, 6, 1):
                if day.weekday() < 5:  # the ECB publishes on working days
                    n = (day - date(2025, 5, 20)).days
                    rates.append(
                        ReferenceRate("EUR", "USD", day, Decimal("1.08") + Decimal(n % 37) / 1000)
                    )
                    rates.append(
                        ReferenceRate("EUR", "GBP", day, Decimal("0.85") + Decimal(n % 23) / 1000)
                    )
                day += timedelta(days=1)
            await upsert_rates(conn, rates)
            return f"{len(rates)} synthetic rates stored"
    finally:
        await engine.dispose()


async def run(info: dict[str, Any], runs: int) -> None:
    url = info["database_url"]
    print(await ensure_rates(url))
    engine = create_engine(url)
    counted: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: counted.append(a[2]))
    settings = Settings(url, None, "bench", OUT_DIR / "data")
    app = create_app(settings, engine=engine)
    async with engine.connect() as conn:
        size = await conn.scalar(text("SELECT count(*) FROM conversions"))
    print(f"{size:,} conversions; {runs} warm runs per scenario\n")
    print(
        "| scenario | rows | p50 ms | p95 ms | max ms | CPU p50 ms | CPU p95 ms | SQL statements |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=60
        ) as client,
    ):
        for name, role, extra in SCENARIOS:
            extra = dict(extra)
            days = extra.pop("days", None)
            period = dict(TWELVE_MONTHS)
            if days:
                period["from"] = str(date.fromisoformat(period["to"]) - timedelta(days=days - 1))
            variables = {"filter": {"period": period}, **extra}
            headers = {"Authorization": f"Bearer {info['tokens'][role]}"}
            timings, cpu, rows, statements = [], [], 0, 0
            for n in range(1 + runs):
                counted.clear()
                began = time.perf_counter()
                began_cpu = time.process_time()
                response = await client.post(
                    "/graphql", json={"query": QUERY, "variables": variables}, headers=headers
                )
                elapsed = (time.perf_counter() - began) * 1000
                used = (time.process_time() - began_cpu) * 1000
                body = response.json()
                answer = body["data"]["statistics"]
                assert not body.get("errors") and not answer["userErrors"], body
                if n >= 1:
                    timings.append(elapsed)
                    cpu.append(used)
                    rows = len(answer["rows"])
                    statements = len(counted)
            timings.sort()
            cpu.sort()
            p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
            cpu95 = cpu[max(0, round(0.95 * len(cpu)) - 1)]
            print(
                f"| {name} | {rows} | {statistics.median(timings):.1f} | {p95:.1f} | "
                f"{timings[-1]:.1f} | {statistics.median(cpu):.1f} | {cpu95:.1f} | {statements} |"
            )
    await engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the process: {peak:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=Path, default=OUT_DIR / "tokens.json")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(json.loads(args.tokens.read_text()), min(args.runs, 50)))


if __name__ == "__main__":
    main()
