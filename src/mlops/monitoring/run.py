"""`mlops monitor`: the prediction log against the training window, written as a report.

:func:`main` reads the files (the log and late labels through :mod:`.logs`, the training
window, the model and its evaluation), runs :func:`.drift.analyse` and writes
``report.html`` (self-contained, renders offline), ``summary.json`` (plain floats),
``summary.md`` (:func:`.summary.summary_markdown`) and ``history.jsonl`` to
``monitor.out``, and appends the run to the history (``monitor.history``, :mod:`.history`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mlops.core.config import Params, SchemaParams
from mlops.core.monitor_config import MonitorParams
from mlops.monitoring import history
from mlops.monitoring.drift import Analysis, analyse, reference_frame
from mlops.monitoring.logs import LogStats, current_frame, read_labels, sample_log
from mlops.monitoring.summary import summary_markdown
from mlops.release.registry import stages_now

HISTORY = "history.jsonl"  # in monitor.out: every run so far, for the site


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(
    params: Params,
    monitor: MonitorParams,
    logs: str | None = None,
    labels: str | None = None,
    out: Path | None = None,
    report_link: str | None = None,
    say: Callable[[str], None] = _say,
) -> dict[str, Any]:
    """Read the log, labels, reference and model; write report.html, summary.json/.md."""
    logs = logs or monitor.logs
    labels = labels if labels is not None else monitor.labels
    train_path = params.paths.split / "train.parquet"
    if not train_path.exists():
        raise FileNotFoundError(f"{train_path} (the training window) not found: run `make run`")
    current, stats = read_current(logs, labels, params.schema, monitor, say)
    reference = read_reference(params, monitor, train_path, say)
    metrics = params.paths.metrics
    evaluated = json.loads(metrics.read_text()) if metrics.exists() else None
    say("monitor: running Evidently ...")
    analysis = analyse(reference, current, params.schema, monitor, evaluated, stats.as_dict())
    analysis.summary["log"]["source"] = logs
    analysis.summary["registry"] = stages_now()  # the version in each stage
    analysis.summary["reference"].update({"source": str(train_path)})
    runs = [*history.read_runs(monitor.history), history.entry(analysis.summary)]
    since, drifted = history.drifting_since(runs)
    analysis.summary["history"] = {
        "location": monitor.history,
        "runs": len(runs),
        "drifting_since": since,
        "drifted_runs": drifted,
    }
    folder = out or monitor.out
    write(analysis, folder, report_link)
    history.save_runs(str(folder / HISTORY), runs)  # the site's trend
    history.save_runs(monitor.history, runs)
    say(f"monitor: run {len(runs)} appended to the history at {monitor.history}")
    return analysis.summary


def settings(monitor: MonitorParams, window: str | None, version: str | None) -> MonitorParams:
    """``monitor`` with the command line's --window ("all": the whole log) and --version,
    validated as params.yaml's values are."""
    given: dict[str, Any] = {}
    if window is not None:
        given["window"] = None if window == "all" else window
    if version is not None:
        given["version"] = version
    if not given:
        return monitor
    try:
        return MonitorParams.model_validate({**monitor.model_dump(), **given})
    except ValueError as exc:
        raise ValueError(f"--window {window!r} / --version {version!r}: {exc}") from None


def read_current(
    logs: str,
    labels: str | None,
    schema: SchemaParams,
    monitor: MonitorParams,
    say: Callable[[str], None],
) -> tuple[pd.DataFrame, LogStats]:
    """The sampled log with its late labels joined, and the whole log's counts."""
    say(f"monitor: reading the prediction log at {logs} ...")
    sample, stats = sample_log(
        logs,
        schema,
        monitor.current_rows,
        monitor.seed,
        monitor.block_bytes,
        _progress(say),
        window=monitor.window,
        version=monitor.version,
    )
    chosen = stats.selection.as_dict() if stats.selection else {}
    say(
        f"monitor: {stats.rows:,} of {stats.read:,} predictions selected (window "
        f"{chosen.get('window')}: {chosen.get('from')} .. {chosen.get('to')}; model version "
        f"{chosen.get('version')}) in {stats.files} file(s), {len(sample):,} sampled"
    )
    known = read_labels(
        labels, monitor.key, schema.target, sample[monitor.key], monitor.block_bytes
    )
    say(f"monitor: {len(known):,} late labels matched ({labels})")
    return current_frame(sample, known, schema, monitor.key), stats


def _progress(say: Callable[[str], None]) -> Callable[[int], None]:
    """Says how many rows were read: a line every 5 s, not one per block."""
    started = datetime.now(UTC)
    last = [0.0]

    def progress(rows: int) -> None:
        seconds = (datetime.now(UTC) - started).total_seconds()
        if seconds - last[0] >= 5.0:
            last[0] = seconds
            say(f"  {rows:,} logged predictions read ({seconds:.0f} s)")

    return progress


def read_reference(
    params: Params, monitor: MonitorParams, train_path: Path, say: Callable[[str], None]
) -> pd.DataFrame:
    """The training window, sampled and scored by the model (unscored without a model)."""
    from mlops.core import model_io

    schema = params.schema
    model = model_io.load(params.paths.model) if params.paths.model.exists() else None
    if model is None:
        say(f"monitor: {params.paths.model} not found: prediction drift is not computed")
    train = pd.read_parquet(train_path, columns=[*schema.feature_names, schema.target])
    return reference_frame(
        train, schema, model, params.evaluate.threshold, monitor.reference_rows, monitor.seed
    )


def write(analysis: Analysis, out: Path, report_link: str | None) -> None:
    """report.html, summary.json and summary.md in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.html").write_text(analysis.html(), encoding="utf-8")
    (out / "summary.json").write_text(
        json.dumps(analysis.summary, indent=2, allow_nan=False) + "\n"
    )
    (out / "summary.md").write_text(summary_markdown(analysis.summary, report_link))
