"""The prediction log: one JSON line per prediction the service answered, defined here once.

:class:`LoggedPrediction` is one line, its keys and their types. The service appends lines
(:class:`PredictionLog`), the monitor reads them with Arrow (:func:`log_schema`, derived
from :class:`LoggedPrediction`, so writer and reader cannot disagree) and tests read them
back (:func:`read_log`).
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict, get_type_hints

import pyarrow as pa

from mlops.core.config import SchemaParams

LOG_VARIABLE = "MLOPS_PREDICTION_LOG"  # overrides serve.prediction_log


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
_ARROW_TYPES = {str: pa.string(), float: pa.float64(), list[str]: pa.list_(pa.string())}


def log_schema(schema: SchemaParams) -> pa.Schema:
    """The Arrow schema of one line: category features as strings, numbers as float64."""
    features = pa.struct(
        [
            pa.field(name, pa.string() if spec.type == "category" else pa.float64())
            for name, spec in schema.features.items()
        ]
    )
    return pa.schema(
        [
            pa.field(name, features if name == FEATURES else _ARROW_TYPES[hint])
            for name, hint in get_type_hints(LoggedPrediction).items()
        ]
    )


def log_path(configured: Path) -> Path:
    """Where the service logs: $MLOPS_PREDICTION_LOG if set, else serve.prediction_log."""
    return Path(os.environ.get(LOG_VARIABLE) or configured)


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


class PredictionLog:
    """Append-only JSON lines: one line per prediction, written before the response leaves.

    Each batch is one ``write`` on a file opened with O_APPEND (no buffer in this process),
    so several workers can share the file and a SIGTERM, or even a SIGKILL, loses no line
    that was answered. :meth:`close` fsyncs on shutdown.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OSError(
                f"cannot open the prediction log {self.path}: {exc.strerror}. Set "
                f"serve.prediction_log in params.yaml (or {LOG_VARIABLE}) to a writable path."
            ) from None
        self._lock = threading.Lock()

    def write(
        self,
        records: Sequence[Mapping[str, Any]],
        results: Sequence[Mapping[str, Any]],
        *,
        version: str,
        request_ids: Sequence[str],
    ) -> None:
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        lines = [
            json.dumps(
                logged(record, result, request_id=rid, version=version, at=now),
                separators=(",", ":"),
            )
            for record, result, rid in zip(records, results, request_ids, strict=True)
        ]
        data = ("\n".join(lines) + "\n").encode()
        with self._lock:
            if self._fd is None:
                raise RuntimeError(f"prediction log {self.path} is closed")
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None


def read_log(path: Path) -> list[LoggedPrediction]:
    """Every prediction logged in ``path`` (for tests and small logs; the monitor reads
    large ones in blocks with :func:`log_schema`)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
