"""A small, git-friendly profile of the modelling table, and drift between two profiles.

The validate stage stores the profile in ``validation.json`` (tracked by git), so a pull
request can say what changed in the data against the base branch without downloading the
base branch's data: rows, columns and types, target rate, and the population stability
index (PSI) of every feature.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.config import SchemaParams

BINS = 10
TOP_CATEGORIES = 30
OTHER = "(other)"
MISSING = "(missing)"
_EPSILON = 1e-4  # floor for empty bins, so PSI stays finite


def _edges(series: pd.Series, low: float | None, high: float | None) -> list[float]:
    values = series.dropna()
    low = float(values.min()) if low is None and len(values) else (low or 0.0)
    high = float(values.max()) if high is None and len(values) else (high or 1.0)
    if high <= low:
        high = low + 1.0
    return [round(float(x), 6) for x in np.linspace(low, high, BINS + 1)]


def _numeric(series: pd.Series, low: float | None, high: float | None) -> dict[str, Any]:
    values = series.astype(float)
    edges = _edges(values, low, high)
    clipped = values.dropna().clip(edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=edges)
    return {
        "kind": "numeric",
        "mean": round(float(values.mean()), 6) if values.notna().any() else None,
        "std": round(float(values.std()), 6) if values.notna().sum() > 1 else None,
        "missing": int(values.isna().sum()),
        "edges": edges,
        "counts": [int(c) for c in counts],
    }


def _categorical(series: pd.Series) -> dict[str, Any]:
    counts = series.fillna(MISSING).astype(str).value_counts()
    top = counts.head(TOP_CATEGORIES)
    frequencies = {str(k): int(v) for k, v in top.items()}
    rest = int(counts.iloc[TOP_CATEGORIES:].sum())
    if rest:
        frequencies[OTHER] = rest
    return {
        "kind": "category",
        "distinct": int(series.nunique()),
        "missing": int(series.isna().sum()),
        "counts": frequencies,
    }


def profile(table: pd.DataFrame, schema: SchemaParams) -> dict[str, Any]:
    """Rows, column types, target rate and a histogram / frequency table per feature."""
    features = {}
    for name, spec in schema.features.items():
        if spec.type == "category":
            features[name] = _categorical(table[name])
        else:
            features[name] = _numeric(table[name], spec.min, spec.max)
    target = table[schema.target].dropna()
    return {
        "rows": len(table),
        "columns": {name: str(dtype) for name, dtype in table.dtypes.items()},
        "target_rate": round(float(target.mean()), 6) if len(target) else None,
        "features": features,
    }


def _psi(expected: list[float], actual: list[float]) -> float:
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.sum() == 0 or a.sum() == 0:
        return math.nan
    e = np.clip(e / e.sum(), _EPSILON, None)
    a = np.clip(a / a.sum(), _EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(base: dict[str, Any], head: dict[str, Any]) -> float | None:
    """Population stability index of one feature between two profiles (None: not comparable).

    Rule of thumb: < 0.1 stable, 0.1-0.2 moderate shift, > 0.2 significant shift.
    """
    if base.get("kind") != head.get("kind"):
        return None
    if base["kind"] == "numeric":
        if base["edges"] != head["edges"]:
            return None  # different bins (no min/max in the schema): not comparable
        value = _psi(base["counts"], head["counts"])
    else:
        keys = sorted(set(base["counts"]) | set(head["counts"]))
        value = _psi(
            [base["counts"].get(k, 0) for k in keys], [head["counts"].get(k, 0) for k in keys]
        )
    return None if math.isnan(value) else round(value, 4)
