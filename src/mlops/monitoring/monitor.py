"""Production monitoring: the service's prediction log against the training window.

Pure core, thin main:

- :func:`sample_log` streams the JSON-lines prediction log (a file, a folder or any fsspec
  URL) in blocks with pyarrow and keeps a uniform random sample of bounded size (priority
  reservoir), plus exact whole-log counts; memory stays bounded whatever the log size;
- :func:`read_labels` joins late labels (true outcomes) to the sample by request id;
- :func:`reference_frame` samples the training window and scores it with the model, so the
  predicted probabilities have a reference too;
- :func:`analyse` runs Evidently 0.7 (data drift per feature, prediction drift, and, with
  labels, classification quality) and applies the rules of ``params.yaml`` (``monitor``)
  into a JSON-able summary with a verdict; :func:`summary_markdown` renders it for people;
- :func:`main` reads and writes the files: ``report.html`` (self-contained, renders
  offline), ``summary.json`` (plain floats) and ``summary.md``.

Evidently is imported inside the functions that use it (importing it takes seconds).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from mlops.core.config import MonitorParams, Params, SchemaParams
from mlops.core.errors import UserError

PROBABILITY = "probability"
PREDICTION = "prediction"
TARGET = "target"  # label column of the analysed frames (schema labels as strings)

# Evidently metric names -> names used in reports/metrics.json
PERFORMANCE_METRICS = {
    "RocAuc": "roc_auc",
    "F1Score": "f1",
    "Precision": "precision",
    "Recall": "recall",
    "Accuracy": "accuracy",
}


class MonitorError(UserError, ValueError):
    """The logs, labels or reference cannot be analysed; the message says what to fix."""


# --------------------------------------------------------------------------- reading the log
def log_files(location: str) -> tuple[Any, list[str]]:
    """The filesystem and the JSON-lines files at ``location`` (file, folder or URL)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(location)
    if fs.isdir(path):
        files = sorted(
            f
            for pattern in ("**/*.jsonl", "**/*.jsonl.gz")
            for f in fs.glob(f"{path.rstrip('/')}/{pattern}")
        )
        files = [f for f in files if not Path(f).name.startswith("labels")]
    elif fs.exists(path):
        files = [path]
    else:
        files = []
    return fs, files


def log_schema(schema: SchemaParams) -> pa.Schema:
    """The Arrow schema of one logged prediction (the service's PredictionLog format)."""
    features = pa.struct(
        [
            pa.field(name, pa.string() if spec.type == "category" else pa.float64())
            for name, spec in schema.features.items()
        ]
    )
    return pa.schema(
        [
            pa.field("timestamp", pa.string()),
            pa.field("request_id", pa.string()),
            pa.field("model_version", pa.string()),
            pa.field("features", features),
            pa.field(PROBABILITY, pa.float64()),
            pa.field(PREDICTION, pa.string()),
            pa.field("unknown_categories", pa.list_(pa.string())),
        ]
    )


def _batches(
    fs: Any, files: list[str], schema: pa.Schema, block_bytes: int
) -> Iterator[tuple[str, pa.RecordBatch]]:
    read = pajson.ReadOptions(block_size=block_bytes, use_threads=True)
    parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    for name in files:
        with fs.open(name, "rb", compression="infer") as handle:
            try:
                reader = pajson.open_json(handle, read_options=read, parse_options=parse)
                for batch in reader:
                    yield name, batch
            except pa.ArrowInvalid as exc:
                if "Empty JSON stream" in str(exc):  # an empty file: nothing logged yet
                    continue
                raise MonitorError(
                    f"{name} is not a prediction log in the expected JSON-lines format "
                    f"({exc}). Each line must be one JSON object as the service writes it "
                    "(timestamp, request_id, model_version, features, probability, prediction)."
                ) from None


@dataclass
class LogStats:
    """Exact counts over the whole log (the sample only feeds the distributions)."""

    files: int = 0
    rows: int = 0
    first: str | None = None
    last: str | None = None
    versions: Counter[str] = field(default_factory=Counter)
    predictions: Counter[str] = field(default_factory=Counter)
    unknown_rows: int = 0
    probability_sum: float = 0.0
    last_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "rows": self.rows,
            "from": self.first,
            "to": self.last,
            "model_versions": dict(self.versions.most_common()),
            "live_model_version": self.last_version,
            "predictions": dict(self.predictions.most_common()),
            "rows_with_unknown_categories": self.unknown_rows,
            "mean_probability": _float(self.probability_sum / self.rows) if self.rows else None,
        }

    def update(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        stamps = batch.column("timestamp")
        low, high = pc.min_max(stamps).values()
        if low.is_valid and (self.first is None or low.as_py() < self.first):
            self.first = low.as_py()
        if high.is_valid and (self.last is None or high.as_py() >= self.last):
            self.last = high.as_py()
            index = pc.index(stamps, high).as_py()
            self.last_version = batch.column("model_version")[index].as_py()
        for column, counter in (("model_version", self.versions), (PREDICTION, self.predictions)):
            for item in pc.value_counts(batch.column(column)).to_pylist():
                counter[str(item["values"])] += item["counts"]
        lengths = pc.list_value_length(batch.column("unknown_categories"))
        self.unknown_rows += int(pc.sum(pc.greater(lengths, 0)).as_py() or 0)
        self.probability_sum += float(pc.sum(batch.column(PROBABILITY)).as_py() or 0.0)


def sample_log(
    location: str,
    schema: SchemaParams,
    rows: int,
    seed: int = 0,
    block_bytes: int = 32 << 20,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, LogStats]:
    """A uniform sample of at most ``rows`` logged predictions, and exact whole-log stats.

    Streams the log block by block; every row gets a random priority and the ``rows``
    smallest are kept (a reservoir sample), so memory is one block plus the sample.
    """
    fs, files = log_files(location)
    if not files:
        raise MonitorError(
            f"no prediction log found at {location!r} (expected a .jsonl file or a folder of "
            "*.jsonl files). Serve the model and send traffic (`make replay`), or set "
            "monitor.logs in params.yaml to where the service writes serve.prediction_log."
        )
    rng = np.random.default_rng(seed)
    arrow_schema = log_schema(schema)
    stats = LogStats(files=len(files))
    kept: pa.Table | None = None
    keys = np.empty(0)
    for _, batch in _batches(fs, files, arrow_schema, block_bytes):
        if batch.num_rows == 0:
            continue
        stats.update(batch)
        batch_keys = rng.random(batch.num_rows)
        table = pa.Table.from_batches([batch])
        if kept is None:
            kept, keys = table, batch_keys
        else:
            if len(keys) >= rows:  # only rows that beat the current worst key can enter
                enter = batch_keys < keys.max()
                if not enter.any():
                    if progress:
                        progress(stats.rows)
                    continue
                table, batch_keys = table.filter(pa.array(enter)), batch_keys[enter]
            kept = pa.concat_tables([kept, table])
            keys = np.concatenate([keys, batch_keys])
        if len(keys) > rows:
            best = np.argpartition(keys, rows - 1)[:rows]
            kept, keys = kept.take(pa.array(best)), keys[best]
        if progress:
            progress(stats.rows)
    if kept is None:
        raise MonitorError(f"the prediction log at {location!r} is empty: no prediction yet")
    flat = kept.flatten().combine_chunks()
    frame = flat.to_pandas()
    frame.columns = [c.removeprefix("features.") for c in frame.columns]
    frame = frame.drop(columns=["unknown_categories"])
    missing = [n for n in schema.feature_names if frame[n].isna().all()]
    if missing and len(missing) == len(schema.feature_names):
        raise MonitorError(
            f"the log at {location!r} has none of the features of schema.features "
            f"({', '.join(schema.feature_names)}): is it this model's prediction log?"
        )
    return frame.reset_index(drop=True), stats


def read_labels(
    location: str | None, key: str, target: str, ids: pd.Series, block_bytes: int = 32 << 20
) -> pd.Series:
    """Late labels (0/1) for the request ids in ``ids``, streamed; empty when none exist."""
    empty = pd.Series(dtype="float64", name=target)
    if not location:
        return empty
    fs, files = log_files(location)
    if not files:
        return empty
    wanted = pa.array(ids.dropna().astype(str).unique())
    schema = pa.schema([pa.field(key, pa.string()), pa.field(target, pa.float64())])
    parts: list[pa.Table] = []
    for _, batch in _batches(fs, files, schema, block_bytes):
        table = pa.Table.from_batches([batch])
        parts.append(table.filter(pc.is_in(table.column(key), value_set=wanted)))
    if not parts:
        return empty
    labels = pa.concat_tables(parts).to_pandas().dropna()
    bad = labels[~labels[target].isin([0.0, 1.0])]
    if len(bad):
        raise MonitorError(
            f"labels at {location!r}: '{target}' must be 0 or 1, got {bad[target].iloc[0]!r} "
            f"for {key} {bad[key].iloc[0]!r}"
        )
    return labels.drop_duplicates(key, keep="last").set_index(key)[target]


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


# --------------------------------------------------------------------------- analysis
def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


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
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    features = schema.feature_names
    absent = [n for n in features if n not in current.columns]
    if absent:
        raise MonitorError(f"the logged predictions lack features {absent} of schema.features")
    drift = monitor.drift
    has_prediction = PROBABILITY in reference.columns and PROBABILITY in current.columns
    columns = [*features, *([PROBABILITY, PREDICTION] if has_prediction else [])]
    ref = _typed(reference[columns], schema)
    cur = _typed(current[columns], schema)
    definition = _definition(schema, columns, labelled=False)
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
    drift_snapshot = Report(metrics, include_tests=True).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    snapshots = [drift_snapshot]
    scores = _drift_scores(drift_snapshot.dict())

    feature_rows = {}
    for name in features:
        entry = scores.get(name)
        if entry is None:  # pragma: no cover - Evidently always scores every listed column
            continue
        feature_rows[name] = {
            **entry,
            "type": schema.features[name].type,
            "threshold": _float(entry["threshold"])
            or _threshold(name, schema.features[name].type, monitor),
        }
    drifted = [n for n, r in feature_rows.items() if r["drifted"]]
    share = len(drifted) / len(features) if features else 0.0
    data = {
        "detected": bool(share >= drift.share),
        "share": _float(share),
        "share_threshold": drift.share,
        "drifted_features": drifted,
        "features": feature_rows,
    }

    prediction: dict[str, Any] = {"detected": False, "available": has_prediction}
    if has_prediction:
        positive = schema.positive_label
        prediction.update(
            {
                "probability": scores[PROBABILITY],
                "label": scores[PREDICTION],
                "positive_rate": {
                    "reference": _float((reference[PREDICTION] == positive).mean()),
                    "current": _float((current[PREDICTION] == positive).mean()),
                },
                "mean_probability": {
                    "reference": _float(reference[PROBABILITY].mean()),
                    "current": _float(current[PROBABILITY].mean()),
                },
            }
        )
        prediction["detected"] = bool(scores[PROBABILITY]["drifted"])

    performance = _performance(current, schema, monitor, evaluated, snapshots)

    reasons = []
    if data["detected"]:
        reasons.append(
            f"data drift: {len(drifted)} of {len(features)} features drifted "
            f"({share:.0%} >= {drift.share:.0%}): {', '.join(drifted)}"
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
    rows = len(current)
    if rows < monitor.min_rows:
        verdict = "insufficient_data"
        reasons = [f"only {rows} logged predictions (monitor.min_rows: {monitor.min_rows})"]
    elif any(active[k] for k in monitor.alert_on):
        verdict = "drift"
    else:
        verdict = "ok"
    summary = {
        "verdict": verdict,
        "reasons": reasons,
        "alert_on": list(monitor.alert_on),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "log": {**(stats or {}), "sampled": rows},
        "reference": {"sampled": len(reference)},
        "data_drift": data,
        "prediction_drift": prediction,
        "performance": performance,
    }
    return Analysis(summary=plain(summary), snapshots=snapshots)


def _drift_scores(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per column: Evidently's method, score, threshold and drift decision."""
    scores: dict[str, dict[str, Any]] = {}
    by_id: dict[str, dict[str, Any]] = {}
    for metric in result["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith(":ValueDrift"):
            entry = {
                "method": config.get("method"),
                "score": _float(metric.get("value")),
                "threshold": _float(config.get("threshold")),
                "drifted": False,
            }
            scores[config["column"]] = entry
            by_id[metric["id"]] = entry
    for test in result["tests"]:
        metric_id = test.get("metric_config", {}).get("metric_id")
        if test.get("id") == "drift" and metric_id in by_id:
            by_id[metric_id]["drifted"] = test.get("status") == "FAIL"
    return scores


def _performance(
    current: pd.DataFrame,
    schema: SchemaParams,
    monitor: MonitorParams,
    evaluated: dict[str, Any] | None,
    snapshots: list[Any],
) -> dict[str, Any]:
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
            values[PERFORMANCE_METRICS[kind]] = _float(metric.get("value"))
    evaluated = evaluated or {}
    degraded = False
    for name in rules.metrics:
        now, then = values.get(name), _float(evaluated.get(name))
        worse = now is not None and then is not None and now < then - rules.max_drop
        degraded |= worse
        result["metrics"][name] = {
            "current": now,
            "evaluated": then,
            "delta": None if now is None or then is None else now - then,
            "degraded": bool(worse),
        }
    result["all"] = values
    result["status"] = "degraded" if degraded else "ok"
    return result


def plain(value: Any) -> Any:
    """JSON-able copy: numpy scalars to plain floats/ints, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _float(value)
    return value


def report_html(snapshots: list[Any]) -> str:
    """One self-contained HTML page (JS, fonts and data inline) for all snapshots."""
    if len(snapshots) == 1:
        return snapshots[0].get_html_str(as_iframe=False)
    from evidently.core.metric_types import render_widgets
    from evidently.legacy.renderers.html_widgets import group_widget

    widgets = [
        group_widget(title="", widgets=[w for s in snapshots for w in s._widgets]),
        *[w for s in snapshots for w in s._tests_widgets],
    ]
    return render_widgets(widgets, as_iframe=False)


# --------------------------------------------------------------------------- markdown
VERDICT_TEXT = {
    "ok": "✅ **No drift**: production looks like the training window.",
    "drift": "⚠️ **Drift detected**",
    "insufficient_data": "⏸️ **Not enough data** to judge",
}


def _fmt(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_markdown(summary: dict[str, Any], report_link: str | None = None) -> str:
    """A short Markdown summary: verdict, reasons, drifted features, scores, thresholds."""
    log = summary.get("log", {})
    data = summary["data_drift"]
    lines = [
        "## Production monitoring",
        "",
        VERDICT_TEXT.get(summary["verdict"], summary["verdict"]),
        "",
    ]
    lines += [f"- {reason}" for reason in summary["reasons"]]
    lines += [
        "",
        f"Logged predictions: {log.get('rows', 0):,} ({log.get('sampled', 0):,} analysed), "
        f"from {log.get('from') or 'n/a'} to {log.get('to') or 'n/a'}; "
        f"live model version `{log.get('live_model_version') or 'unknown'}`.",
        f"Reference: {summary['reference']['sampled']:,} rows of the training window.",
    ]
    if report_link:
        lines.append(f"Full report: {report_link}")
    lines += [
        "",
        f"### Data drift: {len(data['drifted_features'])} of {len(data['features'])} features "
        f"(alert at {data['share_threshold']:.0%})",
        "",
        "| feature | method | score | threshold | drifted |",
        "|---|---|---:|---:|:---:|",
    ]
    ordered = sorted(data["features"].items(), key=lambda kv: not kv[1]["drifted"])
    for name, row in ordered:
        mark = "⚠️ yes" if row["drifted"] else "no"
        lines.append(
            f"| {name} | {row['method']} | {_fmt(row['score'])} | {_fmt(row['threshold'])} "
            f"| {mark} |"
        )
    prediction = summary["prediction_drift"]
    if prediction.get("available"):
        p = prediction["probability"]
        rate = prediction["positive_rate"]
        lines += [
            "",
            "### Prediction drift",
            "",
            f"- probability: {p['method']} {_fmt(p['score'])} (threshold {_fmt(p['threshold'])})"
            f" {'⚠️ drifted' if p['drifted'] else 'stable'}",
            f"- predicted positive rate: {_fmt(rate['current'])} "
            f"(training window {_fmt(rate['reference'])})",
        ]
    perf = summary["performance"]
    lines += ["", "### Performance on late labels", ""]
    if perf["status"] == "no_labels":
        lines.append(
            f"Not judged: {perf['labelled']:,} labelled predictions "
            f"(needs {perf['min_labelled']:,})."
        )
    else:
        lines += [
            f"{perf['labelled']:,} labelled predictions; degraded when a metric falls more "
            f"than {perf['max_drop']} below the model's evaluation.",
            "",
            "| metric | production | evaluated | delta | degraded |",
            "|---|---:|---:|---:|:---:|",
        ]
        for name, row in perf["metrics"].items():
            lines.append(
                f"| {name} | {_fmt(row['current'])} | {_fmt(row['evaluated'])} "
                f"| {_fmt(row['delta'])} | {'⚠️ yes' if row['degraded'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main
def current_frame(
    sample: pd.DataFrame, labels: pd.Series, schema: SchemaParams, key: str
) -> pd.DataFrame:
    """The sampled log with the late labels joined (``target`` as label strings)."""
    frame = sample.copy()
    if len(labels):
        joined = frame[key].astype(str).map(labels)
        frame[TARGET] = np.where(
            joined.isna(),
            None,
            np.where(joined == 1, schema.positive_label, schema.negative_label),
        )
    return frame


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(
    params: Params,
    monitor: MonitorParams,
    logs: str | None = None,
    labels: str | None = None,
    out: Path | None = None,
    report_link: str | None = None,
    say: Callable[[str], None] = _say,
) -> dict[str, Any]:
    """Read the log, labels, reference and model; write report.html, summary.json/.md."""
    from mlops.core import model_io

    schema = params.schema
    logs = logs or monitor.logs
    labels = labels if labels is not None else monitor.labels
    out = out or monitor.out
    train_path = params.paths.split / "train.parquet"
    if not train_path.exists():
        raise FileNotFoundError(f"{train_path} (the training window) not found: run `make run`")

    say(f"monitor: reading the prediction log at {logs} ...")
    started = datetime.now(UTC)

    last = [0.0]

    def progress(rows: int) -> None:  # a line every 5 s, not one per block
        seconds = (datetime.now(UTC) - started).total_seconds()
        if seconds - last[0] >= 5.0:
            last[0] = seconds
            say(f"  {rows:,} logged predictions read ({seconds:.0f} s)")

    sample, stats = sample_log(
        logs, schema, monitor.current_rows, monitor.seed, monitor.block_bytes, progress
    )
    say(f"monitor: {stats.rows:,} predictions in {stats.files} file(s), {len(sample):,} sampled")
    known = read_labels(
        labels, monitor.key, schema.target, sample[monitor.key], monitor.block_bytes
    )
    say(f"monitor: {len(known):,} late labels matched ({labels})")
    current = current_frame(sample, known, schema, monitor.key)

    model = model_io.load(params.paths.model) if params.paths.model.exists() else None
    if model is None:
        say(f"monitor: {params.paths.model} not found: prediction drift is not computed")
    train = pd.read_parquet(train_path, columns=[*schema.feature_names, schema.target])
    reference = reference_frame(
        train, schema, model, params.evaluate.threshold, monitor.reference_rows, monitor.seed
    )
    del train
    evaluated = (
        json.loads(params.paths.metrics.read_text()) if params.paths.metrics.exists() else None
    )
    say("monitor: running Evidently ...")
    analysis = analyse(reference, current, schema, monitor, evaluated, stats.as_dict())
    analysis.summary["log"]["source"] = logs
    analysis.summary["reference"].update({"source": str(train_path)})
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.html").write_text(analysis.html(), encoding="utf-8")
    (out / "summary.json").write_text(
        json.dumps(analysis.summary, indent=2, allow_nan=False) + "\n"
    )
    (out / "summary.md").write_text(summary_markdown(analysis.summary, report_link))
    return analysis.summary


# --------------------------------------------------------------------------- drift alert issue
# One open issue carries the drift label: created on the first drifted run, updated (body
# and a comment) on the next ones, closed when a run is clean. The count of consecutive
# drifted runs lives in the issue body (a hidden marker), so no other state is needed.
MARKER = "mlops-drift-alert"
_COUNT = re.compile(rf"<!-- {MARKER} consecutive=(\d+) -->")


class AlertError(UserError, RuntimeError):
    """The GitHub CLI failed; the message has its output and what to check."""


# Two refusals are GitHub's defaults, not errors of the run: a fork starts with Issues
# turned off, and no repository lets GitHub Actions open pull requests until its owner
# allows it. Each is recognised from what gh says and told with the setting that changes it.
ISSUES_OFF = (
    "Issues are turned off in this repository (GitHub's default for a fork), so there is no "
    "drift issue: the verdict is in this job summary and the run's `monitor-report` artifact, "
    "and retraining, which counts drifted runs in the drift issue, does not start. To turn "
    "Issues on: Settings → General → Features → Issues."
)
PRS_REFUSED = (
    "GitHub Actions may not create pull requests in this repository (GitHub's default). "
    'Turn on Settings → Actions → General → Workflow permissions → "Allow GitHub Actions to '
    'create and approve pull requests", or set the secret RETRAIN_TOKEN (a fine-grained token '
    "with Contents and Pull requests write; its pull requests also start their checks)."
)


class IssuesDisabled(AlertError):
    """gh: "the '<repo>' repository has disabled issues"."""


class PullRequestsRefused(AlertError):
    """gh: "GitHub Actions is not permitted to create or approve pull requests"."""


@dataclass(frozen=True)
class Issue:
    number: int
    body: str = ""

    @property
    def consecutive(self) -> int:
        found = _COUNT.search(self.body or "")
        return int(found.group(1)) if found else 0


@dataclass(frozen=True)
class AlertAction:
    kind: str  # create | update | close | none
    number: int | None = None
    body: str = ""
    comment: str = ""
    consecutive: int = 0
    retrain: bool = False
    reason: str = ""

    def describe(self) -> str:
        where = f" #{self.number}" if self.number else ""
        retrain = "; retraining starts" if self.retrain else ""
        return f"{self.kind}{where}: {self.reason}{retrain}"


def _report_line(report_url: str | None) -> str:
    if not report_url:
        return "see the monitor workflow run (artifact monitor-report)"
    if "/actions/runs/" in report_url:  # no Pages site: the report is the run's artifact
        return f"artifact `monitor-report` of {report_url}"
    return report_url


def issue_body(
    summary: dict[str, Any], consecutive: int, retrain_after: int, report_url: str | None
) -> str:
    log = summary.get("log", {})
    version = log.get("live_model_version") or "unknown"
    lines = [
        f"<!-- {MARKER} consecutive={consecutive} -->",
        f"The scheduled monitor found drift in production for **{consecutive} consecutive "
        f"run(s)** (retraining starts after {retrain_after}).",
        "",
        f"- live model version: `{version}`",
        f"- report: {_report_line(report_url)}",
        f"- last run: {summary.get('generated_at', 'n/a')}",
        "",
        summary_markdown(summary, report_url),
        "",
        "This issue is updated by every drifted run and closed by the first clean one.",
    ]
    return "\n".join(lines)


def decide(
    summary: dict[str, Any],
    existing: Issue | None,
    alert: Any,
    report_url: str | None = None,
) -> AlertAction:
    """What to do with the one drift issue, given the monitor's verdict (pure)."""
    verdict = summary.get("verdict")
    version = summary.get("log", {}).get("live_model_version") or "unknown"
    if verdict == "drift":
        consecutive = (existing.consecutive if existing else 0) + 1
        retrain = consecutive % alert.retrain_after == 0
        body = issue_body(summary, consecutive, alert.retrain_after, report_url)
        reasons = "; ".join(summary.get("reasons", []))
        comment = (
            f"Drift again (run {consecutive} in a row, model `{version}`): {reasons}"
            + (f"\n\nReport: {report_url}" if report_url else "")
            + (
                "\n\nRetraining starts now: the next job opens a pull request, or says here "
                "why it cannot."
                if retrain
                else ""
            )
        )
        if existing is None:
            return AlertAction("create", None, body, "", consecutive, retrain, "drift found")
        return AlertAction(
            "update", existing.number, body, comment, consecutive, retrain, "drift persists"
        )
    if verdict == "ok":
        if existing is None:
            return AlertAction("none", reason="no drift, no open issue")
        comment = f"The latest monitor run found no drift (model `{version}`): closing." + (
            f"\n\nReport: {report_url}" if report_url else ""
        )
        return AlertAction("close", existing.number, comment=comment, reason="drift cleared")
    return AlertAction(
        "none",
        existing.number if existing else None,
        consecutive=existing.consecutive if existing else 0,
        reason=f"verdict {verdict}: nothing changed",
    )


class GhClient:
    """The few `gh` calls the alert needs (GH_TOKEN and GH_REPO come from the environment)."""

    def __init__(self, gh: str = "gh") -> None:
        self.gh = gh

    def run(self, *args: str, stdin: str | None = None) -> str:
        import subprocess

        try:
            done = subprocess.run(
                [self.gh, *args], input=stdin, capture_output=True, text=True, check=False
            )
        except FileNotFoundError:
            raise AlertError(
                f"`{self.gh}` not found: install the GitHub CLI (https://cli.github.com)"
            ) from None
        if done.returncode != 0:
            said = done.stderr.strip() or done.stdout.strip()
            failed = f"`gh {' '.join(args[:3])}` failed (exit {done.returncode}): {said}."
            if "repository has disabled issues" in said:
                raise IssuesDisabled(f"{ISSUES_OFF} ({failed})")
            if "not permitted to create or approve pull requests" in said:
                raise PullRequestsRefused(f"{PRS_REFUSED} ({failed})")
            raise AlertError(
                f"{failed} Check that GH_TOKEN can write issues (workflow permission "
                "`issues: write`) and GH_REPO is set."
            )
        return done.stdout

    def open_issue(self, label: str) -> Issue | None:
        out = self.run(
            "issue", "list", "--state", "open", "--label", label,
            "--json", "number,body", "--limit", "20",
        )  # fmt: skip
        issues = sorted(json.loads(out or "[]"), key=lambda i: i["number"])
        if not issues:
            return None
        return Issue(int(issues[0]["number"]), issues[0].get("body") or "")


def apply(client: GhClient, action: AlertAction, alert: Any) -> int | None:
    """Carry out ``action`` with ``client``; return the issue number."""
    if action.kind == "create":
        client.run(
            "label", "create", alert.label, "--color", "D93F0B",
            "--description", "Production drift found by the scheduled monitor", "--force",
        )  # fmt: skip
        url = client.run(
            "issue", "create", "--title", alert.title, "--label", alert.label,
            "--body-file", "-", stdin=action.body,
        ).strip()  # fmt: skip
        tail = url.rstrip("/").rsplit("/", 1)[-1]
        return int(tail) if tail.isdigit() else None
    if action.kind == "update":
        number = str(action.number)
        client.run("issue", "edit", number, "--body-file", "-", stdin=action.body)
        client.run("issue", "comment", number, "--body-file", "-", stdin=action.comment)
        return action.number
    if action.kind == "close":
        client.run("issue", "close", str(action.number), "--comment", action.comment)
        return action.number
    return action.number


# --------------------------------------------------------------------------- Pages site
# The monitor workflow publishes the latest report to GitHub Pages when the repository
# variable MONITOR_PAGES is "true": a small site whose index page shows the summary and
# links the full Evidently report (each deploy replaces the site: it is always the latest).
SITE_FILES = ("report.html", "summary.json", "summary.md")

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1f2328; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; }}
code {{ background: #f6f8fa; padding: .1rem .3rem; border-radius: 4px; }}
.latest {{ font-size: 1.2rem; padding: .8rem 1rem; background: #f6f8fa;
          border: 1px solid #d0d7de; border-radius: 6px; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="latest"><a href="report.html">Latest drift report</a> (generated {generated},
verdict <strong>{verdict}</strong>) &middot; <a href="summary.json">summary.json</a>
&middot; <a href="summary.md">summary.md</a></p>
{summary}
</body>
</html>
"""


def site_index(summary: dict[str, Any], title: str = "Production monitoring") -> str:
    """The site's index page: a link to the latest report and the summary (pure)."""
    from html import escape

    from markdown_it import MarkdownIt

    markdown = summary_markdown(summary)
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return _PAGE.format(
        title=escape(title),
        generated=escape(str(summary.get("generated_at", "n/a"))),
        verdict=escape(str(summary.get("verdict", "n/a"))),
        summary=body,
    )


def build_site(report_dir: Path, site: Path) -> list[Path]:
    """Write ``site``: index.html plus the report and summaries of ``report_dir``."""
    import shutil

    missing = [name for name in SITE_FILES if not (report_dir / name).is_file()]
    if missing:
        raise MonitorError(
            f"{', '.join(str(report_dir / m) for m in missing)} not found: the Pages site is "
            "built from the monitor's output; run `make monitor` first"
        )
    summary = json.loads((report_dir / "summary.json").read_text())
    if site.exists():
        shutil.rmtree(site)  # the site is always exactly the latest run
    site.mkdir(parents=True)
    written = []
    for name in SITE_FILES:
        shutil.copy2(report_dir / name, site / name)
        written.append(site / name)
    (site / "index.html").write_text(site_index(summary), encoding="utf-8")
    written.append(site / "index.html")
    return written


# --------------------------------------------------------------------------- retraining
# When drift persists, the training window moves forward by whole months (the prepare
# section of params.yaml, edited in place so its comments stay), the pipeline is reproduced
# and the change comes back as one pull request (branch `alert.retrain_branch`), which gets
# the normal PR report and quality gate. Nothing is deployed without a merge.
_WINDOW_KEYS = ("train_start", "test_start", "production_start")


def move_window(text: str, months: int) -> tuple[str, dict[str, tuple[str, str]]]:
    """params.yaml text with prepare.* dates moved by ``months``; and what changed."""
    changes: dict[str, tuple[str, str]] = {}
    lines = text.splitlines(keepends=True)
    inside = False
    for i, line in enumerate(lines):
        if re.match(r"^\S", line):
            inside = line.startswith("prepare:")
            continue
        found = re.match(r"^(\s+)(\w+):(\s*)([\"']?)(\d{4}-\d{2}-\d{2})([\"']?)(.*)$", line, re.S)
        if inside and found and found.group(2) in _WINDOW_KEYS:
            old = found.group(5)
            new = (pd.Timestamp(old) + pd.DateOffset(months=months)).date().isoformat()
            indent, key, space, q1, _, q2, rest = found.groups()
            lines[i] = f"{indent}{key}:{space}{q1}{new}{q2}{rest}"
            changes[key] = (old, new)
    missing = [k for k in _WINDOW_KEYS if k not in changes]
    if missing:
        raise MonitorError(
            f"params.yaml: prepare.{', prepare.'.join(missing)} not found as YYYY-MM-DD dates; "
            "the retraining moves the training window by editing them"
        )
    return "".join(lines), changes


class RetrainBlocked(MonitorError):
    """Retraining did not end in a pull request, for a reason the run cannot fix: the job
    stays green and says why (job summary, a warning, a comment on the drift issue)."""

    title = "Retraining blocked"
    lead = "Retraining did not start"


class WindowBlocked(RetrainBlocked):
    """The training window cannot move: the data ends before the moved windows."""

    title = "Retraining needs new data"


class PullRequestRefused(RetrainBlocked):
    """GitHub refused the pull request; the pushed branch was deleted again."""

    title = "Retraining pull request refused"
    lead = "Retraining did not open its pull request"


def check_window_fits(changes: dict[str, tuple[str, str]], last: pd.Timestamp) -> None:
    """Raise :class:`WindowBlocked` unless the data reaches the moved production window.

    ``last`` is the latest labelled time in the data. Moving the window is retraining on
    newer data; with no row on or after the new ``production_start`` there is no newer data
    yet (and nothing left held back for monitoring), so new data must come first.
    """
    old, new = changes["production_start"]
    if pd.Timestamp(new) > last:
        raise WindowBlocked(
            f"retraining needs new data: moving the training window would put "
            f"prepare.production_start at {new}, but the data ends at {last} (it was {old}). "
            "Add the newer rows to the raw data (data/), record them with `dvc add data` "
            "(then `dvc push` when a remote is set), commit data.dvc and push; the next "
            "drifted monitor run retrains on them. Or move the prepare dates by hand."
        )


def _git(root: Path, *args: str) -> str:
    import subprocess

    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise MonitorError(f"`git {' '.join(args[:2])}` failed: {done.stderr.strip()}")
    return done.stdout


def retrain(
    root: Path,
    months: int,
    branch: str,
    base: str,
    push_url: str,
    client: GhClient,
    reproduce: Callable[[], None],
    report_url: str | None = None,
    say: Callable[[str], None] = _say,
    data_end: pd.Timestamp | None = None,
) -> str:
    """Move the window, reproduce, push ``branch`` and open (or update) its one PR.

    With ``data_end`` (the latest labelled time), a move past the data raises
    :class:`WindowBlocked` before anything is changed.
    """
    params_file = root / "params.yaml"
    text, changes = move_window(params_file.read_text(), months)
    if data_end is not None:
        check_window_fits(changes, data_end)
    _git(root, "switch", "-C", branch)
    params_file.write_text(text)
    moved = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changes.items())
    say(f"retrain: {moved}; reproducing the pipeline ...")
    reproduce()
    _git(root, "add", "params.yaml", "dvc.lock")
    title = f"Retrain: move the training window forward {months} month(s)"
    _git(root, "-c", "user.name=mlops-monitor",
         "-c", "user.email=mlops-monitor@users.noreply",
         "commit", "-q", "-m", f"{title}\n\n{moved}")  # fmt: skip
    _git(root, "push", "--force", push_url, f"HEAD:refs/heads/{branch}")
    body = (
        f"Drift persisted in production, so the scheduled monitor moved the training window "
        f"forward {months} month(s) and reproduced the pipeline:\n\n"
        + "\n".join(f"- `prepare.{k}`: {a} → {b}" for k, (a, b) in changes.items())
        + (f"\n\nDrift report: {report_url}" if report_url else "")
        + "\n\nThis pull request gets the normal report and quality gate; nothing is deployed "
        "until it is merged."
    )
    existing = json.loads(
        client.run("pr", "list", "--head", branch, "--state", "open", "--json", "number,url")
        or "[]"
    )
    if existing:
        number = str(existing[0]["number"])
        client.run("pr", "edit", number, "--title", title, "--body-file", "-", stdin=body)
        say(f"retrain: updated pull request #{number}")
        return str(existing[0].get("url") or number)
    try:
        url = client.run(
            "pr", "create", "--base", base, "--head", branch, "--title", title,
            "--body-file", "-", stdin=body,
        ).strip()  # fmt: skip
    except PullRequestsRefused:
        # no pull request, so no branch either: nothing is left for anyone to clean up
        _git(root, "push", push_url, "--delete", branch)
        raise PullRequestRefused(
            f"the branch {branch} was pushed ({moved}) but GitHub refused to open its pull "
            f"request, so the branch was deleted again. {PRS_REFUSED}"
        ) from None
    say(f"retrain: opened {url}")
    return url
