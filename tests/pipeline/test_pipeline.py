"""`dvc repro` end to end in a temporary git repository, on a small sample of the real data.

Covers the happy path, reproducibility (same commit -> same metrics and dvc.lock), that a
param change re-runs only the stages that use it, and the error path: bad raw data stops the
pipeline at `validate` with a clear message and leaves the previous model, metrics and
dvc.lock untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlops.yours import dataset
from tests.bad_inputs import CASES, GENERIC, case_params, fragments
from tests.conftest import ROOT, write_sample_raw

pytestmark = pytest.mark.slow
ENV = {
    **os.environ,
    # `python` in dvc.yaml must be this environment's interpreter
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    "DVC_NO_ANALYTICS": "1",
}


def run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=repo, env=ENV, capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(repo, sys.executable, "-m", "dvc", *args, check=check)


def fast_params(repo: Path) -> None:
    """Fewer boosting rounds and a smaller importance sample: the wiring is under test."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["hist_gradient_boosting"]["max_iter"] = 40
    params["evaluate"]["importance_sample"] = 500
    params["evaluate"]["importance_repeats"] = 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory, real_raw_dir) -> Path:
    repo = tmp_path_factory.mktemp("repo")
    run(repo, "git", "init", "-q", "-b", "main")
    run(repo, "git", "config", "user.email", "test@example.com")
    run(repo, "git", "config", "user.name", "test")
    dvc(repo, "init", "-q")
    shutil.copyfile(ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copytree(ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))
    fast_params(repo)
    write_sample_raw(real_raw_dir, repo / "data", flights_per_month=250)
    dvc(repo, "add", "-q", "data")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "sample pipeline")
    return repo


@pytest.fixture(scope="module")
def reproduced(repo: Path) -> Path:
    result = dvc(repo, "repro")
    for stage in ("validate", "prepare", "train", "evaluate"):
        assert f"Running stage '{stage}'" in result.stdout
    return repo


def outputs(repo: Path) -> dict[str, bytes]:
    paths = ["dvc.lock", "reports/metrics.json", "models/model.skops"]
    return {p: (repo / p).read_bytes() for p in paths}


def test_pipeline_produces_model_metrics_and_plots(reproduced):
    metrics = json.loads((reproduced / "reports/metrics.json").read_text())
    assert 0.5 < metrics["roc_auc"] <= 1
    assert metrics["rows"]["train"] > 1000
    for name in ("roc.json", "prc.json", "calibration.json", "importance.json", "confusion.csv"):
        assert (reproduced / "reports/plots" / name).stat().st_size > 0
    assert len(list((reproduced / "reports/figures").glob("*.png"))) == 5
    low, high = metrics["intervals"]["roc_auc"]  # with its bootstrap interval
    assert low <= metrics["roc_auc"] <= high
    predictions = pd.read_parquet(reproduced / "reports/predictions.parquet")  # a DVC output
    assert len(predictions) == metrics["rows"]["test"] and predictions["key"].is_unique
    assert "predictions.parquet" in (reproduced / "reports/.gitignore").read_text()
    assert dvc(reproduced, "status", "--json").stdout.strip() == "{}"
    shown = dvc(reproduced, "metrics", "show", "--json").stdout
    assert "roc_auc" in shown


def test_no_op_repro_runs_nothing(reproduced):
    result = dvc(reproduced, "repro")
    assert "Running stage" not in result.stdout
    assert "Data and pipelines are up to date" in result.stdout


def test_same_commit_same_metrics_and_lock(reproduced):
    before = outputs(reproduced)
    dvc(reproduced, "repro", "--force")
    assert outputs(reproduced) == before


def test_param_change_reruns_only_what_uses_it(reproduced):
    params_file = reproduced / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params["evaluate"]["threshold"] = 0.4
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        result = dvc(reproduced, "repro")
        assert "Running stage 'evaluate'" in result.stdout
        assert "Running stage 'train'" not in result.stdout
        assert "evaluate.threshold" in dvc(reproduced, "params", "diff").stdout
        metrics = json.loads((reproduced / "reports/metrics.json").read_text())
        assert metrics["threshold"] == 0.4
    finally:
        params_file.write_text(original)
        dvc(reproduced, "repro")


# a generic case and the flights column cases: each is a `dvc repro` (the loader-level
# tests in tests/data cover every case)
@pytest.mark.parametrize("case", case_params(["empty file", *sorted(set(CASES) - GENERIC)]))
def test_bad_data_stops_at_validate_and_keeps_the_previous_results(reproduced, case):
    raw = reproduced / "data"
    expected = fragments(case, raw)
    good = {p.name: p.read_bytes() for p in dataset.raw_files(raw)}
    before = outputs(reproduced)
    CASES[case][0](raw)
    try:
        result = dvc(reproduced, "repro", check=False)
        assert result.returncode != 0
        log = result.stdout + result.stderr
        assert "Running stage 'validate'" in log
        assert "Running stage 'prepare'" not in log
        for fragment in expected:
            assert fragment in log, f"{fragment!r} missing from:\n{log}"
        assert "Traceback" not in log
        assert outputs(reproduced) == before
    finally:
        for name, content in good.items():
            (raw / name).write_bytes(content)
    dvc(reproduced, "repro")  # validate's outputs were removed by the failed run
    assert outputs(reproduced) == before
