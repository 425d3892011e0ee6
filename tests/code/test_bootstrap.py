"""The vectorized bootstrap: each resample's metrics equal scikit-learn's on the resampled
rows, the intervals are seeded and cover the estimate, and the paired difference of a model
with itself is exactly zero while a real gap is seen."""

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from mlops.pipeline.bootstrap import (
    Resampling,
    _at_threshold,
    _ranking,
    _Scored,
    difference,
    intervals,
)

PARAMS = Resampling(resamples=200, confidence=0.95, seed=7)


def _scores(rows: int = 2000, signal: float = 1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 2, rows)
    # rounded, so many scores tie: the tie handling is exercised
    probability = 1 / (1 + np.exp(-(signal * (target - 0.5) + rng.normal(0, 1, rows))))
    return target, probability.round(2)


def test_a_resample_scores_as_sklearn_scores_its_rows():
    target, probability = _scores()
    drawn = np.random.default_rng(3).integers(0, len(target), len(target))
    counts = np.bincount(drawn, minlength=len(target)).astype(float)[None, :]
    y, p = target[drawn], probability[drawn]
    ranking = _ranking(counts, _Scored.of(target, probability))
    at = _at_threshold(counts, target, probability, 0.5)
    expected = {
        "roc_auc": roc_auc_score(y, p),
        "pr_auc": average_precision_score(y, p),
        "f1": f1_score(y, p >= 0.5),
        "precision": precision_score(y, p >= 0.5),
        "recall": recall_score(y, p >= 0.5),
        "accuracy": accuracy_score(y, p >= 0.5),
        "log_loss": log_loss(y, p),
        "brier": brier_score_loss(y, p),
    }
    found = {k: v[0] for k, v in (ranking | at).items()}
    assert found == pytest.approx(expected, abs=1e-12)


def test_intervals_are_seeded_and_cover_the_estimate():
    target, probability = _scores()
    first = intervals(target, probability, 0.5, PARAMS)
    assert first == intervals(target, probability, 0.5, PARAMS)
    assert first != intervals(target, probability, 0.5, Resampling(200, 0.95, 8))
    low, high = first["roc_auc"]
    assert low < roc_auc_score(target, probability) < high
    assert 0.01 < high - low < 0.1  # 2,000 rows: a few points of AUC wide


def test_more_rows_give_a_narrower_interval():
    small = intervals(*_scores(500), None, PARAMS, ("roc_auc",))["roc_auc"]
    large = intervals(*_scores(8000), None, PARAMS, ("roc_auc",))["roc_auc"]
    assert large[1] - large[0] < (small[1] - small[0]) / 2  # 16x the rows: 1/4 the width


def test_the_paired_difference_of_a_model_with_itself_is_zero():
    target, probability = _scores()
    same = difference(target, probability, probability, (0.5, 0.5), PARAMS)
    assert all(v == [0.0, 0.0] for v in same.values())


def test_the_paired_difference_sees_a_real_gap_and_not_noise():
    target, strong = _scores(signal=2.0)
    _, weak = _scores(signal=1.0)
    gap = difference(target, weak, strong, None, PARAMS, ("roc_auc",))["roc_auc"]
    assert gap[1] < 0  # weaker everywhere in the interval
    noise = np.clip(strong + np.random.default_rng(1).normal(0, 0.001, len(strong)), 0, 1)
    tiny = difference(target, noise, strong, None, PARAMS, ("roc_auc",))["roc_auc"]
    assert tiny[0] < 0 < tiny[1] or tiny == [0.0, 0.0]


def test_each_model_is_cut_at_its_own_threshold():
    target, probability = _scores()
    moved = difference(target, probability, probability, (0.7, 0.5), PARAMS, ("f1", "roc_auc"))
    assert moved["roc_auc"] == [0.0, 0.0]  # the same scores rank the same
    delta = f1_score(target, probability >= 0.7) - f1_score(target, probability >= 0.5)
    low, high = moved["f1"]
    assert low <= delta <= high and high - low > 0.001


def test_a_one_class_table_has_no_interval_and_a_threshold_is_asked_for():
    assert intervals(np.zeros(50), np.linspace(0, 1, 50), None, PARAMS, ("roc_auc",)) == {
        "roc_auc": None
    }
    with pytest.raises(ValueError, match="need a threshold"):
        intervals(*_scores(), None, PARAMS)
