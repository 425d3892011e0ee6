"""Fixtures of the monitor tests: synthetic prediction logs in the service's format.

Log lines are built by the service's own ``mlops.serving.predlog.logged`` (one JSON object
per line), from a modelling table and a model's probabilities, so no server is needed. The
late labels are the table's true outcomes, keyed by the same request ids.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops.core import model_io
from mlops.core.config import Params
from mlops.monitoring.replay import json_value
from mlops.pipeline.train import train
from mlops.serving.predlog import logged
from tests.conftest import ROOT, make_table, merged


def write_log(
    params: Params,
    table: pd.DataFrame,
    probability: np.ndarray,
    path: Path,
    labels: Path | None = None,
    version: str = "abc123def456",
    start: str = "2026-11-01T00:00:00",
    prefix: str = "r",
) -> list[str]:
    """Write ``table`` as logged predictions (and its outcomes as late labels)."""
    schema = params.schema
    kinds = {name: spec.type for name, spec in schema.features.items()}
    threshold = params.evaluate.threshold
    stamp = pd.Timestamp(start, tz="UTC")
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = []
    with path.open("a") as log:
        for i, (row, p) in enumerate(zip(table.to_dict("records"), probability, strict=True)):
            rid = f"{prefix}{i}"
            ids.append(rid)
            features = {n: json_value(row[n], k) for n, k in kinds.items()}
            answer = {
                "probability": round(float(p), 6),
                "label": schema.positive_label if p >= threshold else schema.negative_label,
                "unknown_categories": [n for n, v in features.items() if v == "ZZZ"],
            }
            at = (stamp + pd.Timedelta(seconds=i)).isoformat()
            line = logged(features, answer, request_id=rid, version=version, at=at)
            log.write(json.dumps(line) + "\n")
    if labels is not None:
        labels.parent.mkdir(parents=True, exist_ok=True)
        with labels.open("a") as out:
            for rid, y in zip(ids, table[schema.target], strict=True):
                out.write(json.dumps({"request_id": rid, schema.target: int(y)}) + "\n")
    return ids


@pytest.fixture(scope="session")
def small_model(params: Params) -> Any:
    small = params.train.model_copy(update={"hist_gradient_boosting": {"max_iter": 20}})
    return train(make_table(params, rows=3000, seed=1), params.schema, small)


@pytest.fixture
def log_factory(params: Params, small_model: Any) -> Callable[..., list[str]]:
    def factory(table: pd.DataFrame, path: Path, **kwargs: Any) -> list[str]:
        probability = small_model.predict_proba(table[params.schema.feature_names])[:, 1]
        return write_log(params, table, probability, path, **kwargs)

    return factory


@pytest.fixture
def project(tmp_path: Path, params: Params, small_model: Any) -> Path:
    """A throwaway project: params.yaml with a `monitor` section, a training window, a
    model and its evaluation metrics, all under ``tmp_path``."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["paths"] = {k: str(tmp_path / v) for k, v in raw["paths"].items()}
    raw["monitor"] = merged(
        raw["monitor"],
        {
            "logs": str(tmp_path / "logs"),
            "labels": str(tmp_path / "logs" / "labels.jsonl"),
            "history": str(tmp_path / "logs" / "history.jsonl"),
            "out": str(tmp_path / "monitor-report"),
            "reference_rows": 2000,
            "current_rows": 2000,
            "min_rows": 100,
            "performance": {"min_labelled": 100},
            "alert": {"retrain_after": 2},
        },
    )
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    split = tmp_path / raw["paths"]["split"]
    split.mkdir(parents=True)
    make_table(params, rows=3000, seed=2).to_parquet(split / "train.parquet")
    model_io.save(small_model, Path(raw["paths"]["model"]))
    metrics = Path(raw["paths"]["metrics"])
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps({"roc_auc": 0.8, "f1": 0.5}))
    return tmp_path / "params.yaml"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


@pytest.fixture
def retrain_repo(tmp_path) -> tuple[Path, Path]:
    """A git repository on `main` holding the repository's params.yaml and a dvc.lock, and
    an empty bare remote: what the retraining job works on."""
    remote, repo = tmp_path / "remote.git", tmp_path / "repo"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    repo.mkdir()
    shutil.copy(ROOT / "params.yaml", repo / "params.yaml")
    (repo / "dvc.lock").write_text("schema: '2.0'\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main")
    return repo, remote
