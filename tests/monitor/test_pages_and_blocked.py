"""The Pages site of the monitor, and retraining when the window cannot move (no new data)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from mlops.cli import app
from mlops.core.config import load_params
from mlops.monitoring import history
from mlops.monitoring.errors import MonitorError
from mlops.monitoring.issue import decide
from mlops.monitoring.retrain import WindowBlocked, check_window_fits, move_window
from mlops.monitoring.site import build_site
from mlops.monitoring.summary import summary_markdown
from tests.monitor.test_alert import GH, ROOT_PARAMS, summary

ROOT = ROOT_PARAMS.parent


def _report(folder: Path, verdict: str = "drift") -> Path:
    data = summary(verdict)
    data["data_drift"]["features"]["<script>x</script>"] = {
        "method": "jensenshannon", "score": 0.01, "threshold": 0.1, "drifted": False,
    }  # fmt: skip
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(data))
    (folder / "summary.md").write_text(summary_markdown(data))
    (folder / "report.html").write_text("<html>evidently report</html>")
    runs = []
    for day, share in ((24, 0.1), (25, 0.2), (26, 0.4), (27, 0.33)):
        run = summary("ok" if share < 0.3 else verdict)
        run["generated_at"] = f"2026-11-{day}T00:00:00+00:00"
        run["data_drift"]["share"] = share
        runs.append(history.entry(run))
    history.save_runs(str(folder / "history.jsonl"), runs)
    return folder


def test_site_links_the_latest_report_and_keeps_the_summary(tmp_path):
    report = _report(tmp_path / "monitor-report")
    site = tmp_path / "site"
    (site / "old").mkdir(parents=True)  # a previous site is replaced, not merged
    written = build_site(report, site)
    assert sorted(p.name for p in written) == [
        "history.jsonl", "index.html", "report.html", "summary.json", "summary.md",
    ]  # fmt: skip
    assert sorted(p.name for p in site.iterdir()) == sorted(p.name for p in written)
    index = (site / "index.html").read_text()
    assert '<a href="report.html">Latest drift report</a>' in index
    assert "2026-11-27T00:00:00+00:00" in index and "<strong>drift</strong>" in index
    assert "<table>" in index and "<td>temp</td>" in index  # the summary, rendered
    assert "<script>x</script>" not in index and "&lt;script&gt;" in index
    assert (site / "report.html").read_text() == "<html>evidently report</html>"
    # the trend: one chart per signal (share, prediction drift, the feature temp), 4 runs
    assert "Trend over 4 run(s)" in index and index.count("<svg") == 2 + 1
    assert index.count("<circle") == 4 * 2 + 0  # prediction drift unavailable: no points
    assert "alert 0.3" in index and "alert 0.1" in index  # the thresholds are drawn
    assert index.count('fill="#cf222e"><title>') == 2 + 4  # runs past it: 0.4, 0.33; temp 0.8
    for svg in re.findall(r"<svg.*?</svg>", index, flags=re.S):
        ElementTree.fromstring(svg)  # well-formed: browsers render it, offline


def test_drifting_since_is_the_start_of_the_latest_unbroken_run_of_drift():
    def runs(*verdicts):
        return [{"verdict": v, "generated_at": f"day{i}"} for i, v in enumerate(verdicts)]

    assert history.drifting_since(runs("drift", "ok", "drift", "drift")) == ("day2", 2)
    assert history.drifting_since(runs("drift", "insufficient_data", "drift")) == ("day0", 2)
    assert history.drifting_since(runs("drift", "ok")) == (None, 0)
    assert history.drifting_since([]) == (None, 0)


def test_the_issue_links_the_pages_site_else_the_runs_artifact():
    rules = load_params(ROOT_PARAMS).monitor.alert
    pages = decide(summary("drift"), None, rules, "https://acme.github.io/ml-template/")
    assert "- report: https://acme.github.io/ml-template/\n" in pages.body
    run = "https://github.com/acme/ml-template/actions/runs/7"
    fallback = decide(summary("drift"), None, rules, run)
    assert f"- report: artifact `monitor-report` of {run}\n" in fallback.body


def test_site_without_a_monitor_run_says_what_to_run(tmp_path):
    report = _report(tmp_path / "monitor-report")
    (report / "report.html").unlink()
    with pytest.raises(MonitorError, match=r"report\.html not found.*make monitor"):
        build_site(report, tmp_path / "site")


def test_site_and_pages_off_commands_write_the_job_summary(project, tmp_path):
    _report(tmp_path / "monitor-report")  # monitor.out of the project fixture
    step_summary = tmp_path / "step-summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(step_summary)}
    site = tmp_path / "site"
    done = CliRunner().invoke(
        app, ["monitor-site", "--out", str(site), "--params", str(project)], env=env
    )
    assert done.exit_code == 0, done.output
    assert (site / "index.html").exists() and "site built" in step_summary.read_text()
    off = CliRunner().invoke(app, ["monitor-pages-off"], env=env)
    assert off.exit_code == 0, off.output
    assert "`MONITOR_PAGES` to `true`" in step_summary.read_text()
    assert "::notice" in off.output


def _months_later(day: object, months: int) -> str:
    return (pd.Timestamp(day) + pd.DateOffset(months=months)).date().isoformat()


def test_the_window_moves_while_the_data_reaches_it(params):
    start = params.prepare.production_start
    end = pd.Timestamp(_months_later(start, 2)) - pd.Timedelta(minutes=1)  # data for 2 months
    _, once = move_window(ROOT_PARAMS.read_text(), 1)
    check_window_fits(once, end)  # the moved production window still holds data
    _, twice = move_window(ROOT_PARAMS.read_text(), 2)
    with pytest.raises(WindowBlocked) as blocked:
        check_window_fits(twice, end)
    message = str(blocked.value)
    assert _months_later(start, 2) in message and str(end.date()) in message
    assert "dvc add data" in message and "data.dvc" in message


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def moved_to_the_end(tmp_path, monkeypatch, params, real_table) -> tuple[Path, int]:
    """A git project on main whose training window was already moved as far as the real
    data allows (as after the last retraining it had data for was merged), with the real
    data; the working directory. Also: by how many months the window moved."""
    labelled = real_table[real_table[params.schema.target].notna()]
    end = pd.Timestamp(labelled[params.schema.time].max())
    start = params.prepare.production_start
    months = 0
    while pd.Timestamp(_months_later(start, months + 1)) <= end:
        months += 1
    repo = tmp_path / "repo"
    repo.mkdir()
    moved, _ = move_window(ROOT_PARAMS.read_text(), months)
    (repo / "params.yaml").write_text(moved)
    (repo / "dvc.lock").write_text("schema: '2.0'\n")
    (repo / "data").symlink_to(ROOT / "data")
    (repo / ".gitignore").write_text("/data\n/monitor-report/\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "main")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GH_SHIM_DIR", str(tmp_path / "gh"))
    return repo, months


def test_retrain_past_the_data_stays_green_changes_nothing_and_tells_the_issue(
    moved_to_the_end, params, tmp_path
):
    repo, moved = moved_to_the_end
    start = params.prepare.production_start
    blocked_at = _months_later(
        start, moved + load_params(repo / "params.yaml").monitor.alert.retrain_months
    )
    remote = tmp_path / "remote.git"
    _git(tmp_path, "init", "-q", "--bare", str(remote))
    gh_dir = tmp_path / "gh"
    gh_dir.mkdir()
    (gh_dir / "issues.json").write_text(json.dumps([
        {"number": 1, "title": "Drift detected in production", "body": "consecutive=3",
         "labels": ["drift"], "state": "open", "comments": []},
    ]))  # fmt: skip
    output, step_summary = tmp_path / "github-output", tmp_path / "step-summary.md"
    env = {
        **os.environ,
        "RETRAIN_PUSH_URL": str(remote),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(step_summary),
    }
    params = str(repo / "params.yaml")
    done = CliRunner().invoke(app, ["retrain", "--gh", str(GH), "--params", params], env=env)
    assert done.exit_code == 0, done.output
    assert "::warning title=Retraining needs new data::" in done.output
    assert "blocked=true" in output.read_text()
    assert "needs new data" in step_summary.read_text()
    # nothing moved, reproduced, committed, pushed or opened
    assert _git(repo, "status", "--porcelain") == ""
    assert _git(repo, "branch", "--format=%(refname:short)").split() == ["main"]
    assert _git(remote, "branch") == ""
    prepare = yaml.safe_load((repo / "params.yaml").read_text())["prepare"]
    assert str(prepare["production_start"]) == _months_later(start, moved)
    assert not (gh_dir / "pulls.json").exists()

    # the workflow's next step: the note goes to the open drift issue
    posted = CliRunner().invoke(
        app, ["monitor-comment", "--gh", str(GH), "--params", params], env=env
    )
    assert posted.exit_code == 0, posted.output
    [issue] = json.loads((gh_dir / "issues.json").read_text())
    [comment] = issue["comments"]
    assert comment.startswith("Retraining did not start: retraining needs new data")
    assert f"prepare.production_start at {blocked_at}" in comment and "`dvc add data`" in comment

    # with no open issue, nothing is posted and nothing fails
    shutil.rmtree(gh_dir)
    quiet = CliRunner().invoke(
        app, ["monitor-comment", "--gh", str(GH), "--params", params], env=env
    )
    assert quiet.exit_code == 0 and "no open issue" in quiet.output
