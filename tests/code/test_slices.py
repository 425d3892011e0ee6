"""ML Test Score M6 on a small hand-made table: slice metrics computed by hand, a slice too
small, a single-class slice, the weak-slice verdict and the refused slice specs."""

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mlops.core.config import SchemaParams
from mlops.pipeline.bootstrap import Resampling
from mlops.pipeline.slices import slice_masks, slice_metrics, weak_slices


def schema(slices: dict) -> SchemaParams:
    return SchemaParams.model_validate(
        {
            "target": "y",
            "time": "at",
            "features": {
                "color": {"type": "category"},
                "size": {"type": "int", "min": 0, "max": 30},
                "weight": {"type": "float"},
            },
            "forbidden": [],
            "slices": slices,
        }
    )


SLICED = schema({"color": "values", "size": [0, 10, 20]})
# color a: sizes 0-9; color b: sizes 10-19; color c (all negative): size 25, outside the bands
TABLE = pd.DataFrame(
    {
        "color": ["a"] * 4 + ["b"] * 4 + ["c"] * 4 + [None],
        "size": [0, 3, 5, 9, 10, 12, 15, 19, 25, 25, 25, 25, 25],
        "weight": 1.0,
        "y": [0, 0, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1],
    }
)
PROBABILITY = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.3, 0.7, 0.5, 0.5, 0.5, 0.5, 0.5])


def test_slices_are_named_by_value_and_band():
    masks = slice_masks(TABLE, SLICED)
    assert list(masks) == ["color=a", "color=b", "color=c", "size=[0, 10)", "size=[10, 20)"]
    assert masks["size=[0, 10)"].tolist() == masks["color=a"].tolist()  # 9 in, 10 out
    assert sum(m.sum() for m in masks.values()) == 12 + 8  # the missing color is in none


def test_metrics_match_the_hand_computed_ones():
    slices = slice_metrics(TABLE, PROBABILITY, SLICED, min_rows=4)
    # color a: positives 0.35, 0.8 over negatives 0.1, 0.4 in 3 of 4 pairs; ranked 0.8 (+),
    # 0.4, 0.35 (+), 0.1: average precision (1/1 + 2/3) / 2
    assert slices["color=a"] == {
        "rows": 4,
        "positives": 2,
        "roc_auc": 0.75,
        "pr_auc": pytest.approx(5 / 6, abs=1e-6),
    }
    assert slices["color=b"] == {"rows": 4, "positives": 2, "roc_auc": 1.0, "pr_auc": 1.0}
    assert slices["size=[0, 10)"] == slices["color=a"]


def test_a_single_class_slice_gets_counts_and_the_reason_but_no_auc():
    entry = slice_metrics(TABLE, PROBABILITY, SLICED, min_rows=4)["color=c"]
    assert entry["rows"] == 4 and entry["positives"] == 0
    assert "roc_auc" not in entry and "pr_auc" not in entry
    assert "one class" in entry["no_auc"]


def test_a_slice_too_small_gets_counts_and_the_reason_but_no_auc():
    entry = slice_metrics(TABLE, PROBABILITY, SLICED, min_rows=5)["color=a"]
    assert entry == {
        "rows": 4,
        "positives": 2,
        "no_auc": "fewer rows than evaluate.min_slice_rows (5)",
    }


def test_weak_slices_names_each_slice_too_far_below_the_overall():
    metrics = {
        "roc_auc": 0.8,
        "slices": {
            "color=a": {"rows": 500, "positives": 50, "roc_auc": 0.65, "pr_auc": 0.2},
            "color=b": {"rows": 500, "positives": 50, "roc_auc": 0.75, "pr_auc": 0.3},
            "color=c": {"rows": 90, "positives": 9, "roc_auc": 0.1, "pr_auc": 0.1},
            "color=d": {"rows": 500, "positives": 0, "no_auc": "one class only"},
        },
    }
    problems = weak_slices(metrics, max_slice_drop=0.1, min_rows=100)
    assert len(problems) == 1
    assert problems[0].startswith("color=a: ROC AUC 0.6500 on 500 rows")
    assert "0.1500 below the overall 0.8000" in problems[0]
    assert "evaluate.max_slice_drop 0.1" in problems[0]
    assert weak_slices(metrics, max_slice_drop=0.2, min_rows=100) == []


def test_weak_slices_refuses_metrics_without_slices():
    with pytest.raises(ValueError, match="no 'slices'"):
        weak_slices({"roc_auc": 0.8}, max_slice_drop=0.1, min_rows=100)


@pytest.mark.parametrize(
    ("slices", "message"),
    [
        ({"colour": "values"}, "'colour' is not in schema.features"),
        ({"y": "values"}, "'y' is not in schema.features"),
        ({"color": [0, 1]}, "a category has no bands"),
        ({"weight": "values"}, "a float has no values"),
        ({"size": [0, 10, 10]}, "increasing edges"),
        ({"size": [5]}, "increasing edges"),
    ],
)
def test_the_config_refuses_a_slice_it_cannot_cut(slices, message):
    with pytest.raises(ValidationError, match=message):
        schema(slices)


def test_a_slice_with_an_auc_gets_its_intervals():
    big = pd.concat([TABLE] * 20, ignore_index=True)
    noisy = np.tile(PROBABILITY, 20) + np.random.default_rng(0).normal(0, 0.05, len(big))
    bootstrap = Resampling(resamples=100, confidence=0.9, seed=1)
    slices = slice_metrics(big, noisy, SLICED, min_rows=4, bootstrap=bootstrap)
    for name in ("color=a", "color=b", "size=[0, 10)"):
        low, high = slices[name]["intervals"]["roc_auc"]
        assert low <= slices[name]["roc_auc"] <= high
    assert "intervals" not in slices["color=c"]  # one class: no AUC, no interval
