"""The monitor's verdict case by case, without Evidently: the rules of ``monitor`` in
params.yaml applied to drift scores and quality values, every threshold tested on its value
and just beside it (benchmarks/mutation.yaml runs these against the verdict's mutants)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from mlops.core.config import Params
from mlops.monitoring.drift import (
    _compare,
    _data_drift,
    _performance,
    _prediction_drift,
    _threshold,
    _verdict,
)
from mlops.monitoring.logs import PREDICTION, PROBABILITY, TARGET
from tests.conftest import feature, make_table, params_with


def _scores(params: Params, drifted: list[str], threshold: float | None = 0.1) -> dict:
    """Evidently's per-column entries as drift._drift_scores makes them."""
    return {
        name: {
            "method": "m",
            "score": 0.5 if name in drifted else 0.01,
            "threshold": threshold,
            "drifted": name in drifted,
        }
        for name in params.schema.feature_names
    }


def _results(data: bool = False, prediction: bool = False, degraded: bool = False) -> dict:
    return {
        "data_drift": {"detected": data, "drifted_features": ["a", "b"], "share": 0.5},
        "prediction_drift": {
            "detected": prediction,
            "probability": {"method": "wasserstein", "score": 0.25, "threshold": 0.1},
        },
        "performance": {
            "status": "degraded" if degraded else "ok",
            "metrics": {
                "roc_auc": {"degraded": degraded},
                "accuracy": {"degraded": False},
                "f1": {"degraded": degraded},
            },
        },
    }


def _monitor(**changes: Any):
    return params_with({"monitor": changes}).monitor


# --------------------------------------------------------------------------- _verdict
def test_too_few_rows_is_insufficient_data_from_min_rows(params):
    monitor, n = params.monitor, len(params.schema.features)
    verdict, reasons = _verdict(_results(data=True), monitor.min_rows - 1, n, monitor)
    assert verdict == "insufficient_data"
    assert reasons == [
        f"only {monitor.min_rows - 1} logged predictions (monitor.min_rows: {monitor.min_rows})"
    ]
    assert _verdict(_results(data=True), monitor.min_rows, n, monitor)[0] == "drift"


def test_nothing_detected_is_ok_without_reasons(params):
    monitor = params.monitor
    assert _verdict(_results(), monitor.min_rows, 3, monitor) == ("ok", [])


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        ("data_drift", "data drift: 2 of 3 features drifted (50% >= {share:.0%}): a, b"),
        ("prediction_drift", "prediction drift: probability wasserstein 0.250 (threshold 0.1)"),
        ("performance", "performance degraded: roc_auc, f1"),
    ],
)
def test_each_check_alone_turns_the_verdict_only_when_alert_on_names_it(params, check, reason):
    results = _results(
        data=check == "data_drift",
        prediction=check == "prediction_drift",
        degraded=check == "performance",
    )
    text = reason.format(share=params.monitor.drift.share)
    named = _monitor(alert_on=[check])
    assert _verdict(results, named.min_rows, 3, named) == ("drift", [text])
    others = _monitor(
        alert_on=[c for c in ("data_drift", "prediction_drift", "performance") if c != check]
    )
    assert _verdict(results, others.min_rows, 3, others) == ("ok", [text])


def test_all_three_give_three_reasons_in_order(params):
    monitor = params.monitor
    verdict, reasons = _verdict(_results(True, True, True), monitor.min_rows, 3, monitor)
    assert verdict == "drift"
    assert [r.split(":")[0] for r in reasons] == [
        "data drift",
        "prediction drift",
        "performance degraded",
    ]


# --------------------------------------------------------------------------- data drift
def _just_enough(params: Params) -> int:
    """The fewest drifted features that make the share: ceil(share * features)."""
    return math.ceil(params.monitor.drift.share * len(params.schema.features))


def test_data_drift_on_the_share_exactly_and_one_feature_under(params):
    names = params.schema.feature_names
    k = _just_enough(params)
    exact = _monitor(drift={"share": k / len(names)})  # the share on its value
    on = _data_drift(_scores(params, names[:k]), params.schema, exact)
    assert on["detected"] is True
    assert on["share"] == k / len(names)
    assert on["share_threshold"] == k / len(names)
    assert on["drifted_features"] == names[:k]
    under = _data_drift(_scores(params, names[: k - 1]), params.schema, exact)
    assert under["detected"] is False
    assert under["share"] == (k - 1) / len(names)
    default = _data_drift(_scores(params, names[:k]), params.schema, params.monitor)
    assert default["detected"] is True


def test_data_drift_rows_keep_the_score_and_the_feature_type(params):
    name = params.schema.feature_names[0]
    drift = _data_drift(_scores(params, [name], threshold=0.2), params.schema, params.monitor)
    assert drift["features"][name] == {
        "method": "m",
        "score": 0.5,
        "threshold": 0.2,
        "drifted": True,
        "type": params.schema.features[name].type,
    }
    assert set(drift["features"]) == set(params.schema.feature_names)


def test_a_missing_threshold_comes_from_params(params):
    category, numeric = feature(params, "category"), feature(params, "numeric")
    monitor = _monitor(
        drift={"cat_threshold": 0.3, "num_threshold": 0.4, "per_feature_threshold": {}}
    )
    rows = _data_drift(_scores(params, [], threshold=None), params.schema, monitor)["features"]
    assert rows[category]["threshold"] == 0.3
    assert rows[numeric]["threshold"] == 0.4
    own = _monitor(drift={"per_feature_threshold": {numeric: 0.7}})
    rows = _data_drift(_scores(params, [], threshold=None), params.schema, own)["features"]
    assert rows[numeric]["threshold"] == 0.7
    assert _threshold(numeric, "float", own) == 0.7
    assert _threshold(category, "category", own) == own.drift.cat_threshold


def test_a_feature_without_a_score_is_left_out_and_the_others_kept(params):
    names = params.schema.feature_names
    scores = _scores(params, names[1:2])
    del scores[names[0]]
    drift = _data_drift(scores, params.schema, params.monitor)
    assert list(drift["features"]) == names[1:]
    assert drift["drifted_features"] == names[1:2]


def test_a_schema_without_features_never_drifts(params):
    schema = params.schema.model_copy(update={"features": {}})
    drift = _data_drift({}, schema, params.monitor)
    assert drift["share"] == 0.0
    assert drift["detected"] is False


# --------------------------------------------------------------------------- prediction drift
def _frame(params: Params, probabilities: list[float]) -> pd.DataFrame:
    threshold = params.evaluate.threshold
    positive, negative = params.schema.positive_label, params.schema.negative_label
    return pd.DataFrame(
        {
            PROBABILITY: probabilities,
            PREDICTION: [positive if p >= threshold else negative for p in probabilities],
        }
    )


@pytest.mark.parametrize("drifted", [True, False])
def test_prediction_drift_is_the_probability_s_drift(params, drifted):
    probability = {"method": "m", "score": 0.3, "threshold": 0.1, "drifted": drifted}
    label = {"method": "l", "score": 0.2, "threshold": 0.1, "drifted": not drifted}
    scores = {PROBABILITY: probability, PREDICTION: label}
    reference = _frame(params, [0.0, 0.0, 0.0, 1.0])
    current = _frame(params, [0.0, 1.0, 1.0, 1.0])
    result = _prediction_drift(scores, reference, current, params.schema, True)
    assert result == {
        "detected": drifted,
        "available": True,
        "probability": probability,
        "label": label,
        "positive_rate": {"reference": 0.25, "current": 0.75},
        "mean_probability": {"reference": 0.25, "current": 0.75},
    }


def test_without_probabilities_prediction_drift_is_unavailable(params):
    frame = _frame(params, [0.5])
    assert _prediction_drift({}, frame, frame, params.schema, False) == {
        "detected": False,
        "available": False,
    }


# --------------------------------------------------------------------------- performance
def test_a_drop_of_max_drop_exactly_is_not_degraded_and_a_bit_more_is(params):
    rules = params.monitor.performance
    metric = rules.metrics[0]
    then = 0.75
    on_limit = then - rules.max_drop
    judged = _compare({metric: on_limit}, {metric: then}, rules)
    assert judged["status"] == "ok"
    assert judged["metrics"][metric] == {
        "current": on_limit,
        "evaluated": then,
        "delta": on_limit - then,
        "degraded": False,
    }
    beyond = math.nextafter(on_limit, 0.0)
    worse = _compare({metric: beyond}, {metric: then}, rules)
    assert worse["status"] == "degraded"
    assert worse["metrics"][metric]["degraded"] is True
    assert worse["all"] == {metric: beyond}


def test_no_drop_or_a_gain_is_ok(params):
    rules = params.monitor.performance
    values = {name: 0.75 for name in rules.metrics}
    for now in (0.75, 0.9):
        judged = _compare(dict.fromkeys(rules.metrics, now), values, rules)
        assert judged["status"] == "ok"
        assert [m["degraded"] for m in judged["metrics"].values()] == [False] * len(values)


def test_one_degraded_metric_of_several_is_degraded(params):
    rules = _monitor(performance={"metrics": ["roc_auc", "f1"], "max_drop": 0.05}).performance
    judged = _compare({"roc_auc": 0.9, "f1": 0.1}, {"roc_auc": 0.9, "f1": 0.9}, rules)
    assert judged["status"] == "degraded"
    assert [m["degraded"] for m in judged["metrics"].values()] == [False, True]


@pytest.mark.parametrize(
    ("values", "evaluated"), [({}, {"roc_auc": 0.9}), ({"roc_auc": 0.1}, {}), ({}, {})]
)
def test_a_metric_without_a_value_is_not_judged(params, values, evaluated):
    rules = _monitor(performance={"metrics": ["roc_auc"]}).performance
    judged = _compare(values, evaluated, rules)
    assert judged["status"] == "ok"
    assert judged["metrics"]["roc_auc"] == {
        "current": values.get("roc_auc"),
        "evaluated": evaluated.get("roc_auc"),
        "delta": None,
        "degraded": False,
    }


def _labelled(params: Params, rows: int) -> pd.DataFrame:
    """``rows`` predictions, the first half negative and the rest positive, with their true
    labels: a perfect ranking."""
    half = rows // 2
    frame = _frame(params, [0.0] * half + [1.0] * (rows - half))
    frame[TARGET] = [params.schema.negative_label] * half + [params.schema.positive_label] * (
        rows - half
    )
    return frame


def test_fewer_labels_than_min_labelled_are_not_judged(params):
    rules = params.monitor.performance
    few = _labelled(params, rules.min_labelled - 1)
    snapshots: list[Any] = []
    result = _performance(few, params.schema, params.monitor, {}, snapshots)
    assert result == {
        "status": "no_labels",
        "labelled": rules.min_labelled - 1,
        "min_labelled": rules.min_labelled,
        "max_drop": rules.max_drop,
        "metrics": {},
    }
    assert snapshots == []


def test_unknown_labels_do_not_count_and_one_class_is_not_judged(params):
    rules = params.monitor.performance
    frame = _labelled(params, rules.min_labelled + 2)
    frame.loc[frame.index[:3], TARGET] = None
    result = _performance(frame, params.schema, params.monitor, {}, [])
    assert (result["status"], result["labelled"]) == ("no_labels", rules.min_labelled - 1)
    one_class = _labelled(params, rules.min_labelled)
    one_class[TARGET] = params.schema.positive_label
    assert _performance(one_class, params.schema, params.monitor, {}, [])["status"] == ("no_labels")


def test_without_labels_or_probabilities_there_is_nothing_to_judge(params):
    rules = params.monitor.performance
    expected = {"status": "no_labels", "labelled": 0, "min_labelled": rules.min_labelled}
    unlabelled = _frame(params, [0.5] * rules.min_labelled)
    assert _performance(unlabelled, params.schema, params.monitor, {}, []) == expected
    no_probability = _labelled(params, rules.min_labelled).drop(columns=[PROBABILITY])
    assert _performance(no_probability, params.schema, params.monitor, {}, []) == expected


def test_min_labelled_exactly_is_judged_against_the_evaluation(params):
    """The one case that runs Evidently: on min_labelled labels the quality is computed and
    compared (a perfect ranking here, so roc_auc is 1)."""
    pytest.importorskip("evidently")
    rules = _monitor(performance={"metrics": ["roc_auc"]}).performance
    monitor = _monitor(performance={"metrics": ["roc_auc"]})
    frame = _labelled(params, rules.min_labelled)
    table = make_table(params, rows=len(frame))
    for name in params.schema.feature_names:
        frame[name] = table[name]
    snapshots: list[Any] = []
    result = _performance(frame, params.schema, monitor, {"roc_auc": 0.5}, snapshots)
    assert result["status"] == "ok"
    assert result["labelled"] == rules.min_labelled
    assert result["metrics"]["roc_auc"]["current"] == pytest.approx(1.0)
    assert result["metrics"]["roc_auc"]["evaluated"] == 0.5
    assert len(snapshots) == 1
