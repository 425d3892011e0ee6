"""The metrics of this branch beside the base branch's: which direction is better, what each
is called in the report, and which moved by at least the significance threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# +1: higher is better, -1: lower is better, 0: context only (not judged)
DIRECTIONS = {
    "roc_auc": 1,
    "pr_auc": 1,
    "f1": 1,
    "precision": 1,
    "recall": 1,
    "accuracy": 1,
    "log_loss": -1,
    "brier": -1,
}
LABELS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "f1": "F1",
    "log_loss": "log loss",
    "brier": "Brier score",
    "positive_rate": "positive rate",
    "predicted_positive_rate": "predicted positive rate",
}


def label(metric: str) -> str:
    return LABELS.get(metric, metric.replace("_", " "))


@dataclass(frozen=True)
class MetricRow:
    name: str
    head: float | None
    base: float | None
    direction: int
    significant: bool
    interval: list[float] | None = None  # this branch's confidence interval
    difference: list[float] | None = None  # interval of head - base (significant: excludes 0)

    @property
    def delta(self) -> float | None:
        if self.head is None or self.base is None:
            return None
        return self.head - self.base

    @property
    def change(self) -> str:
        """better / worse / unchanged / changed (context metric) / new / removed."""
        if self.base is None:
            return "new"
        if self.head is None:
            return "removed"
        if not self.significant:
            return "unchanged"
        if self.direction == 0:
            return "changed"
        return "better" if (self.delta or 0) * self.direction > 0 else "worse"


def scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric metrics (metrics.json also holds the confusion matrix and row counts)."""
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def compare_metrics(
    head: dict[str, Any], base: dict[str, Any] | None, significant: float
) -> list[MetricRow]:
    """One row per scalar metric, judged metrics first."""
    head_values, base_values = scalars(head), scalars(base or {})
    names = list(dict.fromkeys([*head_values, *base_values]))
    names.sort(key=lambda n: (DIRECTIONS.get(n, 0) == 0, n not in DIRECTIONS))
    rows = []
    for name in names:
        h, b = head_values.get(name), base_values.get(name)
        moved = h is not None and b is not None and abs(h - b) >= significant
        rows.append(MetricRow(name, h, b, DIRECTIONS.get(name, 0), moved))
    return rows
