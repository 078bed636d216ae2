"""gzip of real answers: size and CPU time per compression level, to choose
`portal.web.compression.LEVEL` (what a client saves against what the server spends).

    .venv/bin/python -m bench.compression [--repeat 30]

Builds a temporary SQLite database with the demo data (300 conversions), takes the bodies of
typical answers through the whole stack (ASGI), then compresses each one at several levels.
Writes bench/out/compression.json. Times are CPU-bound and single-threaded: on a shared machine
compare the levels with each other, not with another run.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from graphql import get_introspection_query

from portal.adapters.database import create_engine, migrate
from portal.config import SOURCE_OPERATIONS_DIR, Settings
from portal.demo_data import issue_demo_tokens, load_demo
from portal.web.app import create_app
from portal.web.compression import LEVEL, MINIMUM_SIZE
from portal.web.graphiql import STATIC

LEVELS = (1, 3, 5, 6, 9)
OUT = Path(__file__).parent / "out" / "compression.json"
LIST = (SOURCE_OPERATIONS_DIR / "partnerConversions.graphql").read_text()


async def answers() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as directory:
        engine = create_engine(f"sqlite+aiosqlite:///{directory}/bench.db")
        await migrate(engine)
        await load_demo(engine, conversions=300)
        tokens = await issue_demo_tokens(engine, name="bench")
        settings = Settings(
            database_url="unused", redis_url=None, secret_key="bench", data_dir=Path(directory)
        )
        app = create_app(settings, engine=engine)
        bodies: dict[str, bytes] = {}
        headers = {"Authorization": f"Bearer {tokens.admin}", "Accept-Encoding": "identity"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c,
        ):
            for name, body in [
                ("viewer", {"query": "{ viewer { user { email role } } }"}),
                ("conversions, 20 nodes", {"query": LIST, "variables": {"first": 20}}),
                ("conversions, 100 nodes", {"query": LIST, "variables": {"first": 100}}),
                ("introspection (GraphiQL)", {"query": get_introspection_query()}),
            ]:
                response = await c.post("/graphql", json=body, headers=headers)
                assert response.status_code == 200 and "errors" not in response.json()
                bodies[name] = response.content
        await engine.dispose()
    bodies["graphiql.min.js (asset)"] = (
        STATIC / "vendor" / "graphiql-3.8.3" / "graphiql.min.js"
    ).read_bytes()
    return bodies


def measure(body: bytes, level: int, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        compressed = gzip.compress(body, compresslevel=level, mtime=0)
        times.append(time.perf_counter() - start)
    return {
        "bytes": len(compressed),
        "ratio": round(len(compressed) / len(body), 4),
        "median_ms": round(statistics.median(times) * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    bodies = asyncio.run(answers())
    results: dict[str, dict[str, object]] = {}
    print(f"chosen: level {LEVEL}, bodies of {MINIMUM_SIZE} bytes or more")
    print(f"{'answer':28} {'bytes':>9} " + " ".join(f"{'L' + str(lv):>16}" for lv in LEVELS))
    for name, body in bodies.items():
        repeat = max(3, args.repeat // 10) if len(body) > 1_000_000 else args.repeat
        per_level = {str(level): measure(body, level, repeat) for level in LEVELS}
        results[name] = {"bytes": len(body), "levels": per_level}
        cells = " ".join(f"{m['bytes']:>8} {m['median_ms']:>6.2f}ms" for m in per_level.values())
        print(f"{name:28} {len(body):>9} {cells}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"-> {OUT}")


if __name__ == "__main__":
    main()
