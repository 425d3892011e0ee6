"""The analysis: the sampled log against the training window, with Evidently 0.7.

- :func:`reference_frame` samples the training window and scores it with the model, so the
  predicted probabilities have a reference too;
- :func:`analyse` runs data drift per feature, prediction drift and, with late labels,
  classification quality, and applies the rules of ``params.yaml`` (``monitor``) into a
  JSON-able summary with a verdict (``ok``, ``drift`` or ``insufficient_data``).

Evidently is imported inside the functions that use it (importing it takes seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.config import SchemaParams
from mlops.core.monitor_config import MonitorParams, PerformanceParams
from mlops.monitoring.errors import MonitorError
from mlops.monitoring.logs import PREDICTION, PROBABILITY, TARGET
from mlops.monitoring.summary import finite, plain, report_html

# Evidently metric names -> names used in reports/metrics.json
PERFORMANCE_METRICS = {
    "RocAuc": "roc_auc",
    "F1Score": "f1",
    "Precision": "precision",
    "Recall": "recall",
    "Accuracy": "accuracy",
}


# --------------------------------------------------------------------------- reference
def reference_frame(
    train: pd.DataFrame,
    schema: SchemaParams,
    model: Any | None,
    threshold: float,
    rows: int,
    seed: int = 0,
) -> pd.DataFrame:
    """The training window sampled to ``rows``, scored by the model when one is given."""
    missing = [n for n in [*schema.feature_names, schema.target] if n not in train.columns]
    if missing:
        raise MonitorError(f"the reference (training window) lacks columns {missing}")
    if len(train) > rows:
        train = train.sample(rows, random_state=seed)
    frame = train[schema.feature_names].reset_index(drop=True)
    frame[TARGET] = _labels(train[schema.target].to_numpy(), schema)
    if model is not None:
        probability = model.predict_proba(frame[schema.feature_names])[:, 1]
        frame[PROBABILITY] = probability
        frame[PREDICTION] = _labels(probability >= threshold, schema)
    return frame


def _labels(values: Any, schema: SchemaParams) -> np.ndarray:
    return np.where(np.asarray(values, dtype=bool), schema.positive_label, schema.negative_label)


# --------------------------------------------------------------------------- Evidently
def _typed(frame: pd.DataFrame, schema: SchemaParams) -> pd.DataFrame:
    frame = frame.copy()
    for name, spec in schema.features.items():
        if spec.type == "category":
            frame[name] = frame[name].astype("object")
        else:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


def _definition(schema: SchemaParams, columns: list[str], labelled: bool) -> Any:
    from evidently import BinaryClassification, DataDefinition

    numeric = [n for n in schema.numeric if n in columns]
    categorical = [n for n in schema.categorical if n in columns]
    if PROBABILITY in columns:
        numeric.append(PROBABILITY)
    if PREDICTION in columns:
        categorical.append(PREDICTION)
    classification = None
    if labelled:
        categorical.append(TARGET)
        classification = [
            BinaryClassification(
                target=TARGET,
                prediction_labels=PREDICTION,
                prediction_probas=PROBABILITY,
                pos_label=schema.positive_label,
            )
        ]
    return DataDefinition(
        numerical_columns=numeric,
        categorical_columns=categorical,
        classification=classification,
    )


def _threshold(name: str, spec_type: str, monitor: MonitorParams) -> float:
    drift = monitor.drift
    if name in drift.per_feature_threshold:
        return drift.per_feature_threshold[name]
    return drift.cat_threshold if spec_type == "category" else drift.num_threshold


def _drift_metrics(features: list[str], monitor: MonitorParams, has_prediction: bool) -> list[Any]:
    """Evidently's data drift per feature, and drift of the probability and the label."""
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    drift = monitor.drift
    metrics: list[Any] = [
        DataDriftPreset(
            columns=features,
            num_method=drift.num_method,
            cat_method=drift.cat_method,
            num_threshold=drift.num_threshold,
            cat_threshold=drift.cat_threshold,
            per_column_threshold=dict(drift.per_feature_threshold) or None,
            drift_share=drift.share,
        )
    ]
    if has_prediction:
        metrics += [
            ValueDrift(
                column=PROBABILITY,
                method=drift.prediction_method,
                threshold=drift.prediction_threshold,
            ),
            ValueDrift(column=PREDICTION, method=drift.cat_method, threshold=drift.cat_threshold),
        ]
    return metrics


def _drift_scores(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per column: Evidently's method, score, threshold and drift decision."""
    scores: dict[str, dict[str, Any]] = {}
    by_id: dict[str, dict[str, Any]] = {}
    for metric in result["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith(":ValueDrift"):
            entry = {
                "method": config.get("method"),
                "score": finite(metric.get("value")),
                "threshold": finite(config.get("threshold")),
                "drifted": False,
            }
            scores[config["column"]] = entry
            by_id[metric["id"]] = entry
    for test in result["tests"]:
        metric_id = test.get("metric_config", {}).get("metric_id")
        if test.get("id") == "drift" and metric_id in by_id:
            by_id[metric_id]["drifted"] = test.get("status") == "FAIL"
    return scores


# --------------------------------------------------------------------------- analysis
@dataclass
class Analysis:
    summary: dict[str, Any]
    snapshots: list[Any]

    def html(self) -> str:
        return report_html(self.snapshots)


def analyse(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: SchemaParams,
    monitor: MonitorParams,
    evaluated: dict[str, Any] | None = None,
    stats: dict[str, Any] | None = None,
) -> Analysis:
    """Evidently drift (and quality, when ``current`` has labels) plus the verdict.

    ``reference`` and ``current`` hold the features, ``probability`` and ``prediction``
    (labels as strings), and ``target`` (labels as strings; missing when unknown).
    ``evaluated`` is the model's evaluation (reports/metrics.json).
    """
    from evidently import Dataset, Report

    features = schema.feature_names
    absent = [n for n in features if n not in current.columns]
    if absent:
        raise MonitorError(f"the logged predictions lack features {absent} of schema.features")
    has_prediction = PROBABILITY in reference.columns and PROBABILITY in current.columns
    columns = [*features, *([PROBABILITY, PREDICTION] if has_prediction else [])]
    definition = _definition(schema, columns, labelled=False)
    drift_snapshot = Report(
        _drift_metrics(features, monitor, has_prediction), include_tests=True
    ).run(
        Dataset.from_pandas(_typed(current[columns], schema), data_definition=definition),
        Dataset.from_pandas(_typed(reference[columns], schema), data_definition=definition),
    )
    snapshots = [drift_snapshot]
    scores = _drift_scores(drift_snapshot.dict())
    results = {
        "data_drift": _data_drift(scores, schema, monitor),
        "prediction_drift": _prediction_drift(scores, reference, current, schema, has_prediction),
        "performance": _performance(current, schema, monitor, evaluated, snapshots),
    }
    verdict, reasons = _verdict(results, len(current), len(features), monitor)
    summary = {
        "verdict": verdict,
        "reasons": reasons,
        "alert_on": list(monitor.alert_on),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "log": {**(stats or {}), "sampled": len(current)},
        "reference": {"sampled": len(reference)},
        **results,
    }
    return Analysis(summary=plain(summary), snapshots=snapshots)


def _data_drift(
    scores: dict[str, dict[str, Any]], schema: SchemaParams, monitor: MonitorParams
) -> dict[str, Any]:
    """Each feature's score against its threshold, and whether enough of them drifted."""
    features = schema.feature_names
    rows = {}
    for name in features:
        entry = scores.get(name)
        if entry is None:  # pragma: no cover - Evidently always scores every listed column
            continue
        kind = schema.features[name].type
        threshold = finite(entry["threshold"]) or _threshold(name, kind, monitor)
        rows[name] = {**entry, "type": kind, "threshold": threshold}
    drifted = [n for n, r in rows.items() if r["drifted"]]
    share = len(drifted) / len(features) if features else 0.0
    return {
        "detected": bool(share >= monitor.drift.share),
        "share": finite(share),
        "share_threshold": monitor.drift.share,
        "drifted_features": drifted,
        "features": rows,
    }


def _prediction_drift(
    scores: dict[str, dict[str, Any]],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: SchemaParams,
    has_prediction: bool,
) -> dict[str, Any]:
    """Drift of the predicted probability (the verdict's) and of the predicted label."""
    if not has_prediction:
        return {"detected": False, "available": False}
    positive = schema.positive_label
    return {
        "detected": bool(scores[PROBABILITY]["drifted"]),
        "available": True,
        "probability": scores[PROBABILITY],
        "label": scores[PREDICTION],
        "positive_rate": {
            "reference": finite((reference[PREDICTION] == positive).mean()),
            "current": finite((current[PREDICTION] == positive).mean()),
        },
        "mean_probability": {
            "reference": finite(reference[PROBABILITY].mean()),
            "current": finite(current[PROBABILITY].mean()),
        },
    }


def _verdict(
    results: dict[str, Any], rows: int, features: int, monitor: MonitorParams
) -> tuple[str, list[str]]:
    """The verdict and its reasons, from the checks that ``monitor.alert_on`` names."""
    data, prediction = results["data_drift"], results["prediction_drift"]
    performance = results["performance"]
    if rows < monitor.min_rows:
        return "insufficient_data", [
            f"only {rows} logged predictions (monitor.min_rows: {monitor.min_rows})"
        ]
    reasons = []
    if data["detected"]:
        drifted = data["drifted_features"]
        reasons.append(
            f"data drift: {len(drifted)} of {features} features drifted "
            f"({data['share']:.0%} >= {monitor.drift.share:.0%}): {', '.join(drifted)}"
        )
    if prediction["detected"]:
        p = prediction["probability"]
        reasons.append(
            f"prediction drift: probability {p['method']} {p['score']:.3f} "
            f"(threshold {p['threshold']})"
        )
    if performance["status"] == "degraded":
        worse = [n for n, m in performance["metrics"].items() if m["degraded"]]
        reasons.append(f"performance degraded: {', '.join(worse)}")
    active = {
        "data_drift": data["detected"],
        "prediction_drift": prediction["detected"],
        "performance": performance["status"] == "degraded",
    }
    return ("drift" if any(active[k] for k in monitor.alert_on) else "ok"), reasons


# --------------------------------------------------------------------------- performance
def _performance(
    current: pd.DataFrame,
    schema: SchemaParams,
    monitor: MonitorParams,
    evaluated: dict[str, Any] | None,
    snapshots: list[Any],
) -> dict[str, Any]:
    """Quality on the labelled predictions against the model's evaluation (appends the
    Evidently snapshot to ``snapshots`` when there are enough labels to judge)."""
    rules = monitor.performance
    if TARGET not in current.columns or PROBABILITY not in current.columns:
        return {"status": "no_labels", "labelled": 0, "min_labelled": rules.min_labelled}
    labelled = current[current[TARGET].notna()]
    result: dict[str, Any] = {
        "status": "no_labels",
        "labelled": len(labelled),
        "min_labelled": rules.min_labelled,
        "max_drop": rules.max_drop,
        "metrics": {},
    }
    if len(labelled) < rules.min_labelled or labelled[TARGET].nunique() < 2:
        return result
    values = _quality(labelled, schema, snapshots)
    return {**result, **_compare(values, evaluated or {}, rules)}


def _compare(
    values: dict[str, float | None], evaluated: dict[str, Any], rules: PerformanceParams
) -> dict[str, Any]:
    """Each metric of ``rules.metrics`` now against the model's evaluation: degraded when
    it fell by more than ``rules.max_drop`` (a pure function: tests/monitor/test_verdict.py)."""
    metrics = {}
    for name in rules.metrics:
        now, then = values.get(name), finite(evaluated.get(name))
        worse = now is not None and then is not None and now < then - rules.max_drop
        metrics[name] = {
            "current": now,
            "evaluated": then,
            "delta": None if now is None or then is None else now - then,
            "degraded": bool(worse),
        }
    degraded = any(m["degraded"] for m in metrics.values())
    return {"status": "degraded" if degraded else "ok", "metrics": metrics, "all": values}


def _quality(
    labelled: pd.DataFrame, schema: SchemaParams, snapshots: list[Any]
) -> dict[str, float | None]:
    """Evidently's classification metrics on the labelled predictions, by metrics.json name."""
    from evidently import Dataset, Report
    from evidently.presets import ClassificationPreset

    columns = [*schema.feature_names, PROBABILITY, PREDICTION, TARGET]
    definition = _definition(schema, columns, labelled=True)
    # no reference: the model scored on its own training window looks better than it is;
    # the verdict compares with its evaluation on the held-out test window (paths.metrics)
    snapshot = Report([ClassificationPreset()]).run(
        Dataset.from_pandas(_typed(labelled[columns], schema), data_definition=definition), None
    )
    snapshots.append(snapshot)
    values: dict[str, float | None] = {}
    for metric in snapshot.dict()["metrics"]:
        kind = metric.get("config", {}).get("type", "").rsplit(":", 1)[-1]
        if kind in PERFORMANCE_METRICS:
            values[PERFORMANCE_METRICS[kind]] = finite(metric.get("value"))
    return values
