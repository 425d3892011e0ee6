"""Bootstrap confidence intervals of the evaluation's metrics, and of the difference between
two models scored on the same rows (a paired comparison).

A resample draws ``n`` of the ``n`` rows with replacement; instead of copying rows, each
resample is a vector of counts (how often each row was drawn), so every metric is a weighted
sum over the rows, computed for a block of resamples at once with numpy: ROC AUC from the
weighted positives and negatives of each group of tied scores (the rank formula), average
precision from their running sums, the threshold metrics from weighted confusion counts.
The scores are sorted once per model, not once per resample. Seeded: the same rows, params
and seed give the same intervals (``evaluate.bootstrap``, ``evaluate.confidence`` and
``train.seed`` in params.yaml).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from mlops.pipeline.scores import DIGITS

# The metrics an interval is computed for: the ones the report judges (metrics.DIRECTIONS).
JUDGED = ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss", "brier")
RANKING = ("roc_auc", "pr_auc")
_BLOCK = 40  # resamples per block: a block of count vectors is 40 x rows floats
_EPS = np.finfo(np.float64).eps  # probabilities are clipped so for log loss (as sklearn does)


@dataclass(frozen=True)
class Resampling:
    """How the bootstrap draws: ``resamples`` (``evaluate.bootstrap``), the intervals'
    ``confidence`` (``evaluate.confidence``) and the ``seed`` (``train.seed``)."""

    resamples: int
    confidence: float
    seed: int


@dataclass(frozen=True)
class _Scored:
    """One model's scores, sorted once (descending) into groups of tied scores."""

    order: np.ndarray
    starts: np.ndarray  # first position of each group of equal scores, in sorted order
    target: np.ndarray  # the target in sorted order
    probability: np.ndarray

    @classmethod
    def of(cls, target: np.ndarray, probability: np.ndarray) -> _Scored:
        order = np.argsort(-probability, kind="stable")
        ranked = probability[order]
        starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        return cls(order, starts, target[order].astype(float), probability)


def _blocks(rows: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Count vectors (resamples x rows: how often each row is drawn), a block at a time."""
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, _BLOCK):
        size = min(_BLOCK, resamples - start)
        drawn = rng.integers(0, rows, size=(size, rows)) + (np.arange(size) * rows)[:, None]
        yield np.bincount(drawn.ravel(), minlength=size * rows).reshape(size, rows).astype(float)


def _ranking(counts: np.ndarray, scored: _Scored) -> dict[str, np.ndarray]:
    """ROC AUC and average precision of every resample (NaN where it has one class)."""
    weights = counts[:, scored.order]
    pos = np.add.reduceat(weights * scored.target, scored.starts, axis=1)
    neg = np.add.reduceat(weights * (1.0 - scored.target), scored.starts, axis=1)
    positives, negatives = pos.sum(axis=1), neg.sum(axis=1)
    below = negatives[:, None] - np.cumsum(neg, axis=1)  # negatives scored lower, per group
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        roc = (pos * (below + 0.5 * neg)).sum(axis=1) / (positives * negatives)
        precision = tp / np.where(tp + fp > 0, tp + fp, 1.0)
        ap = (pos * precision).sum(axis=1) / positives
    undefined = (positives == 0) | (negatives == 0)
    return {"roc_auc": np.where(undefined, np.nan, roc), "pr_auc": np.where(undefined, np.nan, ap)}


def _at_threshold(
    counts: np.ndarray, target: np.ndarray, probability: np.ndarray, threshold: float
) -> dict[str, np.ndarray]:
    """F1, precision, recall, accuracy, log loss and Brier score of every resample."""
    y = target.astype(float)
    hit = (probability >= threshold).astype(float)
    tp, fp, fn = counts @ (y * hit), counts @ ((1 - y) * hit), counts @ (y * (1 - hit))
    rows = counts.sum(axis=1)
    p = np.clip(probability, _EPS, 1 - _EPS)
    loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))

    def ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
        return np.divide(top, bottom, out=np.zeros_like(top), where=bottom > 0)

    return {
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "accuracy": (rows - fp - fn) / rows,
        "log_loss": counts @ loss / rows,
        "brier": counts @ (probability - y) ** 2 / rows,
    }


def replicates(
    target: np.ndarray,
    probabilities: Sequence[np.ndarray],
    thresholds: Sequence[float] | None,
    params: Resampling,
    metrics: Sequence[str] = JUDGED,
) -> list[dict[str, np.ndarray]]:
    """Each metric of each model in ``probabilities`` (scores of the same rows of
    ``target``) on the same ``params.resamples`` resamples: paired, so the difference of two
    models' arrays is the bootstrap distribution of their difference. ``thresholds`` (each
    model's decision threshold) are needed only for the metrics other than :data:`RANKING`."""
    if thresholds is None and set(metrics) - set(RANKING):
        raise ValueError(f"the metrics {sorted(set(metrics) - set(RANKING))} need a threshold")
    target = np.asarray(target).astype(int)
    probabilities = [np.asarray(p, dtype=float) for p in probabilities]
    cuts = list(thresholds) if thresholds is not None else [0.5] * len(probabilities)
    scored = [_Scored.of(target, p) for p in probabilities]
    found: list[dict[str, list[np.ndarray]]] = [{m: [] for m in metrics} for _ in probabilities]
    for counts in _blocks(len(target), params.resamples, params.seed):
        for out, model, p, cut in zip(found, scored, probabilities, cuts, strict=True):
            values = _ranking(counts, model) if set(metrics) & set(RANKING) else {}
            if set(metrics) - set(RANKING):
                values |= _at_threshold(counts, target, p, cut)
            for metric in metrics:
                out[metric].append(values[metric])
    return [{m: np.concatenate(v) for m, v in out.items()} for out in found]


def interval(values: np.ndarray, confidence: float) -> list[float] | None:
    """The central ``confidence`` interval (percentiles) of ``values``; None when no
    resample defined the metric (one class in every one)."""
    values = values[~np.isnan(values)]
    if not len(values):
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [round(float(low), DIGITS), round(float(high), DIGITS)]


def intervals(
    target: np.ndarray,
    probability: np.ndarray,
    threshold: float | None,
    params: Resampling,
    metrics: Sequence[str] = JUDGED,
) -> dict[str, list[float] | None]:
    """The ``params.confidence`` interval of each metric of one model."""
    cuts = None if threshold is None else [threshold]
    (found,) = replicates(target, [probability], cuts, params, metrics)
    return {m: interval(found[m], params.confidence) for m in metrics}


def difference(
    target: np.ndarray,
    head: np.ndarray,
    base: np.ndarray,
    thresholds: tuple[float, float] | None,
    params: Resampling,
    metrics: Sequence[str] = JUDGED,
) -> dict[str, list[float] | None]:
    """The interval of ``head``'s metric minus ``base``'s, paired on the same resamples of
    the same rows (``head`` and ``base`` score the rows of ``target`` in the same order;
    ``thresholds``: each one's decision threshold, which a branch may change)."""
    new, old = replicates(target, [head, base], thresholds, params, metrics)
    return {m: interval(new[m] - old[m], params.confidence) for m in metrics}
