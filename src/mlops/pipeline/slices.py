"""The model's quality on every named slice of the test window (ML Test Score M6).

``schema.slices`` in params.yaml names the slices: a feature's every value, or its bands
between edges. Pure core: :func:`slice_metrics` scores given probabilities on each slice
(rows, positives, ROC and PR AUC with their bootstrap intervals; no AUC for a slice under
``evaluate.min_slice_rows`` rows or of one class, with the reason under ``no_auc``);
:func:`weak_slices` is the verdict the model test passes on it. The evaluate stage calls
:func:`slice_metrics` with the test window's probabilities it already has; the output is
the nested ``slices`` mapping of ``metrics.json`` (nested, so the top-level numbers the PR
report tabulates stay the model's).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.config import SchemaParams
from mlops.pipeline.bootstrap import RANKING, Resampling, intervals
from mlops.pipeline.scores import ranking


def _edge(value: float) -> str:
    return f"{value:g}"


def slice_masks(table: pd.DataFrame, schema: SchemaParams) -> dict[str, pd.Series]:
    """Each slice of ``schema.slices`` on ``table``: its name (``feature=value`` or
    ``feature=[low, high)``) and which rows it holds. A value slice per value present
    (missing values are in none); a band holds ``low <= value < high``."""
    masks: dict[str, pd.Series] = {}
    for feature, spec in schema.slices.items():
        column = table[feature]
        if spec == "values":
            for value in sorted(column.dropna().unique()):
                masks[f"{feature}={value}"] = column == value
        else:
            for low, high in pairwise(spec):
                name = f"{feature}=[{_edge(low)}, {_edge(high)})"
                masks[name] = (column >= low) & (column < high)
    return masks


def _slice_entry(
    target: np.ndarray,
    probability: np.ndarray,
    min_rows: int,
    bootstrap: Resampling | None,
) -> dict[str, Any]:
    rows, positives = len(target), int(target.sum())
    entry: dict[str, Any] = {"rows": rows, "positives": positives}
    if rows < min_rows:
        entry["no_auc"] = f"fewer rows than evaluate.min_slice_rows ({min_rows})"
    elif positives in (0, rows):
        entry["no_auc"] = "one class only: ROC and PR AUC are undefined"
    else:
        entry |= ranking(target, probability)
        if bootstrap is not None:
            found = intervals(target, probability, None, bootstrap, RANKING)
            entry["intervals"] = {m: found[m] for m in RANKING}
    return entry


def slice_metrics(
    table: pd.DataFrame,
    probability: np.ndarray,
    schema: SchemaParams,
    min_rows: int,
    bootstrap: Resampling | None = None,
) -> dict[str, dict[str, Any]]:
    """Rows, positives and (from ``min_rows`` rows and both classes on) ROC and PR AUC of
    ``probability`` (one per row of ``table``) on every slice of ``schema.slices``, with
    their ``bootstrap`` confidence intervals (under ``intervals``) when it is given."""
    target = table[schema.target].to_numpy().astype(int)
    probability = np.asarray(probability)
    masks = slice_masks(table, schema)
    return {
        name: _slice_entry(target[mask], probability[mask], min_rows, bootstrap)
        for name, mask in ((n, m.to_numpy(dtype=bool)) for n, m in masks.items())
    }


def weak_slices(metrics: dict[str, Any], max_slice_drop: float, min_rows: int) -> list[str]:
    """The slices (``metrics["slices"]``, from :func:`slice_metrics`) of ``min_rows`` rows or
    more whose ROC AUC is below the overall ``metrics["roc_auc"]`` by more than
    ``max_slice_drop``, each with its numbers and what to do."""
    if "slices" not in metrics:
        raise ValueError(
            "the metrics hold no 'slices' mapping: score them with mlops.pipeline.slices"
            ".slice_metrics (the evaluate stage writes them into metrics.json)"
        )
    overall = metrics["roc_auc"]
    return [
        f"{name}: ROC AUC {s['roc_auc']:.4f} on {s['rows']:,} rows ({s['positives']:,} "
        f"positive) is {overall - s['roc_auc']:.4f} below the overall {overall:.4f}, more than "
        f"evaluate.max_slice_drop {max_slice_drop:g} in params.yaml: improve the model on "
        "this slice, or raise the limit with a comment saying why the drop is accepted"
        for name, s in metrics["slices"].items()
        if "roc_auc" in s and s["rows"] >= min_rows and overall - s["roc_auc"] > max_slice_drop
    ]
