"""The model card says what the pipeline knows: data hash and windows, features, training
params, metrics with intervals, slices, calibration, staleness, and params.yaml's limitations
and intended use; `model-card` writes it from the files, and refuses without metrics."""

import json

import pytest
import yaml

from mlops.report.card import model_card, write_card

METRICS = {
    "roc_auc": 0.6932,
    "pr_auc": 0.3309,
    "brier": 0.1255,
    "log_loss": 0.4105,
    "threshold": 0.3,
    "positive_rate": 0.15,
    "predicted_positive_rate": 0.22,
    "rows": {"test": 55628, "train": 217727},
    "intervals": {"confidence": 0.95, "resamples": 1000, "roc_auc": [0.6866, 0.7000]},
    "baseline": {"estimator": "logistic_regression", "roc_auc": 0.6775, "pr_auc": 0.2938},
    "slices": {
        "origin=JFK": {
            "rows": 18000,
            "positives": 2500,
            "roc_auc": 0.6561,
            "pr_auc": 0.3,
            "intervals": {"roc_auc": [0.6441, 0.6682]},
        },
        "carrier=AS": {"rows": 122, "positives": 3, "no_auc": "fewer rows than 200"},
    },
    "staleness": {
        "period": "month",
        "periods": [
            {"period": "2013-11", "roc_auc": 0.6576},
            {"period": "2013-12", "roc_auc": None},
        ],
        "stale_after": 1,
    },
}
CALIBRATION = [{"mean_predicted": 0.1, "observed_rate": 0.08}]


@pytest.fixture
def locked(params, tmp_path):
    lock = tmp_path / "dvc.lock"
    stages = {
        "validate": {"deps": [{"path": str(params.paths.raw), "md5": "d" * 32 + ".dir"}]},
        "train": {"outs": [{"path": str(params.paths.model), "md5": "a" * 32}]},
    }
    lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": stages}))
    return params.model_copy(update={"serve": params.serve.model_copy(update={"lock": lock})})


def test_the_card_holds_what_the_pipeline_knows(locked):
    text = model_card(locked, METRICS, CALIBRATION)
    p = locked
    assert text.startswith(f"# Model card: {p.serve.name} {'a' * 12}")
    assert f"`{'d' * 32}.dir`" in text and f"`{'a' * 32}`" in text  # data and model hashes
    assert f"training window: {p.prepare.train_start} to {p.prepare.test_start}" in text
    assert "217,727 rows" in text and "55,628 rows" in text
    for name in p.schema.feature_names:
        assert f"| `{name}` |" in text
    assert f"`{p.train.estimator}` with" in text and f"seed {p.train.seed}" in text
    assert "| roc_auc | 0.6932 | 0.6866 – 0.7000 |" in text and "95% interval" in text
    assert "| `origin=JFK` | 18,000 | 2,500 | 0.6561 | 0.6441 – 0.6682 |" in text
    assert "– (fewer rows than 200)" in text
    assert "| 0.100 | 0.080 |" in text  # calibration
    assert "2013-11 0.6576, 2013-12 –" in text and "after 1 month(s)" in text
    assert p.card.intended_use.split()[0] in text.split("## Intended use")[1]
    for item in p.card.limitations:
        assert f"- {item}" in text


def test_write_card_reads_the_files_and_refuses_without_metrics(locked, tmp_path):
    metrics = tmp_path / "metrics.json"
    paths = locked.paths.model_copy(update={"metrics": metrics, "plots": tmp_path / "plots"})
    p = locked.model_copy(update={"paths": paths})
    with pytest.raises(FileNotFoundError, match="run `make repro` first"):
        write_card(p, tmp_path / "card.md")
    metrics.write_text(json.dumps(METRICS))
    out = write_card(p, tmp_path / "card.md")
    assert "## Slices" in out.read_text() and "## Calibration" in out.read_text()
