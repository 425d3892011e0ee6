"""The monitor's history: one line per run, kept next to the logs (``monitor.history``).

:func:`entry` reduces a run's summary to the signals the site charts (drift share, each
feature's score, prediction drift, production metrics) with their thresholds, the window
and the model version; :func:`read_runs` and :func:`save_runs` keep the history (a local file or any
fsspec URL: object stores have no append, so the file is read and written whole, one short
line a run); :func:`drifting_since` says since when the current run of drift lasts.
"""

from __future__ import annotations

import json
from typing import Any

from mlops.monitoring.errors import MonitorError
from mlops.serving.logship import is_local


def entry(summary: dict[str, Any]) -> dict[str, Any]:
    """The history line of one run (pure)."""
    log, data = summary.get("log", {}), summary["data_drift"]
    prediction, perf = summary["prediction_drift"], summary["performance"]
    probability = prediction.get("probability", {}) if prediction.get("available") else {}
    return {
        "generated_at": summary.get("generated_at"),
        "verdict": summary["verdict"],
        "window": log.get("selection"),
        "rows": log.get("rows"),
        "model_version": (log.get("selection") or {}).get("version")
        or log.get("live_model_version"),
        "data_drift": {"share": data["share"], "threshold": data["share_threshold"]},
        "features": {
            name: {"score": row["score"], "threshold": row["threshold"], "method": row["method"]}
            for name, row in data["features"].items()
        },
        "prediction_drift": {
            "score": probability.get("score"),
            "threshold": probability.get("threshold"),
            "method": probability.get("method"),
        },
        "performance": {
            name: {
                "current": row["current"],
                "floor": None if row["evaluated"] is None else row["evaluated"] - perf["max_drop"],
            }
            for name, row in perf.get("metrics", {}).items()
        },
    }


def read_runs(location: str) -> list[dict[str, Any]]:
    """Every run of the history at ``location``; [] when there is none yet."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(location)
    if not fs.exists(path):
        return []
    lines = fs.cat_file(path).decode().splitlines()
    try:
        return [json.loads(line) for line in lines if line.strip()]
    except json.JSONDecodeError as exc:
        raise MonitorError(
            f"the monitor history {location} is not JSON lines ({exc}): fix or move it "
            "(monitor.history); the next run starts a new one"
        ) from None


def save_runs(location: str, runs: list[dict[str, Any]]) -> None:
    """Write the history ``runs`` to ``location`` (a file or an fsspec URL)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(location)
    if is_local(fs) and "/" in path:
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    fs.pipe_file(path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in runs).encode())


def drifting_since(runs: list[dict[str, Any]]) -> tuple[str | None, int]:
    """When the latest unbroken run of ``drift`` verdicts began, and how many runs it has
    (None, 0 when the latest run is not drift); insufficient data does not break it (pure)."""
    since, count = None, 0
    for run in reversed(runs):
        if run["verdict"] == "drift":
            since, count = run.get("generated_at"), count + 1
        elif run["verdict"] != "insufficient_data" or count == 0:
            break
    return since, count
