"""The monitor on the real default data: a replayed-window-shaped log of November-December
(the production months) against the January-August training window shows the seasonal
weather drift and names it, while the route mix stays stable."""

from __future__ import annotations

import json

import pytest

from mlops.monitoring.drift import analyse, reference_frame
from mlops.monitoring.logs import current_frame, read_labels, sample_log
from mlops.pipeline.prepare import split
from mlops.pipeline.train import train
from mlops.pipeline.validate import validate
from tests.conftest import params_with
from tests.monitor.conftest import write_log

pytestmark = [
    pytest.mark.slow,
    pytest.mark.default_data("write the drift your production window shows in tests/monitor/"),
]


@pytest.fixture(scope="module")
def windows(real_table, params):
    labelled, _ = validate(real_table, params.schema, params.validation)
    return split(labelled, params.schema, params.prepare)


def test_production_months_drift_on_weather(windows, params, tmp_path):
    schema = params.schema
    quick = params.train.model_copy(update={"hist_gradient_boosting": {"max_iter": 40}})
    model = train(windows["train"].sample(60_000, random_state=0), schema, quick)
    production = windows["production"].sample(5000, random_state=1)
    probability = model.predict_proba(production[schema.feature_names])[:, 1]
    log, labels = tmp_path / "logs" / "predictions.jsonl", tmp_path / "logs" / "labels.jsonl"
    write_log(params, production, probability, log, labels)

    rules = params_with({"monitor": {"reference_rows": 20_000}}).monitor
    sample, stats = sample_log(str(log.parent), schema, rules.current_rows)
    known = read_labels(str(labels), "request_id", schema.target, sample["request_id"])
    current = current_frame(sample, known, schema, "request_id")
    reference = reference_frame(
        windows["train"], schema, model, params.evaluate.threshold, rules.reference_rows
    )
    evaluated = {"roc_auc": 0.69, "f1": 0.36}
    summary = analyse(reference, current, schema, rules, evaluated, stats.as_dict()).summary

    assert summary["verdict"] == "drift"
    drifted = set(summary["data_drift"]["drifted_features"])
    assert {"temp", "dewp"} <= drifted  # winter against spring and summer
    assert not drifted & {"carrier", "origin", "hour", "day_of_week"}  # the schedule is stable
    assert summary["performance"]["labelled"] == 5000
    assert 0.6 < summary["performance"]["metrics"]["roc_auc"]["current"] < 0.8
    json.dumps(summary, allow_nan=False)
