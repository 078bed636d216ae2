"""The `portal` command line: serve, worker, migrate, demo-data, token, rates."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from portal.adapters.database import create_engine, migrate
from portal.cli_rates import add_rates_commands
from portal.config import Settings


async def _migrate(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


async def _prepare_embedded(settings: Settings, load_demo: bool) -> None:
    """Migrate; on first start load the demo data; print fresh demo tokens."""
    from portal.demo_data import has_users, issue_demo_tokens
    from portal.demo_data import load_demo as load

    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        if not load_demo:
            return
        if not await has_users(engine):
            print("Loading demo data (first start) …", file=sys.stderr)
            await load(engine)
        tokens = await issue_demo_tokens(engine)
    finally:
        await engine.dispose()
    print(
        "\nportal is ready. Demo API tokens (valid 30 days):\n"
        f"  admin       {tokens.admin}\n"
        f"  advertiser  {tokens.advertiser}\n"
        f"  partner     {tokens.partner}\n\n"
        "Try:  curl -s http://127.0.0.1:8000/graphql -H 'Content-Type: application/json' \\\n"
        f"        -H 'Authorization: Bearer {tokens.partner}' \\\n"
        '        -d \'{"query": "{ viewer { user { email role } } }"}\'\n',
        flush=True,
    )


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = Settings.from_env()
    asyncio.run(_prepare_embedded(settings, load_demo=args.demo))
    print(f"GraphiQL: http://{args.host}:{args.port}/graphql", flush=True)
    uvicorn.run(
        "portal.web.app:create_served_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        timeout_keep_alive=5,
    )
    return 0


def migrate_command(_: argparse.Namespace) -> int:
    asyncio.run(_migrate(Settings.from_env()))
    print("database is at the latest migration", file=sys.stderr)
    return 0


def demo_data(_: argparse.Namespace) -> int:
    asyncio.run(_prepare_embedded(Settings.from_env(), load_demo=True))
    return 0


async def _token(email: str, role: str, name: str) -> str:
    from portal.adapters.unit_of_work import UnitOfWork
    from portal.domain.access import Role
    from portal.services import access

    settings = Settings.from_env()
    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        async with UnitOfWork(engine) as uow:
            user = await access.find_user_by_email(uow, email)
            if user is None:
                if role != "admin":
                    raise SystemExit(f"no user {email}; only admin users are created here")
                user = await access.create_user(uow, None, email=email, name=email, role=Role.ADMIN)
            created = await access.create_api_token(
                uow, user.as_viewer(), name=name, expires_at=None
            )
            await uow.commit()
        return created.secret
    finally:
        await engine.dispose()


def token(args: argparse.Namespace) -> int:
    # Prints only the token on stdout: scripts rely on `TOKEN=$(portal token …)`.
    print(asyncio.run(_token(args.email, args.role, args.name)))
    return 0


def worker(_: argparse.Namespace) -> int:
    from arq import run_worker

    from portal.jobs.worker import WorkerSettings

    if not Settings.from_env().redis_url:
        raise SystemExit("set PORTAL_REDIS_URL: without Redis, jobs run inside `portal serve`")
    run_worker(WorkerSettings)  # type: ignore[arg-type]
    return 0


def import_file(args: argparse.Namespace) -> int:
    from pathlib import Path

    from portal.cli_import import run_import

    return run_import(
        Path(args.file),
        args.token,
        args.url,
        dry_run=args.dry_run,
        all_or_nothing=args.all_or_nothing,
        time_zone=args.time_zone,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal", description="portal: private affiliate network")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("serve", help="serve the GraphQL API (and GraphiQL)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--log-level", default="info")
    p.add_argument(
        "--no-demo", dest="demo", action="store_false", help="do not load demo data or print tokens"
    )
    p.set_defaults(run=serve)

    p = commands.add_parser("worker", help="run the arq worker (needs PORTAL_REDIS_URL)")
    p.set_defaults(run=worker)

    p = commands.add_parser("import", help="upload a conversion request file to a running portal")
    p.add_argument("file")
    p.add_argument("--token", required=True, help="API token (Authorization: Bearer)")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="portal's base URL")
    p.add_argument("--dry-run", action="store_true", help="validate only")
    p.add_argument("--all-or-nothing", action="store_true", help="apply nothing when any row fails")
    p.add_argument(
        "--time-zone", default="UTC", help="zone of times without offset, e.g. Europe/Berlin"
    )
    p.set_defaults(run=import_file)

    p = commands.add_parser("migrate", help="upgrade the database to the latest migration")
    p.set_defaults(run=migrate_command)

    p = commands.add_parser("demo-data", help="load demo data (once) and print demo tokens")
    p.set_defaults(run=demo_data)

    p = commands.add_parser(
        "token", help="print a new API token (creates the admin user if missing)"
    )
    p.add_argument("--role", choices=["admin", "advertiser", "partner"], default="admin")
    p.add_argument("--email", required=True)
    p.add_argument("--name", default="command line")
    p.set_defaults(run=token)

    add_rates_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
