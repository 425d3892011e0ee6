"""The staleness curve (ML Test Score M4) on small hand-made tables whose AUCs are known."""

from datetime import date

import pandas as pd
import pytest

from mlops.pipeline.staleness import curve_problems, staleness_curve

START = date(2013, 11, 1)


def _rows(day: str, targets: list[int], probabilities: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"time": pd.Timestamp(day), "target": targets, "probability": probabilities}
    )


# November ranks every positive above every negative (AUC 1.0); December ranks one of the
# four pairs right (AUC 0.25); January holds only negatives (AUC undefined).
NOVEMBER = _rows("2013-11-10", [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
DECEMBER = _rows("2013-12-05", [0, 0, 1, 1], [0.5, 0.9, 0.1, 0.6])
JANUARY = _rows("2014-01-20", [0, 0, 0], [0.2, 0.4, 0.6])
SCORED = pd.concat([DECEMBER, JANUARY, NOVEMBER], ignore_index=True)  # order does not matter


def test_each_period_has_its_age_rows_auc_and_drop():
    curve = staleness_curve(SCORED, 0.8, START, "month", max_drop=0.005)
    assert curve["period"] == "month"
    assert curve["test"] == {"roc_auc": 0.8}
    assert curve["periods"] == [
        {"period": "2013-11", "age_periods": 1, "rows": 4, "roc_auc": 1.0, "drop": -0.2},
        {"period": "2013-12", "age_periods": 2, "rows": 4, "roc_auc": 0.25, "drop": 0.55},
        {"period": "2014-01", "age_periods": 3, "rows": 3, "roc_auc": None, "drop": None},
    ]


def test_stale_after_is_the_first_age_whose_drop_exceeds_max_drop():
    assert staleness_curve(SCORED, 0.8, START, "month", 0.005)["stale_after"] == 2
    assert staleness_curve(SCORED, 0.8, START, "month", 0.55)["stale_after"] is None  # not >
    assert staleness_curve(SCORED, 1.01, START, "month", 0.005)["stale_after"] == 1
    # a one-class period is not judged, whatever comes before it
    assert staleness_curve(JANUARY, 0.8, START, "month", 0.0)["stale_after"] is None


def test_age_counts_from_the_period_holding_production_start():
    curve = staleness_curve(DECEMBER, 0.8, date(2013, 11, 15), "month", 0.005)
    assert [p["age_periods"] for p in curve["periods"]] == [2]
    weekly = staleness_curve(NOVEMBER, 0.8, START, "week", 0.005)  # Nov 1 is in week 1
    assert [p["age_periods"] for p in weekly["periods"]] == [2]


def test_unlabelled_rows_and_an_empty_window_give_no_points():
    unlabelled = NOVEMBER.assign(target=[None, 0, 1, None])
    assert staleness_curve(unlabelled, 0.8, START, "month", 0.005)["periods"][0]["rows"] == 2
    empty = staleness_curve(SCORED.head(0), 0.8, START, "month", 0.005)
    assert empty["periods"] == [] and empty["stale_after"] is None


def test_curve_problems_name_a_missing_period_and_staleness_within_the_promise():
    two_months = pd.concat([NOVEMBER, DECEMBER])
    curve = staleness_curve(two_months, 0.8, START, "month", 0.005)
    times = SCORED["time"]
    problems = curve_problems(curve, times, max_age=2, max_drop=0.005)
    assert len(problems) == 2
    assert "no point for 2014-01" in problems[0]
    assert "stale after 2 month(s)" in problems[1] and "evaluate.max_age_periods 2" in problems[1]
    assert curve_problems(curve, two_months["time"], max_age=1, max_drop=0.005) == []


@pytest.mark.parametrize("max_age", [0, 1])
def test_a_fresh_model_has_no_problems(max_age):
    curve = staleness_curve(SCORED, 0.8, START, "month", 0.6)
    assert curve_problems(curve, SCORED["time"], max_age=max_age, max_drop=0.6) == []
