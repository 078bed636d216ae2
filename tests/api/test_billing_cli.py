"""`portal billing run`: the same run as `startBillingRun`, from the command line, with a
summary table; bad input is one error line and a non-zero exit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from portal.cli import main
from tests.api.test_cli import _one_error_line, home  # noqa: F401 (the fixture)

TODAY = datetime.now(UTC).date().isoformat()


def test_billing_run_dry_then_real_with_a_summary(
    home: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo-data"]) == 0
    capsys.readouterr()

    assert main(["billing", "run", "--period-end", TODAY, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing written" in out and "payout entries" in out

    assert main(["billing", "run", "--period-end", TODAY]) == 0
    first = capsys.readouterr().out
    assert main(["billing", "run", "--period-end", TODAY]) == 0
    second = capsys.readouterr().out
    # The demo's rates are old: partners paid in USD or CHF fail with a code, the others are billed.
    assert "PREVIEW" in first and "MISSING_EXCHANGE_RATE" in first
    assert "nothing to bill" not in first
    assert "nothing to bill" in second  # everything the first run could bill is billed
    assert "MISSING_EXCHANGE_RATE" in second  # the failed partners are tried again


def test_billing_run_refuses_bad_input_in_one_line(
    home: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo-data"]) == 0
    capsys.readouterr()
    assert main(["billing", "run", "--period-end", "2999-01-31"]) == 1
    assert "PERIOD_IN_FUTURE" in _one_error_line(capsys.readouterr().err, "billing")
    assert main(["billing", "run", "--period-end", "yesterday"]) == 1
    assert "--period-end" in _one_error_line(capsys.readouterr().err, "billing")
    assert main(["billing"]) == 2
