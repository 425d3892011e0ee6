"""The monitor analyses a window of the log and one model version: a month-old load test or
the previous model's traffic does not decide today's verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from mlops.core.config import load_params
from mlops.monitoring import run
from mlops.monitoring.logs import Selection, sample_log, window_delta
from tests.conftest import make_table


def test_window_lengths():
    assert window_delta("7d") == timedelta(days=7)
    assert window_delta("12h") == timedelta(hours=12)
    assert window_delta("30m") == timedelta(minutes=30)
    assert window_delta(None) is None


def test_partitions_outside_the_window_or_of_another_version_are_not_read():
    since = datetime(2026, 11, 22, 12, tzinfo=UTC)
    chosen = Selection("7d", since, since + timedelta(days=7), "v2")
    assert chosen.keeps_file("bucket/logs/date=2026-11-22/model=v2/a.jsonl.gz")
    assert chosen.keeps_file("bucket/logs/date=2026-11-29/model=v2/a.jsonl.gz")
    assert not chosen.keeps_file("bucket/logs/date=2026-11-21/model=v2/a.jsonl.gz")
    assert not chosen.keeps_file("bucket/logs/date=2026-11-29/model=v1/a.jsonl.gz")
    assert chosen.keeps_file("logs/predictions/closed/a.jsonl")  # no partitions: read it
    assert Selection(None, None, None, None).keeps_file("x/date=2001-01-01/model=v0/a.jsonl")


def test_the_window_ends_at_the_newest_prediction_and_holds_only_the_live_version(
    params, log_factory, tmp_path
):
    table = make_table(params, rows=900, seed=5)
    logs = tmp_path / "logs"
    # a month ago: the previous model; yesterday: v2 for 600 predictions, then v3 for 300
    log_factory(table.iloc[:300], logs / "old.jsonl", version="v1", start="2026-10-20T00:00:00")
    log_factory(table.iloc[300:600], logs / "b.jsonl", version="v2", prefix="b",
                start="2026-11-28T00:00:00")  # fmt: skip
    log_factory(table.iloc[600:], logs / "c.jsonl", version="v3", prefix="c",
                start="2026-11-28T01:00:00")  # fmt: skip
    _, stats = sample_log(str(logs), params.schema, rows=5000, window="7d", version="live")
    assert stats.rows == 300 and stats.versions == {"v3": 300} and stats.read == 900
    assert stats.outside == {"v1": 300, "v2": 300}
    assert stats.selection.as_dict() == {
        "window": "7d",
        "from": "2026-11-21T01:04:59+00:00",  # 7 days before the newest (01:00:00 + 299 s)
        "to": "2026-11-28T01:04:59+00:00",
        "version": "v3",
    }
    _, every = sample_log(str(logs), params.schema, rows=5000, window="7d", version="all")
    assert every.rows == 600 and every.versions == {"v2": 300, "v3": 300}
    _, one = sample_log(str(logs), params.schema, rows=5000, window=None, version="v1")
    assert one.rows == 300 and one.versions == {"v1": 300}


@pytest.mark.slow
def test_a_month_old_load_test_of_one_record_does_not_decide_the_verdict(
    project, params, log_factory
):
    """The issue's case: a burst of one repeated record, weeks ago and from the previous
    model, made every feature drift; the window and the live version leave it out, and
    late labels join only the predictions of the window."""
    p = load_params(project)
    logs, labels = project.parent / "logs", project.parent / "logs" / "labels.jsonl"
    burst = pd.concat([make_table(params, rows=1, seed=9)] * 3000, ignore_index=True)
    log_factory(burst, logs / "load-test.jsonl", labels=labels, version="v1", prefix="load",
                start="2026-10-01T00:00:00")  # fmt: skip
    today = make_table(params, rows=1500, seed=6)
    log_factory(today, logs / "today.jsonl", labels=labels, version="v2",
                start="2026-11-28T00:00:00")  # fmt: skip
    summary = run.main(p, p.monitor, say=lambda _: None)
    assert summary["verdict"] == "ok", summary["reasons"]
    assert summary["log"]["rows"] == 1500 and summary["log"]["model_versions"] == {"v2": 1500}
    assert summary["log"]["not_selected"] == {"v1": 3000}
    assert summary["performance"]["labelled"] == 1500  # the burst's labels are not joined
    markdown = (p.monitor.out / "summary.md").read_text()
    assert "Window: 7d (2026-11-21T00:24:59+00:00 to 2026-11-28T00:24:59+00:00)" in markdown
    assert "model version v2: 1,500 predictions" in markdown and "left out 3,000" in markdown
    everything = run.main(p, run.settings(p.monitor, "all", "all"), say=lambda _: None)
    assert everything["verdict"] == "drift"  # what the whole log said before
    assert len(everything["data_drift"]["drifted_features"]) > len(params.schema.features) / 2
