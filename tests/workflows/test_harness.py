"""The act harness runs a job as a fresh GitHub runner would: a tool the workflow does not
install is missing, and the setup-uv stub really puts the locked uv on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import yaml

from tests.workflows.act import ROOT, git, push_event, run_workflow
from tests.workflows.test_action_pins import RECORD, uv_lock_version

CHECKOUT, SETUP_UV = (
    f"{name}@{RECORD[name]['sha']}" for name in ("actions/checkout", "astral-sh/setup-uv")
)


def repo_with(tmp_path, steps: list[dict]):
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(ROOT / "uv.lock", repo / "uv.lock")
    workflow = {"on": "push", "jobs": {"job": {"runs-on": "ubuntu-latest", "steps": steps}}}
    (repo / ".github" / "workflows" / "w.yml").write_text(yaml.safe_dump(workflow))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "w")
    return repo


def test_a_workflow_that_does_not_install_uv_fails(tmp_path):
    repo = repo_with(tmp_path, [{"run": "uv --version"}])
    run = run_workflow(repo, "w.yml", "push", push_event(repo), tmp_path / "act", timeout=300)
    assert run.returncode != 0, run.output[-2000:]
    # 127: the shell found no such command (act does not always echo the shell's message)
    assert "Failure - Main uv --version" in run.output, run.output[-2000:]
    assert "exit status 127" in run.output, run.output[-2000:]


def test_the_runner_has_no_dev_tools_and_setup_uv_installs_the_locked_uv(tmp_path):
    steps = [
        {"run": "for t in uv act dvc pre-commit ruff pytest; do ! command -v $t || exit 1; done"},
        {"uses": CHECKOUT},
        {"uses": SETUP_UV, "with": {"version-file": "uv.lock"}},
        {"run": "uv --version"},
    ]
    repo = repo_with(tmp_path, steps)
    run = run_workflow(repo, "w.yml", "push", push_event(repo), tmp_path / "act", timeout=300)
    assert run.returncode == 0, run.output[-3000:]
    assert f"uv {uv_lock_version()}" in run.output


def test_the_suite_passes_inside_a_github_actions_job():
    """pr.yml's shards run the suite inside a job, whose GITHUB_ACTIONS=true makes gh (and
    its shim, as GitHub does) refuse without a token: the suite drops the runner's variables
    (tests/conftest.py), so a test that calls gh passes there as on a laptop."""
    test = "tests/monitor/test_alert.py::test_alert_command_with_a_recording_gh"
    runner = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": os.devnull, "CI": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=ROOT, env={**os.environ, **runner}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
