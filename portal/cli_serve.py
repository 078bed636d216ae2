"""`portal serve`: migrate, load the demo data on the first start, print the demo tokens and
the address actually served, then run uvicorn (with portal's logging, and Prometheus'
multiprocess mode when there are several workers)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import socket

from portal.adapters.database import create_engine, migrate
from portal.cli_errors import CliError
from portal.config import Settings
from portal.observability.metrics import multiprocess_dir, prepare_multiprocess_dir

log = logging.getLogger("portal.serve")


def reserve_port(host: str, port: int) -> int:
    """The port to serve on (a free one for 0), refused with a clear line when it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise CliError(
                    f"port {port} on {host} is in use (another portal?); choose another, e.g. "
                    f"`make run PORT={port + 1}` or `portal serve --port {port + 1}`"
                ) from None
            raise CliError(f"cannot listen on {host}:{port}: {error.strerror}") from None
        return int(probe.getsockname()[1])


def base_url(host: str, port: int) -> str:
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


async def _prepare(settings: Settings, load_demo: bool, url: str | None) -> None:
    """Migrate; on first start load the demo data; print the demo tokens (kept between
    starts) and how to try them at `url`."""
    from portal.demo_data import has_users
    from portal.demo_data import load_demo as load
    from portal.demo_tokens import demo_tokens, tokens_file

    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        if not load_demo:
            return
        if not await has_users(engine):
            log.info("loading the demo data (first start)")
            await load(engine)
        tokens = await demo_tokens(engine, settings.data_dir)
    finally:
        await engine.dispose()
    until = min(t.expires_at for t in tokens).date().isoformat()
    by_role = {t.role: t.secret for t in tokens}
    lines = [
        "",
        f"portal is ready. Demo API tokens (valid until {until}; "
        f"kept in {tokens_file(settings.data_dir)}):",
        *(f"  {role:<11} {secret}" for role, secret in by_role.items()),
    ]
    if url is not None:
        lines += [
            "",
            f"Try:  curl -s {url}/graphql -H 'Content-Type: application/json' \\",
            f"        -H 'Authorization: Bearer {by_role['partner']}' \\",
            '        -d \'{"query": "{ viewer { user { email role } } }"}\'',
        ]
    print("\n".join(lines) + "\n", flush=True)


def prepare_embedded(settings: Settings, *, load_demo: bool, url: str | None = None) -> None:
    asyncio.run(_prepare(settings, load_demo, url))


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = Settings.from_env()
    port = reserve_port(args.host, args.port)
    url = base_url(args.host, port)
    prepare_embedded(settings, load_demo=args.demo, url=url)
    if args.workers > 1 and multiprocess_dir() is None:
        # Every worker writes its samples here; a scrape of any worker reads them all.
        prepare_multiprocess_dir(settings.data_dir / "metrics")
    print(f"GraphiQL: {url}/graphql   (listening on {args.host}:{port})", flush=True)
    uvicorn.run(
        "portal.web.app:create_served_app",
        factory=True,
        host=args.host,
        port=port,
        workers=args.workers,
        log_level=args.log_level,
        log_config=None,  # portal's logging (portal.observability.logs), in every worker
        access_log=False,  # the request line of portal.observability.requests replaces it
        timeout_keep_alive=5,
    )
    return 0
