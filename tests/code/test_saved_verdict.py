"""`gate` reuses the verdict `report` wrote in the same job only for exactly the same state:
the same base commit, pipeline outcome, labels and pipeline outputs; anything else is judged
again (a stale verdict must never pass a gate)."""

from __future__ import annotations

import subprocess

import pytest

from mlops.report.gate import GateDecision
from mlops.report.write import save_decision, saved_decision
from tests.conftest import params_with

SAID = GateDecision(False, [], ["gate: quality gate failed", "gate: to merge anyway, ..."])


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A git repository with one commit (the base), a params file and pipeline outputs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PR_LABELS", '["documentation"]')
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "t@example.com"]):
        subprocess.run(["git", *args], check=True)
    subprocess.run(["git", "config", "user.name", "t"], check=True)
    (tmp_path / "params.yaml").write_text("train: {}\n")
    (tmp_path / "dvc.lock").write_text("stages: {}\n")
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run(["git", "commit", "-qm", "base"], check=True)
    params = params_with(
        {"paths": {"report": "pr-report", "metrics": "metrics.json", "predictions": "p.parquet"}}
    )
    params.paths.report.mkdir()
    params.paths.metrics.write_text('{"roc_auc": 0.70}')
    save_decision(params, "main", "success", tmp_path / "params.yaml", SAID)
    return params, tmp_path / "params.yaml"


def test_the_same_state_reuses_the_reports_verdict(workspace):
    params, params_file = workspace
    assert saved_decision(params, "main", "success", params_file) == SAID


def test_no_verdict_file_means_judging_again(workspace):
    params, params_file = workspace
    (params.paths.report / "verdict.json").unlink()
    assert saved_decision(params, "main", "success", params_file) is None


@pytest.mark.parametrize("change", ["labels", "metrics", "outcome", "base", "lock", "garbage"])
def test_any_change_the_verdict_depends_on_means_judging_again(workspace, change, monkeypatch):
    params, params_file = workspace
    outcome, base = "success", "main"
    if change == "labels":  # the override label added after the report
        monkeypatch.setenv("PR_LABELS", '["documentation", "gate-override"]')
    elif change == "metrics":
        params.paths.metrics.write_text('{"roc_auc": 0.60}')
    elif change == "outcome":
        outcome = "failure"
    elif change == "base":
        subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "base moved"], check=True)
    elif change == "lock":
        params_file.with_name("dvc.lock").write_text("stages: {train: {}}\n")
    else:
        (params.paths.report / "verdict.json").write_text("{not json")
    assert saved_decision(params, base, outcome, params_file) is None
