"""The monitor's core on small synthetic logs: streaming sample, labels, drift, verdict."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.core.config import Params, ParamsError, load_params
from mlops.core.monitor_config import MonitorParams
from mlops.monitoring import run
from mlops.monitoring.drift import analyse, reference_frame
from mlops.monitoring.errors import MonitorError
from mlops.monitoring.logs import current_frame, read_labels, sample_log
from mlops.monitoring.summary import VERDICT_TEXT, summary_markdown
from tests.conftest import ROOT, feature, make_table, params_with, shift_features, shifted_features


def test_sample_is_bounded_uniform_and_stats_are_exact(params, log_factory, tmp_path):
    table = make_table(params, rows=3000, seed=3)
    table.loc[:9, feature(params, "category")] = "ZZZ"  # 10 rows, an unknown category
    log = tmp_path / "logs" / "a.jsonl"
    log_factory(table.iloc[:2000], log, version="v1")
    log_factory(table.iloc[2000:], tmp_path / "logs" / "b.jsonl", version="v2", prefix="s",
                start="2026-11-02T00:00:00")  # fmt: skip
    seen = []
    sample, stats = sample_log(
        str(tmp_path / "logs"), params.schema, rows=500, seed=1, block_bytes=1 << 16,
        progress=seen.append,
    )  # fmt: skip
    assert len(sample) == 500
    assert stats.rows == 3000 and stats.files == 2
    assert stats.versions == {"v1": 2000, "v2": 1000}
    assert stats.last_version == "v2"  # the most recent prediction's model
    assert stats.unknown_rows == 10
    assert stats.first.startswith("2026-11-01") and stats.last.startswith("2026-11-02")
    assert len(seen) > 2 and seen[-1] == 3000  # streamed in many blocks, progress reported
    # uniform: both files are represented roughly in proportion (2:1)
    share = sample["request_id"].str.startswith("r").mean()
    assert 0.55 < share < 0.78
    assert set(params.schema.feature_names) <= set(sample.columns)
    assert sample["request_id"].is_unique


def test_gzipped_logs_and_single_file(params, log_factory, tmp_path):
    table = make_table(params, rows=300, seed=4)
    plain = tmp_path / "p.jsonl"
    log_factory(table, plain)
    packed = tmp_path / "logs" / "p.jsonl.gz"
    packed.parent.mkdir()
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, _ = sample_log(str(plain), params.schema, rows=1000)
    b, _ = sample_log(str(tmp_path / "logs"), params.schema, rows=1000)
    assert len(a) == len(b) == 300
    column = feature(params, "numeric")
    pd.testing.assert_series_equal(
        a.sort_values("request_id")[column].reset_index(drop=True),
        b.sort_values("request_id")[column].reset_index(drop=True),
    )


def test_missing_empty_and_broken_logs_say_what_to_do(params, tmp_path):
    with pytest.raises(MonitorError, match=r"no prediction log found.*make replay"):
        sample_log(str(tmp_path / "nowhere"), params.schema, rows=10)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(MonitorError, match="is empty"):
        sample_log(str(empty), params.schema, rows=10)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"timestamp": "x", "request_id": "a"}\nnot json\n')
    with pytest.raises(MonitorError, match=re.escape(str(broken))):
        sample_log(str(broken), params.schema, rows=10)


def test_late_labels_join_by_request_id(params, tmp_path):
    labels, target = tmp_path / "labels.jsonl", params.schema.target
    rows = [{"request_id": f"r{i}", target: i % 2} for i in range(10)]
    rows.append({"request_id": "r1", target: 0})  # a correction: the last one wins
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))
    found = read_labels(str(labels), "request_id", target, pd.Series(["r1", "r2", "x"]))
    assert found.to_dict() == {"r1": 0.0, "r2": 0.0}
    assert read_labels(str(tmp_path / "none.jsonl"), "request_id", target,
                               pd.Series(["r1"])).empty  # fmt: skip
    labels.write_text(json.dumps({"request_id": "r1", target: 3}) + "\n")
    with pytest.raises(MonitorError, match="must be 0 or 1"):
        read_labels(str(labels), "request_id", target, pd.Series(["r1"]))


SHIFTED = shifted_features(load_params(ROOT / "params.yaml"))  # a third of the features


def _frames(params: Params, model, shift: float = 0.0, rows: int = 1500, seed: int = 5):
    schema = params.schema
    reference = reference_frame(
        make_table(params, rows=3000, seed=6), schema, model, params.evaluate.threshold, 2000
    )
    table = make_table(params, rows=rows, seed=seed)
    shift_features(table, params, SHIFTED, shift)  # a season change moves a third of them
    current = table[schema.feature_names].copy()
    current["probability"] = model.predict_proba(current)[:, 1]
    current["prediction"] = np.where(
        current["probability"] >= params.evaluate.threshold,
        schema.positive_label,
        schema.negative_label,
    )
    current["request_id"] = [f"r{i}" for i in range(rows)]
    labels = pd.Series(table[schema.target].astype(float).to_numpy(), index=current["request_id"])
    return reference, current_frame(current, labels, schema, "request_id")


@pytest.fixture(scope="module")
def same_and_shifted(params, small_model):
    rules = monitor_with(min_rows=100, performance={"min_labelled": 100})
    evaluated = {"roc_auc": 0.5, "f1": 0.1}  # well below what the model reaches here
    same = analyse(*_frames(params, small_model), params.schema, rules, evaluated)
    shifted = analyse(*_frames(params, small_model, shift=0.4), params.schema, rules, evaluated)
    return same, shifted


def test_same_distribution_is_ok(same_and_shifted):
    summary = same_and_shifted[0].summary
    assert summary["verdict"] == "ok", summary["reasons"]
    assert summary["data_drift"]["drifted_features"] == []
    assert summary["performance"]["status"] == "ok"
    assert summary["performance"]["labelled"] == 1500


def test_shifted_weather_is_drift_naming_the_features(same_and_shifted, params):
    summary = same_and_shifted[1].summary
    assert summary["verdict"] == "drift"
    assert set(summary["data_drift"]["drifted_features"]) == set(SHIFTED)
    assert summary["data_drift"]["features"][SHIFTED[0]]["score"] > 0.1
    assert not summary["data_drift"]["features"][feature(params, "closed category")]["drifted"]
    assert any(r.startswith("data drift") for r in summary["reasons"])


def test_summary_is_plain_json_and_markdown_has_the_verdict(same_and_shifted):
    for analysis in same_and_shifted:
        text = json.dumps(analysis.summary, allow_nan=False)  # no NaN, no numpy types
        assert json.loads(text) == analysis.summary
    markdown = summary_markdown(same_and_shifted[1].summary, "https://example.org/r")
    assert "Drift detected" in markdown and f"| {SHIFTED[0]} | wasserstein |" in markdown
    assert "https://example.org/r" in markdown
    assert "No drift" in summary_markdown(same_and_shifted[0].summary)


def test_html_is_self_contained(same_and_shifted):
    html = same_and_shifted[1].html()
    assert html.lstrip().lower().startswith("<!doctype html>")
    external = re.findall(r"<(?:script|link)[^>]+(?:src|href)=[\"']https?://", html)
    assert external == []  # scripts and styles inline: renders offline
    assert "Dataset Drift" in html  # the data drift section
    assert SHIFTED[0] in html
    # the quality section is in the same page: its metrics are in no drift section
    drift_only = same_and_shifted[1].snapshots[0].get_html_str(as_iframe=False)
    for quality in ("RocAuc", "Accuracy"):
        assert quality in html
        assert quality not in drift_only


def test_performance_drop_and_thresholds_come_from_params(params, small_model):
    reference, current = _frames(params, small_model)
    strict = monitor_with(
        min_rows=100,
        alert_on=["performance"],
        performance={"min_labelled": 100, "max_drop": 0.01, "metrics": ["roc_auc"]},
    )
    summary = analyse(reference, current, params.schema, strict, {"roc_auc": 0.99}).summary
    assert summary["performance"]["status"] == "degraded"
    assert summary["performance"]["metrics"]["roc_auc"]["degraded"]
    assert summary["verdict"] == "drift"
    few = monitor_with(min_rows=100_000)
    assert analyse(reference, current, params.schema, few).summary["verdict"] == (
        "insufficient_data"
    )


def monitor_with(**changes: Any) -> MonitorParams:
    return params_with({"monitor": changes}).monitor


def test_monitor_params_errors_name_the_key(tmp_path):
    with pytest.raises(ParamsError, match=r"monitor\.drift\.share"):
        monitor_with(drift={"share": 2})
    with pytest.raises(ParamsError, match=r"monitor\.replay.*YYYY-MM"):
        monitor_with(replay={"month": "november"})
    with pytest.raises(ParamsError, match=r"monitor\.nonsense"):
        monitor_with(nonsense=1)


def test_main_writes_report_summary_and_markdown(project, log_factory, params):
    p = load_params(project)
    m = p.monitor
    table = make_table(params, rows=400, seed=7)
    log_factory(table, Path(m.logs) / "predictions.jsonl", labels=Path(m.labels))
    messages = []
    summary = run.main(p, m, say=messages.append)
    out = Path(m.out)
    assert json.loads((out / "summary.json").read_text()) == summary
    assert summary["log"]["rows"] == 400 and summary["performance"]["labelled"] == 400
    assert summary["prediction_drift"]["available"]
    assert (out / "report.html").stat().st_size > 100_000
    assert summary["verdict"] == "ok", summary["reasons"]  # the training window's distribution
    assert VERDICT_TEXT[summary["verdict"]] in (out / "summary.md").read_text()
    assert any("400 predictions" in m for m in messages)


def test_monitor_command_writes_outputs_for_ci(project, log_factory, params, tmp_path):
    from typer.testing import CliRunner

    from mlops.cli import app

    m = load_params(project).monitor
    shifted = make_table(params, rows=300, seed=10)
    shift_features(shifted, params, SHIFTED, 0.4)
    log_factory(shifted, Path(m.logs) / "predictions.jsonl")
    step_summary, output = tmp_path / "step.md", tmp_path / "out.txt"
    env = {"GITHUB_STEP_SUMMARY": str(step_summary), "GITHUB_OUTPUT": str(output)}
    result = CliRunner().invoke(app, ["monitor", "--params", str(project)], env=env)
    assert result.exit_code == 0, result.output
    assert "verdict drift" in result.output
    assert output.read_text() == "verdict=drift\n"
    assert "Drift detected" in step_summary.read_text()
    failing = CliRunner().invoke(
        app, ["monitor", "--params", str(project), "--fail-on-drift"], env=env
    )
    assert failing.exit_code == 2
    nothing = CliRunner().invoke(
        app, ["monitor", "--params", str(project), "--logs", str(tmp_path / "none")]
    )
    assert nothing.exit_code == 1 and "no prediction log found" in nothing.output


def test_logs_from_an_fsspec_url(params, log_factory, tmp_path):
    import fsspec

    local = tmp_path / "p.jsonl"
    log_factory(make_table(params, rows=200, seed=11), local)
    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/logs/2026-11-27.jsonl", local.read_bytes())
    try:
        sample, stats = sample_log("memory://bucket/logs", params.schema, rows=1000)
        assert stats.rows == 200 and stats.files == 1 and len(sample) == 200
        file_url, _ = sample_log(local.as_uri(), params.schema, rows=1000)
        assert len(file_url) == 200
    finally:
        fs.rm("/bucket", recursive=True)
