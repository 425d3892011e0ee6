"""The model card (``make model-card`` -> ``paths.card``): what the model is, from what the
pipeline knows, in one Markdown page a reviewer, an auditor or a client of the service reads.

Written from git-tracked files only (params.yaml, dvc.lock, metrics.json, the calibration
plot data), so it can be rebuilt at any commit without the data: the model and data hashes
and the windows, the target and the features, the training params, every metric with its
interval, the baseline, the slices, the calibration, the staleness curve, and what
params.yaml's ``card`` section says (intended use, known limitations). The release job
attaches it to ``model-<version>``, the bento ships it (``GET /model-card``), and the PR
report links the branch's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops.core.config import Params
from mlops.serving.model import ModelMismatchError, locked_md5, model_version

CARD_METRICS = ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss", "brier")


def _md5(lock: Path, path: Path, kind: str = "outs") -> str:
    try:
        return locked_md5(lock, path, kind)
    except (ModelMismatchError, FileNotFoundError):
        return "unknown (not in dvc.lock: run `make repro`)"


def _features(params: Params) -> list[str]:
    lines = ["| feature | type | allowed |", "|---|---|---|"]
    for name, spec in params.schema.features.items():
        if spec.values:
            allowed = ", ".join(spec.values)
        elif spec.min is not None and spec.max is not None:
            allowed = f"{spec.min:g} to {spec.max:g}"
        elif spec.min is not None or spec.max is not None:
            allowed = f"≥ {spec.min:g}" if spec.min is not None else f"≤ {spec.max:g}"
        else:
            allowed = "any (unseen categories are encoded as unknown)"
        missing = f"; up to {spec.max_missing:.0%} missing" if spec.nullable else ""
        lines.append(f"| `{name}` | {spec.type} | {allowed}{missing} |")
    return lines


def _span(interval: list[float] | None) -> str:
    return "–" if not interval else f"{interval[0]:.4f} – {interval[1]:.4f}"


def _metrics(metrics: dict[str, Any]) -> list[str]:
    intervals = metrics.get("intervals") or {}
    level = f"{intervals['confidence']:.0%} interval" if "confidence" in intervals else "interval"
    lines = [f"| metric | value | {level} |", "|---|---:|---:|"]
    lines += [
        f"| {name} | {metrics[name]:.4f} | {_span(intervals.get(name))} |"
        for name in CARD_METRICS
        if isinstance(metrics.get(name), float)
    ]
    if "resamples" in intervals:
        lines += [
            "",
            f"Intervals: bootstrap over the test rows, {intervals['resamples']:,} resamples.",
        ]
    baseline = metrics.get("baseline")
    if baseline:
        lines += [
            "",
            f"Baseline `{baseline['estimator']}` (the simpler model it must beat): ROC AUC "
            f"{baseline['roc_auc']:.4f}, PR AUC {baseline['pr_auc']:.4f}.",
        ]
    return lines


def _slices(metrics: dict[str, Any]) -> list[str]:
    slices = metrics.get("slices") or {}
    if not slices:
        return ["No slices named (`schema.slices` in params.yaml)."]
    lines = ["| slice | rows | positives | ROC AUC | interval |", "|---|---:|---:|---:|---:|"]
    for name, s in slices.items():
        auc = f"{s['roc_auc']:.4f}" if "roc_auc" in s else f"– ({s.get('no_auc', 'none')})"
        interval = _span((s.get("intervals") or {}).get("roc_auc"))
        lines.append(f"| `{name}` | {s['rows']:,} | {s['positives']:,} | {auc} | {interval} |")
    return lines


def _calibration(calibration: list[dict[str, float]] | None, metrics: dict[str, Any]) -> list[str]:
    lines = [
        f"Brier score {metrics.get('brier', float('nan')):.4f}, log loss "
        f"{metrics.get('log_loss', float('nan')):.4f}; observed positive rate "
        f"{metrics.get('positive_rate', float('nan')):.4f} against a predicted positive rate "
        f"{metrics.get('predicted_positive_rate', float('nan')):.4f} at threshold "
        f"{metrics.get('threshold', float('nan')):g}.",
    ]
    if calibration:
        lines += ["", "| mean predicted | observed rate |", "|---:|---:|"]
        lines += [f"| {p['mean_predicted']:.3f} | {p['observed_rate']:.3f} |" for p in calibration]
    return lines


def _staleness(metrics: dict[str, Any]) -> list[str]:
    curve = metrics.get("staleness")
    if not curve:
        return ["No staleness curve in metrics.json."]
    points = ", ".join(
        f"{p['period']} {p['roc_auc']:.4f}" if p["roc_auc"] is not None else f"{p['period']} –"
        for p in curve["periods"]
    )
    after = curve["stale_after"]
    stale = (
        "never within the production window"
        if after is None
        else f"after {after} {curve['period']}(s)"
    )
    return [
        f"ROC AUC per {curve['period']} after the test window: {points}. Stale (a drop "
        f"beyond gate.max_drop): {stale}."
    ]


def model_card(
    params: Params, metrics: dict[str, Any], calibration: list[dict[str, float]] | None
) -> str:
    """The model card's Markdown, from ``params``, dvc.lock (``serve.lock``), the
    ``metrics`` evaluate wrote and its ``calibration`` curve."""
    lock, w, schema, card = params.serve.lock, params.prepare, params.schema, params.card
    model_md5 = _md5(lock, params.paths.model)
    version = model_version(model_md5) if not model_md5.startswith("unknown") else "unknown"
    rows = metrics.get("rows") or {}
    train = params.train
    hyper = getattr(train, train.estimator, None) or {}
    sections = [
        [f"# Model card: {params.serve.name} {version}", ""],
        ["## Intended use", "", card.intended_use.strip()],
        ["## Known limitations", "", *(f"- {item}" for item in card.limitations)],
        [
            "## Model",
            "",
            f"- estimator: `{train.estimator}` with {json.dumps(hyper)}, seed {train.seed}",
            f"- model MD5 (dvc.lock): `{model_md5}`",
            f"- predicts `{schema.target}` = 1 (`{schema.positive_label}`) against "
            f"`{schema.negative_label}`; decision threshold {params.evaluate.threshold:g}",
        ],
        [
            "## Data",
            "",
            f"- raw data MD5 (dvc.lock): `{_md5(lock, params.paths.raw, 'deps')}`",
            f"- training window: {w.train_start} to {w.test_start} (excluded), "
            f"{rows.get('train', 0):,} rows",
            f"- test window: {w.test_start} to {w.production_start} (excluded), "
            f"{rows.get('test', 0):,} rows",
            f"- held back as production: from {w.production_start} (the staleness curve)",
        ],
        ["## Features", "", *_features(params)],
        ["## Metrics on the test window", "", *_metrics(metrics)],
        ["## Slices", "", *_slices(metrics)],
        ["## Calibration", "", *_calibration(calibration, metrics)],
        ["## Staleness", "", *_staleness(metrics)],
    ]
    return "\n\n".join("\n".join(s).strip() for s in sections) + "\n"


def write_card(params: Params, out: Path | None = None) -> Path:
    """Write the model card to ``out`` (``paths.card`` by default); its path."""
    metrics_path = params.paths.metrics
    if not metrics_path.exists():
        raise FileNotFoundError(f"{metrics_path} not found: run `make repro` first")
    metrics = json.loads(metrics_path.read_text())
    calibration_file = params.paths.plots / "calibration.json"
    calibration = None
    if calibration_file.exists():
        calibration = json.loads(calibration_file.read_text()).get("calibration")
    out = out or params.paths.card
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(model_card(params, metrics, calibration))
    return out
