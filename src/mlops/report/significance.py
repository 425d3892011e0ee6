"""Is the branch's change of a metric more than noise? The interval of the difference
between this branch and the base, and the verdict it supports.

Paired when both sides' per-row test predictions are at hand (``paths.predictions``, a DVC
output): the rows are joined on their key (:func:`mlops.pipeline.evaluate.row_keys`) and the
same bootstrap resamples score both models, so the noise the two share (which rows were
drawn) cancels. Otherwise from the two intervals in ``metrics.json`` (each side's own
bootstrap), combined as if independent: wider, so a change must be larger to count. The
verdict is "better" or "worse" when the interval of the difference excludes zero, else "no
significant change". A base without intervals (before this report existed) falls back to the
fixed ``gate.significant`` threshold, and the report says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlops.pipeline.bootstrap import JUDGED, Resampling, difference
from mlops.report.metrics import DIRECTIONS

BETTER, WORSE, NO_CHANGE = "better", "worse", "no significant change"


@dataclass(frozen=True)
class Difference:
    """This branch minus the base on one metric, with the interval of that difference."""

    metric: str
    delta: float
    interval: list[float] | None  # None: no interval could be computed (threshold rule)
    verdict: str  # better / worse / no significant change

    def interval_text(self) -> str:
        if self.interval is None:
            return "no interval"
        low, high = self.interval
        return f"{low:+.4f} to {high:+.4f}"


@dataclass(frozen=True)
class Comparison:
    """Every judged metric's :class:`Difference`, and how the intervals were obtained."""

    differences: dict[str, Difference]
    method: str  # paired / intervals / threshold
    how: str  # one sentence for the report
    confidence: float | None = None


def judge(metric: str, delta: float, interval: list[float] | None, significant: float) -> str:
    """better / worse when ``interval`` (of the difference) excludes zero; without one, when
    ``delta`` is at least ``significant``."""
    direction = DIRECTIONS.get(metric, 1)
    moved = (interval[0] > 0 or interval[1] < 0) if interval else abs(delta) >= significant
    if not moved:
        return NO_CHANGE
    return BETTER if delta * direction > 0 else WORSE


def combined(head: list[float], base: list[float], delta: float) -> list[float]:
    """The interval of a difference from the two sides' intervals, taken as independent:
    the half-widths add in quadrature around ``delta``."""
    half = math.hypot((head[1] - head[0]) / 2, (base[1] - base[0]) / 2)
    return [round(delta - half, 6), round(delta + half, 6)]


def paired(
    head: pd.DataFrame, base: pd.DataFrame, thresholds: tuple[float, float], params: Resampling
) -> tuple[dict[str, list[float] | None], int] | None:
    """The paired intervals of head minus base for every judged metric, and the number of
    rows both sides scored; None when the two do not hold the same test rows (keys, targets)."""
    if not (head["key"].is_unique and base["key"].is_unique):
        return None
    joined = head.merge(base, on="key", suffixes=("_head", "_base"))
    same = len(joined) == len(head) == len(base)
    if not same or not (joined["target_head"] == joined["target_base"]).all():
        return None
    found = difference(
        joined["target_head"].to_numpy(),
        joined["probability_head"].to_numpy(),
        joined["probability_base"].to_numpy(),
        thresholds,
        params,
    )
    return found, len(joined)


def compare(
    head: dict[str, Any],
    base: dict[str, Any],
    predictions: tuple[pd.DataFrame | None, pd.DataFrame | None, str],
    params: Resampling,
    significant: float,
) -> Comparison:
    """The :class:`Comparison` of ``head`` and ``base`` metrics; ``predictions`` are (this
    branch's, the base's, where the base's came from or why they are missing)."""
    names = [m for m in JUDGED if isinstance(head.get(m), float) and isinstance(base.get(m), float)]
    deltas = {m: head[m] - base[m] for m in names}
    head_rows, base_rows, where = predictions
    pairs = None
    if head_rows is None:
        where = "this branch has no per-row predictions: run `make repro`"
    elif base_rows is not None:
        thresholds = (head["threshold"], base.get("threshold", head["threshold"]))
        pairs = paired(head_rows, base_rows, thresholds, params)
        if pairs is None:
            where = "they do not hold the same test rows as this branch's"
    if pairs is not None:
        found, rows = pairs
        how = f"paired on the same {rows:,} test rows (the base's predictions from {where})"
        return _comparison(deltas, found, "paired", how, significant, params.confidence)
    head_iv, base_iv = head.get("intervals") or {}, base.get("intervals") or {}
    if all(head_iv.get(m) and base_iv.get(m) for m in names):
        found = {m: combined(head_iv[m], base_iv[m], deltas[m]) for m in names}
        how = (
            "from the two sides' intervals, not paired: the base's per-row predictions are "
            f"not available ({where}), so the intervals are wider than a paired comparison's"
        )
        return _comparison(deltas, found, "intervals", how, significant, params.confidence)
    how = (
        "no intervals: the base's metrics have none (written before the bootstrap existed), so "
        f"a change of at least gate.significant {significant:g} counts"
    )
    return _comparison(deltas, dict.fromkeys(names), "threshold", how, significant, None)


def _comparison(
    deltas: dict[str, float],
    found: dict[str, list[float] | None],
    method: str,
    how: str,
    significant: float,
    confidence: float | None,
) -> Comparison:
    differences = {
        m: Difference(m, d, found.get(m), judge(m, d, found.get(m), significant))
        for m, d in deltas.items()
    }
    return Comparison(differences, method, how, confidence)


# --------------------------------------------------------------------------- the slices


@dataclass(frozen=True)
class SliceChange:
    name: str
    head: float
    base: float
    rows: int  # this branch's rows in the slice
    interval: list[float] | None  # of head - base ROC AUC (from the two intervals)
    verdict: str

    @property
    def delta(self) -> float:
        return self.head - self.base


def slice_changes(
    head: dict[str, Any], base: dict[str, Any] | None, min_rows: int, significant: float
) -> list[SliceChange]:
    """The ROC AUC change of every slice both sides scored with ``min_rows`` rows or more,
    largest move first (the intervals are combined from each side's: a slice's rows are
    not in the per-row predictions)."""
    changes = []
    base_slices = (base or {}).get("slices") or {}
    for name, h in (head.get("slices") or {}).items():
        b = base_slices.get(name) or {}
        if "roc_auc" not in h or "roc_auc" not in b or min(h["rows"], b["rows"]) < min_rows:
            continue
        delta = h["roc_auc"] - b["roc_auc"]
        h_iv, b_iv = (
            (h.get("intervals") or {}).get("roc_auc"),
            (b.get("intervals") or {}).get("roc_auc"),
        )
        interval = combined(h_iv, b_iv, delta) if h_iv and b_iv else None
        verdict = judge("roc_auc", delta, interval, significant)
        changes.append(SliceChange(name, h["roc_auc"], b["roc_auc"], h["rows"], interval, verdict))
    return sorted(changes, key=lambda c: -abs(c.delta))
