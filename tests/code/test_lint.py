"""Formatting and lint are part of the test command, so CI fails on them here first."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "args", [["format", "--check", "--diff"], ["check"]], ids=["format", "lint"]
)
def test_ruff(args):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *args, "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, f"`ruff {' '.join(args)}` failed:\n{result.stdout}"
