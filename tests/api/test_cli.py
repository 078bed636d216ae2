"""Issue 14, the command line: every failure is one line on stderr with a non-zero exit and
no traceback; commands find the server's data directory or refuse when its database is
missing (never creating an empty one); `portal` and `portal rates` alone print their usage;
`make run` reuses the demo tokens it printed before."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.credentials import find_token
from portal.adapters.tables import api_tokens
from portal.cli import main
from portal.cli_serve import base_url, reserve_port
from portal.config import Settings, default_data_dir
from portal.demo_data import load_demo
from portal.demo_tokens import demo_tokens, tokens_file


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user without any portal configuration; the working directory is somewhere else."""
    for name in ("PORTAL_DATABASE_URL", "PORTAL_DATA_DIR", "PORTAL_REDIS_URL", "PORTAL_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return tmp_path / "home"


def _one_error_line(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"portal {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_the_default_data_directory_is_under_the_home_not_the_working_directory(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_data_dir() == home / ".local" / "share" / "portal"
    assert Settings.from_env().database_url == (
        f"sqlite+aiosqlite:///{home / '.local' / 'share' / 'portal' / 'portal.db'}"
    )
    monkeypatch.setenv("XDG_DATA_HOME", "/srv/data")
    assert default_data_dir() == Path("/srv/data/portal")
    monkeypatch.setenv("PORTAL_DATA_DIR", "relative/dir")
    assert Settings.from_env().data_dir == Path.cwd() / "relative" / "dir"


def test_token_refuses_a_missing_database_and_creates_none(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "--email", "ops@example.com"]) == 1
    captured = capsys.readouterr()
    line = _one_error_line(captured.err, "token")
    assert "no database at" in line and "PORTAL_DATA_DIR" in line
    assert captured.out == ""  # no token a script could mistake for a real one
    assert not (home / ".local").exists()  # neither a database nor a secret key


def test_token_from_any_directory_uses_the_database_the_server_made(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo-data"]) == 0  # what `make run` does before it serves
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    assert main(["token", "--email", "admin@portal.demo"]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("ptk_")

    async def check() -> None:
        from portal.adapters.database import create_engine

        engine = create_engine(Settings.from_env().database_url)
        try:
            async with engine.connect() as conn:
                token = await find_token(conn, secret)
            assert token is not None and token.revoked_at is None
        finally:
            await engine.dispose()

    asyncio.run(check())
    # A partner token for a user of another role is refused in one line.
    assert main(["token", "--role", "partner", "--email", "admin@portal.demo"]) == 1
    assert "is an ADMIN user, not PARTNER" in _one_error_line(capsys.readouterr().err, "token")


def test_a_database_behind_the_code_is_refused_with_the_fix(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0

    async def downgrade_one() -> None:
        from portal.adapters.database import create_engine, downgrade

        engine = create_engine(Settings.from_env().database_url)
        try:
            await downgrade(engine, "-1")
        finally:
            await engine.dispose()

    asyncio.run(downgrade_one())
    capsys.readouterr()
    assert main(["token", "--email", "ops@example.com"]) == 1
    assert "run `portal migrate`" in _one_error_line(capsys.readouterr().err, "token")


def test_commands_without_a_subcommand_print_their_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["rates"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: portal rates") and "import" in err
    assert "rates_command" not in err
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: portal") and "serve" in err and "token" in err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_import_of_a_missing_file_or_to_a_server_that_is_down_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.csv"
    assert main(["import", str(missing), "--token", "ptk_x"]) == 1
    line = _one_error_line(capsys.readouterr().err, "import")
    assert line == f"portal import: error: cannot open {missing}: No such file or directory"

    present = tmp_path / "requests.csv"
    present.write_text("request_type,program\n")
    url = f"http://127.0.0.1:{_closed_port()}"
    assert main(["import", str(present), "--token", "ptk_x", "--url", url]) == 1
    line = _one_error_line(capsys.readouterr().err, "import")
    assert f"cannot reach {url}/graphql" in line and "is `portal serve` running" in line


def test_serve_refuses_a_port_in_use_and_finds_a_free_one_for_0() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(Exception, match=f"port {port} on 127.0.0.1 is in use"):
            reserve_port("127.0.0.1", port)
    free = reserve_port("127.0.0.1", 0)
    assert free > 0
    assert base_url("127.0.0.1", free) == f"http://127.0.0.1:{free}"
    assert base_url("0.0.0.0", 8001) == "http://127.0.0.1:8001"


async def test_demo_tokens_are_reused_until_revoked_or_near_their_expiry(
    sqlite_engine: AsyncEngine, tmp_path: Path
) -> None:
    await load_demo(sqlite_engine, conversions=0)
    first = await demo_tokens(sqlite_engine, tmp_path)
    again = await demo_tokens(sqlite_engine, tmp_path)
    assert [t.secret for t in again] == [t.secret for t in first]
    assert all(t.reused for t in again) and not any(t.reused for t in first)
    assert tokens_file(tmp_path).stat().st_mode & 0o777 == 0o600

    partner = next(t for t in first if t.role == "partner")
    admin = next(t for t in first if t.role == "admin")
    async with sqlite_engine.begin() as conn:
        revoked = await find_token(conn, partner.secret)
        expiring = await find_token(conn, admin.secret)
        assert revoked is not None and expiring is not None
        await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == revoked.id)
            .values(revoked_at=revoked.created_at)
        )
        await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == expiring.id)
            .values(expires_at=expiring.created_at)
        )
    third = {t.role: t for t in await demo_tokens(sqlite_engine, tmp_path)}
    assert third["advertiser"].secret == next(t.secret for t in first if t.role == "advertiser")
    assert third["partner"].secret != partner.secret and not third["partner"].reused
    assert third["admin"].secret != admin.secret
    assert (await demo_tokens(sqlite_engine, tmp_path))[0].secret == third["admin"].secret
