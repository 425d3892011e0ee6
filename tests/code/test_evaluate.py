import json
from pathlib import Path

import pandas as pd
import pytest

from mlops.core.config import ParamsError
from mlops.pipeline.commands import metrics_text
from mlops.pipeline.evaluate import (
    IMPORTANCE_STDS,
    PLOT_FILES,
    _thin,
    baseline_shortfall,
    evaluate,
    fit_baseline,
    row_keys,
    unearned_features,
    write_plots,
)
from mlops.pipeline.figures import RENDERERS, render_all
from mlops.pipeline.train import train
from tests.conftest import ROOT, make_table, params_with, signal_features


@pytest.fixture(scope="module")
def model_and_test(params):
    small = params.train.model_copy(update={"hist_gradient_boosting": {"max_iter": 30}})
    training = make_table(params, rows=3000, seed=1)
    model = train(training, params.schema, small)
    baseline = fit_baseline(training, params.schema, params.train, params.evaluate)
    return model, baseline, make_table(params, rows=1500, seed=2)


@pytest.fixture(scope="module")
def result(params, model_and_test):
    model, baseline, test = model_and_test
    settings = params.evaluate.model_copy(update={"importance_sample": 500})
    return evaluate(model, test, params.schema, settings, 0, baseline, train_rows=3000)


def test_metrics_are_those_of_the_models_own_predictions(params, model_and_test, result):
    """Counted here from the model's probabilities on the test rows, not from evaluate."""
    model, _, test = model_and_test
    schema = params.schema
    probability = model.predict_proba(test[schema.feature_names])[:, 1]
    actual = test[schema.target].astype(bool).to_numpy()
    predicted = probability >= params.evaluate.threshold
    c = {
        "tn": int((~actual & ~predicted).sum()),
        "fp": int((~actual & predicted).sum()),
        "fn": int((actual & ~predicted).sum()),
        "tp": int((actual & predicted).sum()),
    }
    m = result.metrics
    assert m["confusion"] == c
    assert m["rows"] == {"train": 3000, "test": 1500}
    assert m["precision"] == pytest.approx(c["tp"] / (c["tp"] + c["fp"]), abs=1e-6)
    assert m["recall"] == pytest.approx(c["tp"] / (c["tp"] + c["fn"]), abs=1e-6)
    assert m["accuracy"] == pytest.approx((c["tp"] + c["tn"]) / 1500, abs=1e-6)
    assert m["predicted_positive_rate"] == pytest.approx((c["tp"] + c["fp"]) / 1500, abs=1e-6)


def test_required_metrics_are_plain_numbers(result):
    required = {"roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss", "brier"}
    assert required <= set(result.metrics)
    for name in required:
        assert type(result.metrics[name]) is float
    assert 0.5 < result.metrics["roc_auc"] <= 1.0
    json.dumps(result.metrics)  # serializable as it is


def test_every_judged_metric_has_an_interval_around_it(result):
    intervals = result.metrics["intervals"]
    judged = {"roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss", "brier"}
    assert judged <= set(intervals)
    for name in judged:
        low, high = intervals[name]
        assert low <= result.metrics[name] <= high, name
    assert 0 < intervals["confidence"] < 1 and intervals["resamples"] >= 50


def test_the_predictions_pair_a_key_per_test_row_with_its_probability(params, result):
    predictions = result.predictions
    assert len(predictions) == 1500 and predictions["key"].is_unique
    assert set(predictions["target"]) == {0, 1}
    assert predictions["probability"].between(0, 1).all()


def test_row_keys_survive_a_feature_change_and_a_removed_row(params):
    table = make_table(params, rows=300, seed=3)
    keys = row_keys(table, params.schema)
    assert len(set(keys)) == len(table)
    feature = params.schema.feature_names[0]
    changed = table.assign(**{feature: table[feature].iloc[::-1].to_numpy()})
    assert (row_keys(changed, params.schema) == keys).all()
    assert (row_keys(table.iloc[1:], params.schema) == keys[1:]).all()
    twins = pd.concat([table.iloc[:1]] * 2)  # same time and target: told apart by order
    assert len(set(row_keys(twins, params.schema))) == 2


def test_curves_are_thinned_but_keep_their_ends(params, result):
    assert len(result.roc) <= params.evaluate.curve_points
    assert result.roc["fpr"].iloc[0] == 0.0
    assert result.roc["fpr"].iloc[-1] == 1.0
    curve = pd.DataFrame({"x": range(1000)})
    thinned = _thin(curve, 10)
    assert thinned["x"].tolist()[0] == 0
    assert thinned["x"].tolist()[-1] == 999
    assert len(thinned) == 10


def test_importance_covers_every_feature_largest_first(params, result):
    assert set(result.importance["feature"]) == set(params.schema.feature_names)
    assert result.importance["importance"].is_monotonic_decreasing
    top_two = set(result.importance["feature"].head(2))
    assert top_two == set(signal_features(params))  # the synthetic signal lives in these


def test_plot_files_are_written_in_dvc_formats(tmp_path, result):
    written = write_plots(result, tmp_path)
    assert sorted(p.name for p in written) == sorted(PLOT_FILES.values())
    roc = json.loads((tmp_path / PLOT_FILES["roc"]).read_text())
    assert {"fpr", "tpr", "threshold"} <= set(roc["roc"][0])
    confusion = pd.read_csv(tmp_path / PLOT_FILES["confusion"])
    assert list(confusion.columns) == ["actual", "predicted"]
    assert len(confusion) == 1500


def test_png_figures_are_rendered(tmp_path, result):
    pngs = render_all(result, tmp_path)
    assert sorted(p.stem for p in pngs) == sorted(RENDERERS)
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 5_000  # something was drawn


def test_single_class_test_window_is_explained(params):
    small = params.train.model_copy(update={"hist_gradient_boosting": {"max_iter": 5}})
    model = train(make_table(params), params.schema, small)
    test = make_table(params, rows=100).assign(**{params.schema.target: 0})
    with pytest.raises(ValueError, match="only one class"):
        evaluate(model, test, params.schema, params.evaluate, 0, model)


# --------------------------------------------------------------------------- the baseline (M5)
def test_the_baseline_is_scored_in_a_nested_mapping(params, result):
    baseline = result.metrics["baseline"]
    assert baseline["estimator"] == params.evaluate.baseline
    assert set(baseline) == {"estimator", "roc_auc", "pr_auc"}
    assert 0.5 < baseline["roc_auc"] <= 1.0  # it learns the synthetic signal too
    text = metrics_text(result.metrics, Path("metrics.json"))
    assert f"baseline {params.evaluate.baseline}: roc_auc {baseline['roc_auc']:.4f}" in text


def test_the_baseline_is_fitted_as_train_fits_it(params):
    """evaluate.baseline with train.<baseline>'s hyper-parameters, seed and threads."""
    table = make_table(params, rows=1000, seed=3)
    baseline = fit_baseline(table, params.schema, params.train, params.evaluate)
    named = params.train.model_copy(update={"estimator": params.evaluate.baseline})
    expected = train(table, params.schema, named)
    assert baseline.get_params(deep=True).keys() == expected.get_params(deep=True).keys()
    features = table[params.schema.feature_names]
    assert (baseline.predict_proba(features) == expected.predict_proba(features)).all()


def test_an_unknown_baseline_is_named_with_the_known_ones(params):
    settings = params.evaluate.model_copy(update={"baseline": "oracle"})
    with pytest.raises(ValueError, match=r"evaluate.baseline .* 'oracle'; known estimators"):
        fit_baseline(make_table(params), params.schema, params.train, settings)


def test_a_model_that_does_not_beat_the_baseline_by_the_margin_fails():
    metrics = {"roc_auc": 0.70, "baseline": {"estimator": "simple", "roc_auc": 0.695}}
    problem = baseline_shortfall(metrics, margin=0.01)
    assert problem is not None
    assert "by +0.0050, less than evaluate.baseline_margin 0.01" in problem
    assert "train.estimator: simple" in problem
    assert baseline_shortfall({**metrics, "roc_auc": 0.71}, margin=0.01) is None
    worse = {**metrics, "roc_auc": 0.65}
    assert "by -0.0450" in baseline_shortfall(worse, margin=0.0)


# --------------------------------------------------------------------------- features (D2)
def importance_table(rows):
    return pd.DataFrame(rows, columns=["feature", "importance", "std"])


def test_a_feature_within_two_std_of_zero_fails_unless_it_says_why(params):
    strong, weak, noise = params.schema.feature_names[:3]
    table = importance_table(
        [
            (strong, 0.05, 0.001),
            (weak, 0.002, 0.0011),  # 0.002 - 2 * 0.0011 < 0
            (noise, -0.001, 0.0005),
        ]
    )
    assert IMPORTANCE_STDS == 2
    plain = params_with(
        {"schema": {"features": {n: {"weak": None} for n in (strong, weak, noise)}}}
    )
    problems = unearned_features(table, plain.schema)
    assert [p.split(":")[0] for p in problems] == [weak, noise]
    assert f"schema.features.{weak}.weak: <reason>" in problems[0]
    allowed = params_with({"schema": {"features": {weak: {"weak": "kept for a reason"}}}})
    kept = unearned_features(table, allowed.schema)
    assert [p.split(":")[0] for p in kept] == [noise]


def test_the_reason_a_weak_feature_stays_must_be_given(params):
    name = params.schema.feature_names[0]
    with pytest.raises(ParamsError, match=f"schema.features.{name}.*non-empty reason"):
        params_with({"schema": {"features": {name: {"weak": "  "}}}})


@pytest.mark.default_data(
    "tests/model/test_model.py checks your model's importance against your schema's reasons"
)
def test_the_default_allow_list_matches_the_committed_importance(params):
    """What reports/plots/importance.json (written by the evaluate stage) fails is what
    params.yaml keeps with a reason, when the outputs are this data's."""
    path = ROOT / params.paths.plots / PLOT_FILES["importance"]
    table = pd.DataFrame(json.loads(path.read_text())["importance"])
    if set(table["feature"]) != set(params.schema.feature_names):
        pytest.skip(f"{path} is not of this schema's features: run `make repro`")
    assert unearned_features(table, params.schema) == []
