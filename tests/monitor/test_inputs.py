"""Values the monitor workflow takes from a dispatch input or a variable are checked first."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.core.monitor_config import check_month
from tests.conftest import params_with

HOSTILE = "2013-11$(touch pwned)"


@pytest.mark.parametrize("month", ["2013-11", "2014-01", "1999-12"])
def test_a_month_is_yyyy_mm(month):
    assert check_month(month) == month


@pytest.mark.parametrize(
    "month", [HOSTILE, "2013-13", "2013-00", "2013-1", "13-11", "2013-11-01", "2013-11\n", ""]
)
def test_anything_else_is_refused_naming_the_value_and_the_form(month):
    with pytest.raises(ValueError) as refused:
        check_month(month, "--month")
    assert f"--month {month!r} is not a month: expected YYYY-MM" in str(refused.value)


def test_params_month_is_checked_the_same_way():
    with pytest.raises(ValueError, match=r"replay\.month '2013-1' is not a month"):
        params_with({"monitor": {"replay": {"month": "2013-1"}}})


def test_replay_refuses_a_bad_month_before_reading_anything(tmp_path):
    result = CliRunner().invoke(
        app, ["replay", "--month", HOSTILE, "--params", str(tmp_path / "missing.yaml")]
    )
    assert result.exit_code == 1
    assert (
        f"error in `replay`: --month {HOSTILE!r} is not a month: expected YYYY-MM" in result.output
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["alert", "retrain"])
def test_report_urls_must_be_plain_urls(command, tmp_path):
    bad = "https://x/$(id) y"
    result = CliRunner().invoke(
        app, [command, "--report-url", bad, "--params", str(tmp_path / "missing.yaml")]
    )
    assert result.exit_code == 1
    assert f"--report-url {bad!r} is not a URL" in result.output
