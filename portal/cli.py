"""The `portal` command line: serve, worker, migrate, demo-data, token, import, rates, billing,
events.

Every command logs through portal's logging (PORTAL_LOG_FORMAT, PORTAL_LOG_LEVEL) and fails
with one line on stderr and a non-zero exit status (portal.cli_errors)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from portal.cli_errors import CliError, report
from portal.config import Settings
from portal.observability.logs import configure_logging

# Commands whose own work is what the INFO lines tell (a server, a worker, migrations); the
# others log warnings only, unless PORTAL_LOG_LEVEL says otherwise.
CHATTY = {"serve", "worker", "migrate", "demo-data"}


def serve(args: argparse.Namespace) -> int:
    from portal.cli_serve import serve as run

    return run(args)


def migrate_command(_: argparse.Namespace) -> int:
    from portal.adapters.database import create_engine, migrate

    async def run() -> None:
        engine = create_engine(Settings.from_env().database_url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print("database is at the latest migration", file=sys.stderr)
    return 0


def demo_data(_: argparse.Namespace) -> int:
    from portal.cli_serve import prepare_embedded

    prepare_embedded(Settings.from_env(), load_demo=True)
    return 0


async def _token(email: str, role: str, name: str) -> str:
    from portal.adapters.unit_of_work import UnitOfWork
    from portal.cli_database import existing_database
    from portal.domain.access import Role
    from portal.services import access

    engine = await existing_database()
    try:
        async with UnitOfWork(engine) as uow:
            user = await access.find_user_by_email(uow, email)
            if user is None:
                if role != "admin":
                    raise CliError(f"no user {email}; only admin users are created here")
                user = await access.create_user(uow, None, email=email, name=email, role=Role.ADMIN)
            elif user.role.value.lower() != role:
                raise CliError(f"{email} is an {user.role.value} user, not {role.upper()}")
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
    from portal.observability import tracing

    if not Settings.from_env().redis_url:
        raise CliError("set PORTAL_REDIS_URL: without Redis, jobs run inside `portal serve`")
    tracing.configure_from_env()
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
    from portal.cli_billing import add_billing_commands
    from portal.cli_events import add_events_commands
    from portal.cli_rates import add_rates_commands

    parser = argparse.ArgumentParser(prog="portal", description="portal: private affiliate network")
    parser.set_defaults(run=lambda _: _usage(parser))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = commands.add_parser("serve", help="serve the GraphQL API (and GraphiQL)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="port (0: any free one)")
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
        "token",
        help="print a new API token (creates the admin user if missing)",
        description="Prints a new API token (no expiry) of an existing user of the server's "
        "database (PORTAL_DATABASE_URL, or portal.db in PORTAL_DATA_DIR); creates the user "
        "only for --role admin. Refuses when that database is missing.",
    )
    p.add_argument("--role", choices=["admin", "advertiser", "partner"], default="admin")
    p.add_argument("--email", required=True)
    p.add_argument("--name", default="command line")
    p.set_defaults(run=token)

    add_rates_commands(commands)
    add_billing_commands(commands)
    add_events_commands(commands)
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or ""
    try:
        configure_logging(level=None if command in CHATTY else _quiet_level(), format=None)
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # the top of the command: one line, no traceback
        return report(command or "", error)


def _quiet_level() -> str:
    import os

    return os.environ.get("PORTAL_LOG_LEVEL") or "WARNING"


if __name__ == "__main__":
    raise SystemExit(main())
