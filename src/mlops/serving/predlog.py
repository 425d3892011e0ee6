"""The prediction log: one JSON line per prediction the service answered, defined here once.

:class:`LoggedPrediction` is one line, its keys and their types. The service appends lines
to rotating segments (:class:`PredictionLog`; the shipper: :mod:`mlops.serving.logship`),
the monitor reads them with Arrow (:func:`log_schema`, derived from
:class:`LoggedPrediction`, so writer and reader cannot disagree) and tests read them back
(:func:`read_log`).
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import re
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, get_type_hints

import orjson

from mlops.core.config import SchemaParams
from mlops.serving.logship import CLOSED, LOG_VARIABLE, OPEN, backlog_bytes, segment_name

if TYPE_CHECKING:
    import pyarrow as pa

_log = logging.getLogger("mlops.prediction_log")


class LoggedPrediction(TypedDict):
    """One line of the prediction log."""

    timestamp: str  # ISO 8601, UTC, microseconds: when its batch was answered
    request_id: str  # X-Request-ID; "<id>-<index>" for the records of a batch request
    model_version: str  # MD5 prefix of the served model (dvc.lock)
    features: dict[str, Any]  # the record as received; a non-finite number as null
    probability: float  # of the positive class
    prediction: str  # the label served
    unknown_categories: list[str]  # names of the features whose value the model never saw


FEATURES = "features"  # the one field whose Arrow type depends on schema.features


def log_schema(schema: SchemaParams) -> pa.Schema:
    """The Arrow schema of one line: category features as strings, numbers as float64
    (the monitor's reader; pyarrow is not imported by the service: its cold start)."""
    import pyarrow as pa

    arrow_types = {str: pa.string(), float: pa.float64(), list[str]: pa.list_(pa.string())}
    features = pa.struct(
        [
            pa.field(name, pa.string() if spec.type == "category" else pa.float64())
            for name, spec in schema.features.items()
        ]
    )
    return pa.schema(
        [
            pa.field(name, features if name == FEATURES else arrow_types[hint])
            for name, hint in get_type_hints(LoggedPrediction).items()
        ]
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def logged(
    record: Mapping[str, Any], result: Mapping[str, Any], *, request_id: str, version: str, at: str
) -> LoggedPrediction:
    """The line of one prediction (``result``: the Predictor's answer for ``record``)."""
    return {
        "timestamp": at,
        "request_id": request_id,
        "model_version": version,
        "features": {k: _jsonable(v) for k, v in record.items()},
        "probability": result["probability"],
        "prediction": result["label"],
        "unknown_categories": sorted(result["unknown_categories"]),  # the values are features
    }


def encode_lines(
    at: str,
    version: str,
    records: Sequence[Mapping[str, Any]],
    results: Sequence[Mapping[str, Any]],
    request_ids: Sequence[str],
) -> bytes:
    """The JSON lines of one answered batch, the values of :func:`logged` (a non-finite
    number is null), encoded by orjson: 1.6 ms for 1,000 lines where the standard library
    took 9.6 ms, CPU the log thread took from the requests under the worker's GIL (issue
    17); the standard library for what orjson refuses (an integer beyond 64 bits). Text
    is UTF-8, not ASCII escapes."""
    try:
        lines = [
            orjson.dumps(
                {
                    "timestamp": at,
                    "request_id": rid,
                    "model_version": version,
                    "features": record,
                    "probability": result["probability"],
                    "prediction": result["label"],
                    "unknown_categories": sorted(result["unknown_categories"]),
                }
            )
            for record, result, rid in zip(records, results, request_ids, strict=True)
        ]
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: the standard library
        lines = [
            json.dumps(logged(r, res, request_id=i, version=version, at=at)).encode()
            for r, res, i in zip(records, results, request_ids, strict=True)
        ]
    return b"\n".join(lines) + b"\n" if lines else b""


class PredictionLog:
    """Rotating JSON-lines segments in ``folder`` (layout: :mod:`mlops.serving.logship`).

    :meth:`write` encodes the batch in the caller's thread and queues the bytes (no I/O on
    the request's path); a background thread appends them every ``log_flush_seconds`` and
    closes the segment by size (``log_segment_bytes``), age (``log_segment_seconds``) or at
    midnight UTC, renaming it into ``closed/`` for the shipper. :meth:`close` (the service's
    shutdown) flushes and closes the last segment: a SIGTERM loses no answered prediction;
    a SIGKILL loses at most the last ``log_flush_seconds``. Each process writes its own
    segments (the name carries host and pid), so several workers share the folder.

    Why encode in the caller (issue 17): encoded in the background thread, a second's lines
    were one burst of Python work (~100 ms at 60,000 lines a second) that held the GIL
    while a model thread walked its trees. The walk releases and retakes the GIL once per
    tree (300 times a batch) and waited up to the 5 ms switch interval each time: batches
    answered 150-400 ms late. In the caller the encoding is part of its own batch (1.8 ms
    per 1,000 lines) and never waits on another thread's walk.
    """

    def __init__(self, folder: Path, settings: Any) -> None:
        self.folder = Path(folder)
        self.settings = settings
        self.host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:63] or "host"
        try:
            for sub in (OPEN, CLOSED):
                (self.folder / sub).mkdir(parents=True, exist_ok=True)
            self._recover()
        except OSError as exc:
            raise OSError(
                f"cannot use the prediction log folder {self.folder}: {exc.strerror}. Set "
                f"serve.prediction_log in params.yaml (or {LOG_VARIABLE}) to a writable folder."
            ) from None
        self._pending: list[tuple[str, str, bytes]] = []  # (timestamp, version, lines)
        self._lock = threading.Lock()  # guards _pending and _closed (held for a list append)
        self._io = threading.Lock()  # one flush at a time
        self._closed = False
        self._segment: _Segment | None = None
        self._seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def _recover(self) -> None:
        """Close what a dead process (a restarted worker or container) left open; a live
        worker's segment is left alone (it still writes to it)."""
        for path in (self.folder / OPEN).glob("*.jsonl"):
            found = re.search(r"-(\d+)-\d{6}\.jsonl$", path.name)
            pid = int(found.group(1)) if found else None
            if pid is not None and pid != os.getpid() and _alive(pid):
                continue
            if path.stat().st_size:
                path.rename(self.folder / CLOSED / path.name)

    def write(
        self,
        records: Sequence[Mapping[str, Any]],
        results: Sequence[Mapping[str, Any]],
        *,
        version: str,
        request_ids: Sequence[str],
    ) -> None:
        """Encode one answered batch and queue it; the background thread writes it within a
        flush period."""
        if not len(records) == len(results) == len(request_ids):
            raise ValueError("records, results and request_ids differ in length")
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        data = encode_lines(now, version, records, results, request_ids)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"prediction log {self.folder} is closed")
            self._pending.append((now, version, data))

    def _run(self) -> None:
        while not self._stop.wait(self.settings.log_flush_seconds):
            try:
                self.flush()
            except OSError as exc:  # e.g. disk full: the lines stay queued, retried
                _log.error("prediction log %s: cannot write (%s); retrying", self.folder, exc)

    def flush(self) -> None:
        """Write the queued lines, then close the segment if it is due."""
        with self._io:
            with self._lock:
                pending, self._pending = self._pending, []
            written = 0
            try:
                for at, version, data in pending:
                    self._append(at, version, data)
                    written += 1
            finally:
                if written < len(pending):  # put back what was not written, in order
                    with self._lock:
                        self._pending[:0] = pending[written:]
            segment = self._segment
            if segment is not None and segment.due(self.settings, time.monotonic()):
                self._rotate()

    def _append(self, at: str, version: str, data: bytes) -> None:
        segment = self._segment
        if segment is not None and (segment.version != version or segment.day != at[:10]):
            self._rotate()
            segment = None
        if segment is None:
            self._seq += 1
            name = segment_name(at, version, self.host, os.getpid(), self._seq)
            segment = self._segment = _Segment(self.folder / OPEN / name, version, at[:10])
        segment.append(data)

    def _rotate(self) -> None:
        """Close the current segment and hand it to the shipper (``closed/``)."""
        segment, self._segment = self._segment, None
        if segment is None:
            return
        segment.close(self.folder / CLOSED)
        waiting = backlog_bytes(self.folder)
        if waiting > self.settings.log_max_local_bytes:
            _log.error(
                "prediction log: %d bytes of closed segments wait for the shipper in %s "
                "(serve.log_max_local_bytes %d): is the log-shipper sidecar running and can "
                "it reach serve.log_store? Nothing is dropped; the disk fills",
                waiting, self.folder / CLOSED, self.settings.log_max_local_bytes,
            )  # fmt: skip

    def close(self) -> None:
        """Write what is queued and close the last segment (the service's shutdown)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._thread.join()
        self.flush()
        with self._io:
            self._rotate()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


class _Segment:
    """One open segment file: appended with O_APPEND, fsynced and renamed when closed."""

    def __init__(self, path: Path, version: str, day: str) -> None:
        self.path, self.version, self.day = path, version, day
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        self.opened = time.monotonic()
        self.size = 0

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        self.size += len(data)

    def due(self, settings: Any, now: float) -> bool:
        return (
            self.size >= settings.log_segment_bytes
            or now - self.opened >= settings.log_segment_seconds
            or datetime.now(UTC).date().isoformat() != self.day
        )

    def close(self, closed: Path) -> None:
        os.fsync(self.fd)
        os.close(self.fd)
        self.path.rename(closed / self.path.name)


def read_log(path: Path) -> list[LoggedPrediction]:
    """Every prediction logged in ``path``, a file or a folder of segments (for tests and
    small logs; the monitor reads large ones in blocks with :func:`log_schema`). A segment
    being written may end in part of a line (every write ends with a newline): that part
    is left for the next read."""
    if path.is_dir():
        files = sorted(f for f in path.rglob("*.jsonl*") if f.is_file())
    else:
        files = [path] if path.exists() else []
    lines = []
    for file in files:
        text = gzip.decompress(file.read_bytes()).decode() if file.suffix == ".gz" else None
        text = file.read_text() if text is None else text
        complete = text.split("\n")[:-1]  # after the last newline: "" or a line in writing
        lines += [json.loads(line) for line in complete if line.strip()]
    return lines
