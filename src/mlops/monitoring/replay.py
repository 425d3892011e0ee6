"""Production traffic for the embedded default: replay a later month against the service.

There is no real production for the template's default data, so this sends a month of
flights that came after the training window to the *running* service over HTTP (real
``POST /predict`` requests, bounded rate and concurrency, a progress display), which writes
real prediction logs; the true outcomes are appended to the late-labels file, keyed by the
request id the service logs, as they would arrive later in a real deployment.

The month comes from ``monitor.replay.month`` or, when unset, from the run date: each day
the next month after the training window, so successive scheduled runs see successive
months and the seasonal drift of the data shows up.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from mlops.core.config import Params, SchemaParams
from mlops.core.errors import UserError
from mlops.core.monitor_config import MonitorParams, ReplayParams


class ReplayError(UserError, RuntimeError):
    """The replay cannot run or too many requests failed; the message says what to do."""


@dataclass(frozen=True)
class Request:
    request_id: str
    record: dict[str, Any]
    label: int
    time: str


@dataclass
class ReplayResult:
    sent: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def load_window_source(params: Params) -> pd.DataFrame:
    """The labelled flights after the training window (test and production splits)."""
    split = params.paths.split
    parts = [split / "test.parquet", split / "production.parquet"]
    missing = [str(p) for p in parts if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)} not found: run `make run` first")
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def months_after(times: pd.Series, start: date) -> list[str]:
    """The months (YYYY-MM) with data on or after ``start``, in order."""
    stamps = pd.to_datetime(times)
    later = stamps[stamps >= pd.Timestamp(start)]
    return sorted(later.dt.strftime("%Y-%m").unique())


def choose_month(times: pd.Series, start: date, month: str | None, when: date) -> str:
    """``month`` if given (must have data), else the month for the run date ``when``."""
    candidates = months_after(times, start)
    if not candidates:
        raise ReplayError(f"no data on or after {start} to replay (prepare.test_start)")
    if month is not None:
        if month not in candidates:
            raise ReplayError(
                f"no data to replay for {month}: available months are {', '.join(candidates)} "
                "(set monitor.replay.month or --month to one of them)"
            )
        return month
    return candidates[when.toordinal() % len(candidates)]


def json_value(value: Any, kind: str) -> Any:
    """A table cell as a client sends it: null when missing, else a str, int or float."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == "category":
        return str(value)
    return int(value) if kind == "int" else float(value)


def window_records(
    table: pd.DataFrame, schema: SchemaParams, month: str, count: int, seed: int = 0
) -> list[Request]:
    """At most ``count`` flights of ``month`` (sampled, in time order) as requests."""
    stamps = pd.to_datetime(table[schema.time])
    window = table[stamps.dt.strftime("%Y-%m") == month]
    if window.empty:
        raise ReplayError(f"no rows in {month} to replay")
    if len(window) > count:
        window = window.sample(count, random_state=seed)
    window = window.sort_values(schema.time)
    run = uuid.uuid4().hex[:8]
    kinds = {name: spec.type for name, spec in schema.features.items()}
    requests = []
    for position, row in enumerate(window.to_dict("records")):
        record = {name: json_value(row[name], kind) for name, kind in kinds.items()}
        requests.append(
            Request(
                request_id=f"replay-{month}-{run}-{position}",
                record=record,
                label=int(row[schema.target]),
                time=pd.Timestamp(row[schema.time]).isoformat(),
            )
        )
    return requests


def month_requests(params: Params, settings: ReplayParams, when: date) -> tuple[str, list[Request]]:
    """The month to replay (``settings.month``, else the one for the run date ``when``) and
    at most ``settings.requests`` of its flights as requests."""
    table = load_window_source(params)
    month = choose_month(table[params.schema.time], params.prepare.test_start, settings.month, when)
    return month, window_records(table, params.schema, month, settings.requests, settings.seed)


class _Pacer:
    """At most ``rate`` starts per second across threads (evenly spaced)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(self.next, now)
            self.next = start + self.interval
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class _Progress:
    """A progress bar on a terminal, a line every few seconds in CI logs."""

    def __init__(self, total: int, say: Callable[[str], None] | None) -> None:
        self.total = total
        self.say = say
        self.started = time.monotonic()
        self.last = 0.0
        self.bar: Any = None
        if say is None and sys.stderr.isatty():
            from rich.progress import Progress

            self.bar = Progress(transient=False)
            self.bar.start()
            self.task = self.bar.add_task("replay", total=total)

    def update(self, done: int, failed: int, force: bool = False) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done)
            return
        now = time.monotonic()
        if force or now - self.last >= 5.0:
            self.last = now
            elapsed = max(now - self.started, 1e-9)
            line = (
                f"  replay: {done:,}/{self.total:,} ({done / max(self.total, 1):.0%}), "
                f"{done / elapsed:.0f} req/s, {failed} failed"
            )
            (self.say or (lambda m: print(m, file=sys.stderr, flush=True)))(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def require_service(url: str, timeout: float) -> None:
    """Fail early, with what to do, when nothing answers at ``url``."""
    import httpx

    try:
        httpx.get(f"{url}/readyz", timeout=timeout)
    except httpx.HTTPError as exc:
        raise ReplayError(
            f"no service answers at {url} ({type(exc).__name__}: {exc}). Start it first "
            "(`make serve` in another terminal) or pass --url of the running service."
        ) from None


class _Replay:
    """One replay in flight: sends each request (paced), counts the answers and appends a
    late label per answered request; stops after ``settings.max_errors`` failures."""

    def __init__(
        self,
        client: Any,
        sink: TextIO,
        settings: ReplayParams,
        target: str,
        month: str,
        progress: _Progress,
    ) -> None:
        self.client, self.sink, self.settings = client, sink, settings
        self.target, self.month, self.progress = target, month, progress
        self.pacer = _Pacer(settings.rate)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.result = ReplayResult()

    def send(self, request: Request) -> None:
        if self.stop.is_set():
            return
        self.pacer.wait()
        error = self._post(request)
        with self.lock:
            if error is None:
                self._answered(request)
            else:
                self._failed(request, error)
            self.progress.update(self.result.sent + self.result.failed, self.result.failed)

    def _post(self, request: Request) -> str | None:
        """None when the service answered; else what went wrong."""
        import httpx

        try:
            answer = self.client.post(
                "/predict", json=request.record, headers={"X-Request-ID": request.request_id}
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if answer.status_code != 200:
            return f"HTTP {answer.status_code}: {answer.text[:200]}"
        return None

    def _answered(self, request: Request) -> None:
        self.result.sent += 1
        line = {
            "request_id": request.request_id,
            self.target: request.label,
            "time": request.time,
            "month": self.month,
        }
        self.sink.write(json.dumps(line) + "\n")

    def _failed(self, request: Request, error: str) -> None:
        self.result.failed += 1
        if len(self.result.errors) < 5:
            self.result.errors.append(f"{request.request_id}: {error}")
        if self.result.failed > self.settings.max_errors:
            self.stop.set()


def replay(
    url: str,
    requests: Sequence[Request],
    settings: ReplayParams,
    labels: Path,
    target: str,
    month: str = "",
    say: Callable[[str], None] | None = None,
) -> ReplayResult:
    """POST each record to ``url``/predict; append a late label per answered request."""
    import httpx

    url = url.rstrip("/")
    require_service(url, settings.timeout)
    labels.parent.mkdir(parents=True, exist_ok=True)
    progress = _Progress(len(requests), say)
    started = time.monotonic()
    limits = httpx.Limits(max_connections=settings.concurrency)
    with (
        httpx.Client(base_url=url, timeout=settings.timeout, limits=limits) as client,
        labels.open("a", encoding="utf-8") as sink,
    ):
        run = _Replay(client, sink, settings, target, month, progress)
        try:
            with ThreadPoolExecutor(max_workers=settings.concurrency) as pool:
                list(pool.map(run.send, requests))
        finally:
            progress.update(run.result.sent + run.result.failed, run.result.failed, force=True)
            progress.close()
    result = run.result
    result.seconds = time.monotonic() - started
    if run.stop.is_set():
        raise ReplayError(
            f"stopped after {result.failed} failed requests to {url}/predict "
            f"(monitor.replay.max_errors: {settings.max_errors}); first errors:\n  "
            + "\n  ".join(result.errors)
        )
    return result


@contextmanager
def bento_server(bento: str, monitor: MonitorParams) -> Iterator[str]:
    """Serve ``bento`` on 127.0.0.1 for the block, logging its predictions to monitor.logs
    (a local folder); the server's URL. Its output goes to monitor.out/replay-server.log."""
    from mlops.release.localserver import HOST, bentoml_command, free_port, running

    port = free_port()
    log_file = Path(monitor.logs) / "predictions" if "://" not in monitor.logs else None
    env = {"MLOPS_PREDICTION_LOG": str(log_file.resolve())} if log_file else {}
    with running(
        bentoml_command(bento, port),
        f"http://{HOST}:{port}",
        Path(monitor.out) / "replay-server.log",
        timeout=180,
        env=env,
    ) as server:
        print(f"\nreplay: started {bento} on {server.url}, logging to {log_file}", flush=True)
        yield server.url
