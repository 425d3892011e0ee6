"""Stage ``evaluate``: score the model on the test window.

Pure core: :func:`evaluate` takes the fitted pipeline, the test rows and params, and returns
an :class:`Evaluation` (metrics plus the data of every plot). :func:`main` writes
``metrics.json`` (git-tracked, for ``dvc metrics diff``), plot data DVC renders
(``dvc plots show / diff``) and PNG renderings for people.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.pipeline import Pipeline

from mlops.core import model_io
from mlops.core.config import EvaluateParams, SchemaParams
from mlops.pipeline import figures
from mlops.pipeline.train import features_and_target

# File names inside paths.plots; dvc.yaml's `plots:` section refers to the same names
# (tests/code/test_wiring.py keeps the two in step).
PLOT_FILES = {
    "roc": "roc.json",
    "prc": "prc.json",
    "calibration": "calibration.json",
    "importance": "importance.json",
    "confusion": "confusion.csv",
}
_DIGITS = 6


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, Any]
    roc: pd.DataFrame  # fpr, tpr, threshold
    prc: pd.DataFrame  # recall, precision, threshold
    calibration: pd.DataFrame  # mean_predicted, observed_rate
    importance: pd.DataFrame  # feature, importance, std (sorted, largest first)
    confusion: pd.DataFrame  # actual, predicted: one row per test row


def _thin(curve: pd.DataFrame, points: int) -> pd.DataFrame:
    """Keep about ``points`` evenly spaced rows (always the first and last)."""
    if len(curve) <= points:
        return curve.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(curve) - 1, points).round().astype(int))
    return curve.iloc[keep].reset_index(drop=True)


def _metrics(target: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, Any]:
    """The scalar metrics at ``threshold``, the confusion counts and the class rates."""
    predicted = (probability >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(target, predicted, labels=[0, 1]).ravel()
    metrics: dict[str, Any] = {
        "roc_auc": roc_auc_score(target, probability),
        "pr_auc": average_precision_score(target, probability),
        "f1": f1_score(target, predicted, zero_division=0),
        "precision": precision_score(target, predicted, zero_division=0),
        "recall": recall_score(target, predicted, zero_division=0),
        "accuracy": accuracy_score(target, predicted),
        "log_loss": log_loss(target, probability, labels=[0, 1]),
        "brier": brier_score_loss(target, probability),
        "threshold": threshold,
        "positive_rate": float(target.mean()),
        "predicted_positive_rate": float(predicted.mean()),
    }
    metrics = {k: round(float(v), _DIGITS) for k, v in metrics.items()}
    metrics["confusion"] = {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}
    return metrics


def _curves(
    target: np.ndarray, probability: np.ndarray, params: EvaluateParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The ROC and precision-recall curves (thinned) and the calibration curve."""
    fpr, tpr, roc_thresholds = roc_curve(target, probability)
    roc = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": roc_thresholds})
    precision, recall, pr_thresholds = precision_recall_curve(target, probability)
    prc = pd.DataFrame(
        {"recall": recall[:-1], "precision": precision[:-1], "threshold": pr_thresholds}
    )
    observed, mean_predicted = calibration_curve(
        target, probability, n_bins=params.calibration_bins, strategy="quantile"
    )
    calibration = pd.DataFrame({"mean_predicted": mean_predicted, "observed_rate": observed})
    return (
        _thin(roc, params.curve_points).round(_DIGITS),
        _thin(prc, params.curve_points).round(_DIGITS),
        calibration.round(_DIGITS),
    )


def _importance(
    model: Pipeline, test: pd.DataFrame, schema: SchemaParams, params: EvaluateParams, seed: int
) -> pd.DataFrame:
    """Permutation importance (drop in ROC AUC) with its spread, on a seeded sample."""
    sample = test.sample(n=min(params.importance_sample, len(test)), random_state=seed)
    sample_x, sample_y = features_and_target(sample, schema)
    result = permutation_importance(
        model,
        sample_x,
        sample_y,
        scoring="roc_auc",
        n_repeats=params.importance_repeats,
        random_state=seed,
        n_jobs=1,
    )
    importance = pd.DataFrame(
        {
            "feature": schema.feature_names,
            "importance": result.importances_mean,
            "std": result.importances_std,
        }
    ).sort_values("importance", ascending=False, kind="stable", ignore_index=True)
    return importance.round(_DIGITS)


def evaluate(
    model: Pipeline,
    test: pd.DataFrame,
    schema: SchemaParams,
    params: EvaluateParams,
    seed: int,
    train_rows: int | None = None,
) -> Evaluation:
    """Score ``model`` on ``test``: metrics at ``params.threshold`` and every plot's data."""
    features, target = features_and_target(test, schema)
    if len(np.unique(target)) < 2:
        raise ValueError(
            f"the test window holds only one class of '{schema.target}', so ROC AUC and the "
            "other metrics are undefined: widen prepare.test_start..production_start"
        )
    probability = model.predict_proba(features)[:, 1]
    metrics = _metrics(target, probability, params.threshold)
    metrics["rows"] = {"test": len(test)} | ({"train": train_rows} if train_rows else {})
    roc, prc, calibration = _curves(target, probability, params)
    predicted = (probability >= params.threshold).astype(int)
    return Evaluation(
        metrics=metrics,
        roc=roc,
        prc=prc,
        calibration=calibration,
        importance=_importance(model, test, schema, params, seed),
        confusion=pd.DataFrame({"actual": target.astype(int), "predicted": predicted}),
    )


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_plots(result: Evaluation, plots_dir: Path) -> list[Path]:
    """Write the plot data files DVC renders (names from :data:`PLOT_FILES`)."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, filename in PLOT_FILES.items():
        frame: pd.DataFrame = getattr(result, name)
        path = plots_dir / filename
        if filename.endswith(".csv"):
            frame.to_csv(path, index=False)
        else:
            _write_json(path, {name: frame.to_dict(orient="records")})
        written.append(path)
    return written


def main(
    model_path: Path,
    split_dir: Path,
    metrics_path: Path,
    plots_dir: Path,
    figures_dir: Path,
    schema: SchemaParams,
    params: EvaluateParams,
    seed: int,
) -> dict[str, Any]:
    model = model_io.load(model_path)
    test = pd.read_parquet(split_dir / "test.parquet")
    train_rows = pq.ParquetFile(split_dir / "train.parquet").metadata.num_rows
    print(f"evaluate: scoring {len(test):,} test rows ...", flush=True)
    result = evaluate(model, test, schema, params, seed=seed, train_rows=train_rows)
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(metrics_path, result.metrics)
    write_plots(result, plots_dir)
    pngs = figures.render_all(result, figures_dir)
    print(
        f"evaluate: ROC AUC {result.metrics['roc_auc']:.4f}, PR AUC {result.metrics['pr_auc']:.4f}"
        f" -> {metrics_path}, {plots_dir}/, {len(pngs)} PNGs in {figures_dir}/"
    )
    return result.metrics
