"""Replay: the month chosen, real HTTP requests to a tiny local service, late labels."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.core.monitor_config import ReplayParams
from mlops.monitoring import replay
from tests.conftest import feature, make_table, params_with


def replay_with(**changes: object) -> ReplayParams:
    return params_with({"monitor": {"replay": changes}}).monitor.replay


class FakeService:
    """A stand-in for the BentoML service on 127.0.0.1: /readyz and /predict, logged."""

    def __init__(self, fail_every: int = 0) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.fail_every = fail_every
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep the test output clean
                pass

            def _answer(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer(200 if self.path == "/readyz" else 404, {})

            def do_POST(self) -> None:
                record = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                rid = self.headers.get("X-Request-ID", "")
                with owner.lock:
                    owner.requests.append((rid, record))
                    count = len(owner.requests)
                if self.path != "/predict" or (owner.fail_every and count % owner.fail_every == 0):
                    self._answer(500, {"error": "boom"})
                else:
                    self._answer(200, {"probability": 0.5, "label": "delayed", "request_id": rid})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeService:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def service() -> Iterator[FakeService]:
    with FakeService() as running:
        yield running


def _table(params) -> pd.DataFrame:
    table = make_table(params, rows=600, seed=8)
    table.loc[0, feature(params, "nullable")] = float("nan")  # sent as null
    return table


def test_month_from_params_or_run_date(params):
    times = pd.Series(pd.to_datetime(["2013-08-31", "2013-09-02", "2013-10-05", "2013-11-01"]))
    start = date(2013, 9, 1)
    assert replay.months_after(times, start) == ["2013-09", "2013-10", "2013-11"]
    assert replay.choose_month(times, start, "2013-10", date(2026, 1, 1)) == "2013-10"
    days = [replay.choose_month(times, start, None, date(2026, 11, d)) for d in (1, 2, 3, 4)]
    assert days[0] != days[1] != days[2] and days[3] == days[0]  # successive runs rotate
    with pytest.raises(replay.ReplayError, match="available months are 2013-09"):
        replay.choose_month(times, start, "2013-01", date(2026, 1, 1))


def test_replay_sends_real_requests_and_writes_labels(params, service, tmp_path):
    table, target = _table(params), params.schema.target
    month = table[params.schema.time].dt.strftime("%Y-%m").iloc[0]
    requests = replay.window_records(table, params.schema, month, count=30)
    assert 0 < len(requests) <= 30
    assert requests[0].record.keys() == set(params.schema.feature_names)
    labels = tmp_path / "logs" / "labels.jsonl"
    lines: list[str] = []
    settings = replay_with(rate=200, concurrency=3)
    result = replay.replay(service.url, requests, settings, labels, target, month, lines.append)
    assert result.sent == len(requests) and result.failed == 0
    sent = dict(service.requests)
    assert set(sent) == {r.request_id for r in requests}  # X-Request-ID is the join key
    first = requests[0]
    assert sent[first.request_id] == json.loads(json.dumps(first.record))
    written = [json.loads(x) for x in labels.read_text().splitlines()]
    assert {w["request_id"]: w[target] for w in written} == {
        r.request_id: r.label for r in requests
    }
    assert lines and "0 failed" in lines[-1]  # progress reported


def test_replay_rate_is_bounded(params, service, tmp_path):
    table = _table(params)
    month = table[params.schema.time].dt.strftime("%Y-%m").iloc[0]
    requests = replay.window_records(table, params.schema, month, count=20)
    settings = replay_with(rate=40, concurrency=4)
    result = replay.replay(
        service.url, requests, settings, tmp_path / "l.jsonl", params.schema.target
    )
    assert result.seconds >= (len(requests) - 1) / 40 * 0.9


def test_replay_stops_on_errors_and_without_a_service(params, tmp_path):
    table = _table(params)
    month = table[params.schema.time].dt.strftime("%Y-%m").iloc[0]
    requests = replay.window_records(table, params.schema, month, count=40)
    with FakeService(fail_every=2) as failing:
        settings = replay_with(rate=500, max_errors=3, concurrency=1)
        with pytest.raises(replay.ReplayError, match=r"HTTP 500.*boom"):
            replay.replay(
                failing.url, requests, settings, tmp_path / "l.jsonl", params.schema.target
            )
        assert len(failing.requests) < 40  # it stopped early
    with FakeService() as gone:
        url = gone.url
    with pytest.raises(replay.ReplayError, match="make serve"):
        replay.replay(
            url, requests, replay_with(timeout=2), tmp_path / "l.jsonl", params.schema.target
        )


def test_replay_command(params, project, service, tmp_path):
    split = project.parent / "artifacts" / "split"
    start = pd.Timestamp(params.prepare.production_start)
    month, before = f"{start:%Y-%m}", f"{pd.Timestamp(params.prepare.train_start):%Y-%m}"
    table = make_table(params, rows=800, seed=9)
    table[params.schema.time] = start + pd.to_timedelta(table.index % 30, unit="D")
    table.to_parquet(split / "test.parquet")
    table.to_parquet(split / "production.parquet")
    labels = tmp_path / "labels.jsonl"
    result = CliRunner().invoke(
        app,
        ["replay", "--url", service.url, "--requests", "25", "--rate", "500",
         "--labels", str(labels), "--params", str(project)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"25 records of {month}" in result.output
    assert len(labels.read_text().splitlines()) == 25 == len(service.requests)
    missing = CliRunner().invoke(
        app, ["replay", "--month", before, "--params", str(project), "--url", service.url]
    )
    assert missing.exit_code == 1 and f"available months are {month}" in missing.output
