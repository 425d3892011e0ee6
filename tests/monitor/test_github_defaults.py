"""GitHub's default settings refuse two things the monitor asks for: a fork has Issues off,
and GitHub Actions may not open pull requests. Both keep the run green and say which setting
(or secret) changes it; a refused pull request leaves no branch behind.

The `gh` shim refuses as GitHub does (GH_SHIM_ISSUES, GH_SHIM_JOB_TOKEN,
GH_SHIM_ACTIONS_CREATE_PRS); the same shim serves the act runs of monitor.yml."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.monitoring.errors import PRS_REFUSED
from mlops.monitoring.ghclient import GhClient
from mlops.monitoring.retrain import PullRequestRefused, retrain
from tests.monitor.conftest import git
from tests.monitor.test_alert import GH, summary

BRANCH = "retrain/training-window"


@pytest.fixture
def gh(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "gh"
    monkeypatch.setenv("GH_SHIM_DIR", str(folder))
    for name in ("GH_SHIM_ISSUES", "GH_SHIM_ACTIONS_CREATE_PRS", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GH_SHIM_JOB_TOKEN", "ghs_job")
    monkeypatch.setenv("GH_TOKEN", "ghs_job")  # the job's own GITHUB_TOKEN
    return folder


def calls(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "calls.jsonl").read_text().splitlines()]


def test_the_shim_refuses_what_github_refuses_by_default(gh, monkeypatch):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([GH, *args], capture_output=True, text=True, input="")

    refused = run("pr", "create", "--head", "b", "--base", "main", "--body-file", "-")
    assert refused.returncode == 1
    assert "GitHub Actions is not permitted to create or approve pull requests" in refused.stderr
    monkeypatch.setenv("GH_TOKEN", "github_pat_other")  # RETRAIN_TOKEN
    assert run("pr", "create", "--head", "b", "--base", "main").returncode == 0
    monkeypatch.setenv("GH_SHIM_ISSUES", "disabled")
    off = run("issue", "list", "--label", "drift")
    assert off.returncode == 1
    assert "the 'acme/ml-template' repository has disabled issues" in off.stderr
    monkeypatch.delenv("GH_TOKEN")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert "set the GH_TOKEN environment variable" in run("release", "view", "x").stderr
    assert [c["token"] for c in calls(gh)] == ["job", "other", "other", "none"]
    assert "ghs_job" not in (gh / "calls.jsonl").read_text()


def _alert(project: Path, tmp_path: Path, verdict: str):
    path = tmp_path / f"summary-{verdict}.json"
    path.write_text(json.dumps(summary(verdict)))
    output, step_summary = tmp_path / "github_output", tmp_path / "step_summary.md"
    for file in (output, step_summary):
        file.write_text("")
    result = CliRunner().invoke(
        app,
        ["alert", "--summary", str(path), "--gh", str(GH), "--params", str(project)],
        env={**os.environ, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(step_summary)},
    )
    return result, output.read_text(), step_summary.read_text()


def test_issues_off_keeps_the_alert_green_with_the_verdict_and_the_setting(
    project, gh, tmp_path, monkeypatch
):
    monkeypatch.setenv("GH_SHIM_ISSUES", "disabled")
    result, output, step_summary = _alert(project, tmp_path, "drift")
    assert result.exit_code == 0, result.output
    assert "retrain=false" in output
    assert "no issue (verdict drift)" in step_summary
    assert "Settings → General → Features → Issues" in step_summary
    assert "Drift detected" in step_summary and "temp" in step_summary  # the verdict itself
    assert "::warning title=Issues are off::" in result.output
    assert not (gh / "issues.json").exists()
    # a clean run says it too, as a notice
    result, _, step_summary = _alert(project, tmp_path, "ok")
    assert result.exit_code == 0 and "::notice title=Issues are off::" in result.output
    # the comment on the drift issue (why retraining stopped) is not posted, and says so
    note = tmp_path / "note.md"
    note.write_text("Retraining did not start: x\n")
    done = CliRunner().invoke(
        app,
        ["monitor-comment", "--body-file", str(note), "--gh", str(GH), "--params", str(project)],
    )
    assert done.exit_code == 0 and "Issues are off; not posted" in done.output


def test_issues_on_the_alert_opens_the_issue(project, gh, tmp_path):
    result, output, _ = _alert(project, tmp_path, "drift")
    assert "retrain=false" in output  # first drifted run
    assert result.exit_code == 0, result.output
    assert json.loads((gh / "issues.json").read_text())[0]["labels"] == ["drift"]


@pytest.fixture
def repo(retrain_repo) -> tuple[Path, Path]:
    return retrain_repo


def _retrain(repo: Path, remote: Path) -> str:
    def reproduce() -> None:
        (repo / "dvc.lock").write_text("schema: '2.0'\nrun: 1\n")

    git(repo, "checkout", "-q", "main")
    return retrain(
        repo, 1, BRANCH, "main", str(remote), GhClient(str(GH)), reproduce,
        say=lambda m: None,
    )  # fmt: skip


def test_a_refused_pull_request_leaves_no_branch_and_names_the_setting(gh, repo):
    repo, remote = repo
    with pytest.raises(PullRequestRefused) as refused:
        _retrain(repo, remote)
    message = str(refused.value)
    assert f"the branch {BRANCH} was pushed" in message and "deleted again" in message
    assert "Settings → Actions → General → Workflow permissions" in message
    assert '"Allow GitHub Actions to create and approve pull requests"' in message
    assert "RETRAIN_TOKEN" in message
    assert git(remote, "for-each-ref") == ""  # pushed, then deleted: no orphan branch
    assert [c["args"][:2] for c in calls(gh)] == [["pr", "list"], ["pr", "create"]]
    assert not (gh / "pulls.json").exists()


@pytest.mark.parametrize("how", ["setting on", "RETRAIN_TOKEN"])
def test_with_the_setting_or_another_token_the_pull_request_opens(gh, repo, monkeypatch, how):
    repo, remote = repo
    if how == "setting on":
        monkeypatch.setenv("GH_SHIM_ACTIONS_CREATE_PRS", "allowed")
    else:
        monkeypatch.setenv("GH_TOKEN", "github_pat_retrain")
    assert _retrain(repo, remote).endswith("/pull/100")
    assert BRANCH in git(remote, "for-each-ref")
    [pull] = json.loads((gh / "pulls.json").read_text())
    assert pull["head"] == BRANCH


def test_the_retrain_command_stays_green_and_writes_the_note(
    project, gh, repo, tmp_path, monkeypatch
):
    """`mlops retrain` (what the workflow runs): refused -> a warning, the job summary, the
    blocked output that makes the next step comment on the drift issue, exit 0."""
    repo, remote = repo
    blocked = PullRequestRefused("the branch x was pushed ... " + PRS_REFUSED)

    def refuse(*args, **kwargs):
        raise blocked

    monkeypatch.setattr("mlops.monitoring.retrain.retrain", refuse)
    monkeypatch.setattr("mlops.monitoring.retrain.data_end", lambda params: None)
    output, step_summary = tmp_path / "out", tmp_path / "summary.md"
    env = {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(step_summary)}
    env |= {"RETRAIN_PUSH_URL": str(remote)}
    result = CliRunner().invoke(
        app, ["retrain", "--gh", str(GH), "--params", str(project)], env={**os.environ, **env}
    )
    assert result.exit_code == 0, result.output
    assert "blocked=true" in output.read_text()
    assert "::warning title=Retraining pull request refused::" in result.output
    assert "**Retraining did not open its pull request:**" in step_summary.read_text()
    note = project.parent / "monitor-report" / "retrain-blocked.md"
    assert note.read_text().startswith("Retraining did not open its pull request: the branch")
