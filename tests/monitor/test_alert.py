"""The drift alert: one issue, created, updated, closed; retraining after N drifted runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.core.config import load_params
from mlops.monitoring.errors import MonitorError
from mlops.monitoring.ghclient import GhClient
from mlops.monitoring.issue import Issue, decide, issue_body
from mlops.monitoring.retrain import move_window, retrain
from mlops.monitoring.summary import summary_markdown
from tests.conftest import params_with
from tests.monitor.conftest import git

GH = Path(__file__).resolve().parents[1] / "workflows" / "shims" / "gh"
RULES = params_with({"monitor": {"alert": {"retrain_after": 2}}}).monitor.alert
ROOT_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def _window_moved(months: int) -> dict[str, tuple[str, str]]:
    """prepare's dates in params.yaml, before and after moving the window ``months``."""
    prepare = load_params(ROOT_PARAMS).prepare
    return {
        key: (day, (pd.Timestamp(day) + pd.DateOffset(months=months)).strftime("%Y-%m-%d"))
        for key in ("train_start", "test_start", "production_start")
        for day in [str(getattr(prepare, key))[:10]]
    }


def summary(verdict: str, version: str = "abc123def456") -> dict:
    return {
        "verdict": verdict,
        "reasons": ["data drift: 5 of 15 features drifted (33% >= 30%): temp"]
        if verdict == "drift"
        else [],
        "generated_at": "2026-11-27T00:00:00+00:00",
        "log": {"rows": 1000, "sampled": 1000, "live_model_version": version},
        "reference": {"sampled": 500},
        "data_drift": {
            "detected": verdict == "drift",
            "share": 0.33,
            "share_threshold": 0.3,
            "drifted_features": ["temp"],
            "features": {
                "temp": {"method": "wasserstein", "score": 0.8, "threshold": 0.1, "drifted": True}
            },
        },
        "prediction_drift": {"available": False, "detected": False},
        "performance": {"status": "no_labels", "labelled": 0, "min_labelled": 200},
    }


def test_decide_creates_updates_counts_and_closes():
    first = decide(summary("drift"), None, RULES, "https://r/1")
    assert (first.kind, first.consecutive, first.retrain) == ("create", 1, False)
    assert "abc123def456" in first.body and "https://r/1" in first.body
    issue = Issue(7, first.body)
    second = decide(summary("drift"), issue, RULES)
    assert (second.kind, second.number, second.consecutive) == ("update", 7, 2)
    assert second.retrain  # drift persisted for retrain_after runs
    third = decide(summary("drift"), Issue(7, second.body), RULES)
    assert (third.consecutive, third.retrain) == (3, False)
    closed = decide(summary("ok"), issue, RULES)
    assert (closed.kind, closed.number) == ("close", 7)
    assert decide(summary("ok"), None, RULES).kind == "none"
    waiting = decide(summary("insufficient_data"), issue, RULES)
    assert (waiting.kind, waiting.consecutive) == ("none", 1)  # the count is kept


@pytest.fixture
def gh(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "gh"
    monkeypatch.setenv("GH_SHIM_DIR", str(folder))
    return folder


def _run(project: Path, verdict: str, tmp_path: Path, version: str = "abc123def456"):
    path = tmp_path / f"summary-{verdict}.json"
    path.write_text(json.dumps(summary(verdict, version)))
    output = tmp_path / "github_output"
    output.write_text("")
    result = CliRunner().invoke(
        app,
        ["alert", "--summary", str(path), "--gh", str(GH), "--report-url", "https://pages/r",
         "--params", str(project)],
        env={**os.environ, "GITHUB_OUTPUT": str(output)},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output, output.read_text()


def test_alert_command_with_a_recording_gh(project, gh, tmp_path):
    # run 1: drift -> one new issue with the label, the live model and the report link
    out, github_output = _run(project, "drift", tmp_path)
    assert "create" in out and "retrain=false" in github_output
    issues = json.loads((gh / "issues.json").read_text())
    assert len(issues) == 1 and issues[0]["labels"] == ["drift"] and issues[0]["state"] == "open"
    assert "abc123def456" in issues[0]["body"] and "https://pages/r" in issues[0]["body"]
    # run 2: drift again -> the same issue is updated (body and a comment), retraining starts
    out, github_output = _run(project, "drift", tmp_path, version="fedcba987654")
    assert "update #1" in out and "retrain=true" in github_output
    issues = json.loads((gh / "issues.json").read_text())
    assert len(issues) == 1 and "2 consecutive" in issues[0]["body"]
    assert "fedcba987654" in issues[0]["body"] and len(issues[0]["comments"]) == 1
    # run 3: clean -> closed with a comment; run 4: clean -> nothing to do
    out, _ = _run(project, "ok", tmp_path)
    assert "close #1" in out
    assert json.loads((gh / "issues.json").read_text())[0]["state"] == "closed"
    out, _ = _run(project, "ok", tmp_path)
    assert "none" in out
    # run 5: drift again -> a new issue (the old one is closed), count restarts
    _run(project, "drift", tmp_path)
    issues = json.loads((gh / "issues.json").read_text())
    assert [i["state"] for i in issues] == ["closed", "open"] and "1 consecutive" in issues[1][
        "body"
    ]
    calls = [json.loads(c)["args"][:2] for c in (gh / "calls.jsonl").read_text().splitlines()]
    assert calls.count(["issue", "create"]) == 2


def test_alert_errors_are_clear(project, tmp_path, monkeypatch):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(summary("drift")))
    failing = tmp_path / "gh-broken"
    failing.write_text("#!/bin/sh\necho 'HTTP 403: Resource not accessible' >&2\nexit 1\n")
    failing.chmod(0o755)
    result = CliRunner().invoke(
        app, ["alert", "--summary", str(path), "--gh", str(failing), "--params", str(project)]
    )
    assert result.exit_code == 1
    assert "HTTP 403" in result.output and "issues: write" in result.output
    missing = CliRunner().invoke(
        app, ["alert", "--summary", str(tmp_path / "no.json"), "--params", str(project)]
    )
    assert missing.exit_code == 1 and "make monitor" in missing.output


def test_move_window_keeps_comments_and_moves_every_date():
    text = (ROOT_PARAMS).read_text()
    moved, changes = move_window(text, 1)
    assert changes == _window_moved(1)
    comments = [line.partition("#")[2] for line in text.splitlines()]
    assert [line.partition("#")[2] for line in moved.splitlines()] == comments
    with pytest.raises(MonitorError, match=r"prepare\.train_start"):
        move_window("prepare:\n  test_start: 2013-01-01\n", 1)


def test_retrain_pushes_one_branch_and_opens_one_pr(retrain_repo, gh):
    repo, remote = retrain_repo
    runs = []

    def reproduce():
        runs.append(1)
        (repo / "dvc.lock").write_text(f"schema: '2.0'\nrun: {len(runs)}\n")

    client = GhClient(str(GH))
    for _ in range(2):  # a second retraining updates the same branch and pull request
        git(repo, "checkout", "-q", "main")
        url = retrain(
            repo, 1, "retrain/training-window", "main", str(remote), client, reproduce,
            "https://pages/r", say=lambda m: None,
        )  # fmt: skip
    assert url.endswith("/pull/100")
    pulls = json.loads((gh / "pulls.json").read_text())
    assert len(pulls) == 1 and pulls[0]["head"] == "retrain/training-window"
    old, new = _window_moved(1)["train_start"]
    assert f"{old} → {new}" in pulls[0]["body"]
    show = git(remote, "show", "retrain/training-window:params.yaml")
    assert f'train_start: "{new}"' in show
    lock = git(remote, "show", "retrain/training-window:dvc.lock")
    assert "run: 2" in lock


def test_the_issue_and_the_summary_name_the_version_in_each_stage():
    staged = {**summary("drift"), "registry": "model: prod v0.1.0, staging v0.2.0"}
    body = issue_body(staged, 1, RULES.retrain_after, None)
    assert "\n- model: prod v0.1.0, staging v0.2.0\n" in body
    assert "Registry: model: prod v0.1.0, staging v0.2.0." in summary_markdown(staged)
    assert "Registry" not in summary_markdown(summary("drift"))  # an older summary: no line
