"""Settings from the environment: PORTAL_EVENT_RETENTION_DAYS (90 by default) must be a whole
number of days of at least 1; a bad value stops a command at start-up with one line naming the
variable, as a bad whole number in any other PORTAL_* variable does."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.cli import main
from portal.config import SettingError, Settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PORTAL_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("PORTAL_REDIS_URL", "redis://127.0.0.1:1/0")  # never reached
    monkeypatch.delenv("PORTAL_EVENT_RETENTION_DAYS", raising=False)
    monkeypatch.delenv("PORTAL_SESSION_HOURS", raising=False)
    return monkeypatch


def test_event_retention_is_90_days_unless_set(env: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().event_retention_days == 90
    env.setenv("PORTAL_EVENT_RETENTION_DAYS", "")
    assert Settings.from_env().event_retention_days == 90
    env.setenv("PORTAL_EVENT_RETENTION_DAYS", " 30 ")
    assert Settings.from_env().event_retention_days == 30
    env.setenv("PORTAL_EVENT_RETENTION_DAYS", "1")
    assert Settings.from_env().event_retention_days == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0", "PORTAL_EVENT_RETENTION_DAYS must be at least 1 (days), not 0"),
        ("-7", "PORTAL_EVENT_RETENTION_DAYS must be at least 1 (days), not -7"),
        ("90d", "PORTAL_EVENT_RETENTION_DAYS must be a whole number, not '90d'"),
        ("1.5", "PORTAL_EVENT_RETENTION_DAYS must be a whole number, not '1.5'"),
        ("36501", "PORTAL_EVENT_RETENTION_DAYS must be at most 36,500 (days), not 36501"),
    ],
)
def test_a_bad_event_retention_is_refused_naming_the_variable(
    env: pytest.MonkeyPatch, raw: str, message: str
) -> None:
    env.setenv("PORTAL_EVENT_RETENTION_DAYS", raw)
    with pytest.raises(SettingError) as refused:
        Settings.from_env()
    assert str(refused.value) == message


@pytest.mark.parametrize("command", [["serve", "--no-demo"], ["worker"], ["events", "prune"]])
def test_a_command_stops_at_start_up_with_one_line(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    import uvicorn

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("started serving")

    env.setattr(uvicorn, "run", never)
    env.setenv("PORTAL_EVENT_RETENTION_DAYS", "0")
    assert main(command) == 1
    assert capsys.readouterr().err == (
        f"portal {command[0]}: error: "
        "PORTAL_EVENT_RETENTION_DAYS must be at least 1 (days), not 0\n"
    )


def test_other_whole_number_settings_name_themselves_too(env: pytest.MonkeyPatch) -> None:
    env.setenv("PORTAL_SESSION_HOURS", "twelve")
    with pytest.raises(SettingError, match=r"^PORTAL_SESSION_HOURS must be a whole number"):
        Settings.from_env()
