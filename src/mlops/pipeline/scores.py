"""The ranking scores every part of the evaluation shares (the model's, the baseline's, each
slice's, each staleness period's) and the precision ``metrics.json`` keeps: one definition,
so the numbers written beside each other are computed and rounded the same way."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

DIGITS = 6  # decimals kept in metrics.json and the plot data


def ranking(target: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """ROC and PR AUC (average precision) of ``probability`` against the 0/1 ``target``,
    rounded to :data:`DIGITS`; both classes must be present."""
    return {
        "roc_auc": round(float(roc_auc_score(target, probability)), DIGITS),
        "pr_auc": round(float(average_precision_score(target, probability)), DIGITS),
    }


def two_classes(target: np.ndarray) -> bool:
    """Whether ``target`` holds both classes (else ROC and PR AUC are undefined)."""
    return len(np.unique(target)) == 2
