import json

import pandas as pd
import pytest

from mlops.pipeline.evaluate import PLOT_FILES, _thin, evaluate, write_plots
from mlops.pipeline.figures import RENDERERS, render_all
from mlops.pipeline.train import train
from tests.conftest import make_table, signal_features


@pytest.fixture(scope="module")
def result(params):
    small = params.train.model_copy(update={"hist_gradient_boosting": {"max_iter": 30}})
    model = train(make_table(params, rows=3000, seed=1), params.schema, small)
    settings = params.evaluate.model_copy(update={"importance_sample": 500})
    test = make_table(params, rows=1500, seed=2)
    return evaluate(model, test, params.schema, settings, seed=0, train_rows=3000)


def test_metrics_are_consistent_with_the_confusion_matrix(result):
    m = result.metrics
    c = m["confusion"]
    assert sum(c.values()) == m["rows"]["test"] == 1500
    assert m["precision"] == pytest.approx(c["tp"] / (c["tp"] + c["fp"]), abs=1e-6)
    assert m["recall"] == pytest.approx(c["tp"] / (c["tp"] + c["fn"]), abs=1e-6)
    assert m["accuracy"] == pytest.approx((c["tp"] + c["tn"]) / 1500, abs=1e-6)
    assert m["predicted_positive_rate"] == pytest.approx((c["tp"] + c["fp"]) / 1500, abs=1e-6)
    assert m["rows"]["train"] == 3000


def test_required_metrics_are_plain_numbers(result):
    required = {"roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss", "brier"}
    assert required <= set(result.metrics)
    for name in required:
        assert type(result.metrics[name]) is float
    assert 0.5 < result.metrics["roc_auc"] <= 1.0
    json.dumps(result.metrics)  # serializable as it is


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
        evaluate(model, test, params.schema, params.evaluate, seed=0)
