"""Stage ``evaluate``: score the model on the test window, next to a simpler baseline.

Pure core: :func:`evaluate` takes the fitted pipeline, the baseline (:func:`fit_baseline`:
``evaluate.baseline`` fitted on the training window as ``train`` fits), the test rows and
params, and returns an :class:`Evaluation` (metrics plus the data of every plot).
:func:`baseline_shortfall` and :func:`unearned_features` are the verdicts the model tests
pass on it (ML Test Score M5 and D2). :func:`main` writes
``metrics.json`` (git-tracked, for ``dvc metrics diff``; every judged metric with its
bootstrap confidence interval under ``intervals``), the per-row test predictions (a DVC
output the PR report pairs base and branch on), plot data DVC renders
(``dvc plots show / diff``) and PNG renderings for people.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
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
from mlops.core.config import (
    EvaluateParams,
    GateParams,
    PrepareParams,
    SchemaParams,
    TrainParams,
)
from mlops.pipeline import figures, staleness
from mlops.pipeline.bootstrap import Resampling, intervals
from mlops.pipeline.scores import DIGITS, ranking
from mlops.pipeline.slices import slice_metrics
from mlops.pipeline.train import features_and_target, train
from mlops.yours.estimators import ESTIMATORS

# File names inside paths.plots; dvc.yaml's `plots:` section refers to the same names
# (tests/code/test_wiring.py keeps the two in step).
PLOT_FILES = {
    "roc": "roc.json",
    "prc": "prc.json",
    "calibration": "calibration.json",
    "importance": "importance.json",
    "confusion": "confusion.csv",
}
# A feature earns its place when its mean permutation importance exceeds this many standard
# deviations (of the repeats) above zero; schema.features.<name>.weak says why one is kept.
IMPORTANCE_STDS = 2


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, Any]
    roc: pd.DataFrame  # fpr, tpr, threshold
    prc: pd.DataFrame  # recall, precision, threshold
    calibration: pd.DataFrame  # mean_predicted, observed_rate
    importance: pd.DataFrame  # feature, importance, std (sorted, largest first)
    confusion: pd.DataFrame  # actual, predicted: one row per test row
    predictions: pd.DataFrame  # key (row_keys), target, probability: one row per test row


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
    metrics = {k: round(float(v), DIGITS) for k, v in metrics.items()}
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
        _thin(roc, params.curve_points).round(DIGITS),
        _thin(prc, params.curve_points).round(DIGITS),
        calibration.round(DIGITS),
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
    return importance.round(DIGITS)


def fit_baseline(
    table: pd.DataFrame, schema: SchemaParams, train_params: TrainParams, params: EvaluateParams
) -> Pipeline:
    """The simpler model to beat: the estimator ``evaluate.baseline`` fitted on ``table`` (the
    training window) as the train stage fits, with ``train.<baseline>``'s hyper-parameters,
    the seed and the OpenMP threads of ``train``."""
    if params.baseline not in ESTIMATORS:
        raise ValueError(
            f"evaluate.baseline in params.yaml is {params.baseline!r}; "
            f"known estimators: {', '.join(ESTIMATORS)} (see mlops.yours.estimators)"
        )
    return train(table, schema, train_params.model_copy(update={"estimator": params.baseline}))


def row_keys(table: pd.DataFrame, schema: SchemaParams) -> np.ndarray:
    """A key per row that names the same row on another branch: a hash of its time, its
    target and how many rows with that time and target come before it. It survives a change
    of the features or of the model, so the PR report can pair base and branch predictions."""
    first = pd.util.hash_pandas_object(table[[schema.time, schema.target]], index=False)
    seen = first.groupby(first.to_numpy()).cumcount()
    pair = pd.DataFrame({"first": first.to_numpy(), "seen": seen.to_numpy()})
    return pd.util.hash_pandas_object(pair, index=False).to_numpy()


def evaluate(
    model: Pipeline,
    test: pd.DataFrame,
    schema: SchemaParams,
    params: EvaluateParams,
    seed: int,
    baseline: Pipeline,
    train_rows: int | None = None,
) -> Evaluation:
    """Score ``model`` on ``test``: metrics at ``params.threshold`` and every plot's data,
    with the ROC and PR AUC of ``baseline`` and each slice of ``schema.slices`` (nested
    mappings: the top-level numbers, which the PR report tabulates, are the model's)."""
    features, target = features_and_target(test, schema)
    if len(np.unique(target)) < 2:
        raise ValueError(
            f"the test window holds only one class of '{schema.target}', so ROC AUC and the "
            "other metrics are undefined: widen prepare.test_start..production_start"
        )
    probability = model.predict_proba(features)[:, 1]
    metrics = _metrics(target, probability, params.threshold)
    metrics["rows"] = {"test": len(test)} | ({"train": train_rows} if train_rows else {})
    baseline_probability = baseline.predict_proba(features)[:, 1]
    metrics["baseline"] = {"estimator": params.baseline} | ranking(target, baseline_probability)
    boot = Resampling(params.bootstrap, params.confidence, seed)
    metrics["intervals"] = {"confidence": boot.confidence, "resamples": boot.resamples} | (
        intervals(target, probability, params.threshold, boot)
    )
    metrics["slices"] = slice_metrics(test, probability, schema, params.min_slice_rows, boot)
    roc, prc, calibration = _curves(target, probability, params)
    predicted = (probability >= params.threshold).astype(int)
    return Evaluation(
        metrics=metrics,
        roc=roc,
        prc=prc,
        calibration=calibration,
        importance=_importance(model, test, schema, params, seed),
        confusion=pd.DataFrame({"actual": target.astype(int), "predicted": predicted}),
        predictions=pd.DataFrame(
            {
                "key": row_keys(test, schema),
                "target": target.astype(int),
                "probability": probability,
            }
        ),
    )


def baseline_shortfall(metrics: dict[str, Any], margin: float) -> str | None:
    """Why the model does not beat its baseline by ``margin`` ROC AUC points (None if it does),
    from the metrics :func:`evaluate` returns."""
    baseline = metrics["baseline"]
    gap = metrics["roc_auc"] - baseline["roc_auc"]
    if gap >= margin:
        return None
    return (
        f"the model's ROC AUC {metrics['roc_auc']:.4f} beats the baseline "
        f"{baseline['estimator']} ({baseline['roc_auc']:.4f}) by {gap:+.4f}, less than "
        f"evaluate.baseline_margin {margin:g} in params.yaml: the simpler model does as well, "
        f"so use it (train.estimator: {baseline['estimator']}) or improve the model"
    )


def unearned_features(importance: pd.DataFrame, schema: SchemaParams) -> list[str]:
    """The features whose permutation importance (columns feature, importance, std) is not
    above zero by :data:`IMPORTANCE_STDS` standard deviations and that the schema keeps with
    no reason (``schema.features.<name>.weak``), each with its numbers and what to do."""
    low = importance["importance"] - IMPORTANCE_STDS * importance["std"]
    return [
        f"{row.feature}: importance {row.importance:.6f} ± {row.std:.6f} (std) is not above "
        f"zero by {IMPORTANCE_STDS} std: drop it from schema.features in params.yaml, or say "
        f"why it stays with schema.features.{row.feature}.weak: <reason>"
        for row, too_low in zip(importance.itertuples(), low <= 0, strict=True)
        if too_low and not schema.features[row.feature].weak
    ]


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
    predictions_path: Path,
    schema: SchemaParams,
    params: EvaluateParams,
    train_params: TrainParams,
    windows: PrepareParams,
    gate: GateParams,
) -> dict[str, Any]:
    model = model_io.load(model_path)
    training = pd.read_parquet(split_dir / "train.parquet")
    print(f"evaluate: fitting the baseline {params.baseline} ...", flush=True)
    baseline = fit_baseline(training, schema, train_params, params)
    test = pd.read_parquet(split_dir / "test.parquet")
    print(
        f"evaluate: scoring {len(test):,} test rows, {params.bootstrap:,} bootstrap resamples ...",
        flush=True,
    )
    result = evaluate(
        model, test, schema, params, train_params.seed, baseline, train_rows=len(training)
    )
    production = pd.read_parquet(split_dir / "production.parquet")  # ML Test Score M4
    result.metrics["staleness"] = staleness.score_production(
        model, production, schema, result.metrics["roc_auc"], windows, params, gate
    )
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(metrics_path, result.metrics)
    predictions_path.parent.mkdir(parents=True, exist_ok=True)
    result.predictions.to_parquet(predictions_path, index=False)  # the PR report pairs on it
    write_plots(result, plots_dir)
    pngs = figures.render_all(result, figures_dir)
    m, b = result.metrics, result.metrics["baseline"]
    print(
        f"evaluate: ROC AUC {m['roc_auc']:.4f}, PR AUC {m['pr_auc']:.4f} (baseline "
        f"{b['estimator']}: {b['roc_auc']:.4f}, {b['pr_auc']:.4f})"
        f" -> {metrics_path}, {plots_dir}/, {len(pngs)} PNGs in {figures_dir}/"
    )
    return result.metrics
