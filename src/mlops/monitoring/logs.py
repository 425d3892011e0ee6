"""Reading what production left: the service's prediction log and the late labels.

- one logged prediction is :class:`mlops.serving.predlog.LoggedPrediction`, read with its
  :func:`~mlops.serving.predlog.log_schema` (writer and reader share one definition);
- :func:`sample_log` streams the JSON-lines log (a file, a folder or any fsspec URL) in
  blocks with pyarrow and keeps a uniform random sample of bounded size (priority
  reservoir) of the predictions :func:`select` chooses (``monitor.window`` back from the
  newest logged prediction, of ``monitor.version``: by default the live one, the newest
  logged), plus exact counts (:class:`LogStats`); memory stays bounded whatever the log size;
- :func:`read_labels` streams the late labels (true outcomes) of the sampled request ids,
  and :func:`current_frame` joins them to the sample.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from mlops.core.config import SchemaParams
from mlops.monitoring.errors import MonitorError
from mlops.monitoring.summary import finite
from mlops.serving.predlog import log_schema

PROBABILITY = "probability"  # fields of LoggedPrediction the analysis reads by name
PREDICTION = "prediction"
TARGET = "target"  # label column of the analysed frames (schema labels as strings)
NOT_LOGS = ("labels", "history")  # files next to the logs that are not logs
_PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})/model=([^/]+)/")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def log_files(location: str) -> tuple[Any, list[str]]:
    """The filesystem and the JSON-lines files at ``location`` (file, folder or URL), oldest
    partition first; late labels and the monitor's history are not logs."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(location)
    if fs.isdir(path):
        found = fs.find(path.rstrip("/"), detail=True)
        files = sorted(
            name
            for name, info in found.items()
            if info.get("type") == "file"
            and name.endswith((".jsonl", ".jsonl.gz"))
            and not Path(name).name.startswith(NOT_LOGS)
        )
    elif fs.exists(path):
        files = [path]
    else:
        files = []
    return fs, files


def _batches(
    fs: Any, files: list[str], schema: pa.Schema, block_bytes: int
) -> Iterator[pa.RecordBatch]:
    read = pajson.ReadOptions(block_size=block_bytes, use_threads=True)
    parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    for name in files:
        with fs.open(name, "rb", compression="infer") as handle:
            try:
                yield from pajson.open_json(handle, read_options=read, parse_options=parse)
            except pa.ArrowInvalid as exc:
                if "Empty JSON stream" in str(exc):  # an empty file: nothing logged yet
                    continue
                raise MonitorError(
                    f"{name} is not a prediction log in the expected JSON-lines format "
                    f"({exc}). Each line must be one JSON object as the service writes it "
                    "(timestamp, request_id, model_version, features, probability, prediction)."
                ) from None


def window_delta(window: str | None) -> timedelta | None:
    """``monitor.window`` ("7d", "12h", "30m") as a duration; None: the whole log."""
    if window is None:
        return None
    return timedelta(**{_UNITS[window[-1]]: int(window[:-1])})


def _stamps(batch: pa.RecordBatch) -> pa.Array:
    return pc.cast(batch.column("timestamp"), pa.timestamp("us", tz="UTC"))


@dataclass(frozen=True)
class Selection:
    """Which logged predictions are analysed: ``[since, until]`` of ``version`` (None: all)."""

    window: str | None
    since: datetime | None
    until: datetime | None
    version: str | None

    def keeps_file(self, name: str) -> bool:
        """Whether a file may hold selected lines, by its ``date=/model=`` partition (pure)."""
        found = _PARTITION.search(name)
        if found is None:
            return True
        day, version = found.groups()
        if self.version is not None and version != self.version:
            return False
        return self.since is None or day >= self.since.date().isoformat()

    def mask(self, batch: pa.RecordBatch) -> pa.Array:
        """The selected rows of ``batch``."""
        keep = pc.is_valid(batch.column("timestamp"))
        if self.since is not None:
            keep = pc.and_(keep, pc.greater_equal(_stamps(batch), pa.scalar(self.since)))
        if self.version is not None:
            keep = pc.and_(keep, pc.equal(batch.column("model_version"), self.version))
        return pc.fill_null(keep, False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "window": self.window or "all",
            "from": self.since.isoformat() if self.since else None,
            "to": self.until.isoformat() if self.until else None,
            "version": self.version or "all",
        }


def newest(fs: Any, files: list[str], block_bytes: int) -> tuple[datetime | None, str | None]:
    """The newest logged prediction's time and model version: the end of the window and the
    live version. Reads only the newest ``date=`` partition when the store has partitions."""
    days = [found.group(1) for f in files if (found := _PARTITION.search(f))]
    if days and len(days) == len(files):
        files = [f for f in files if f"date={max(days)}/" in f]
    schema = pa.schema([pa.field("timestamp", pa.string()), pa.field("model_version", pa.string())])
    last: datetime | None = None
    version: str | None = None
    for batch in _batches(fs, files, schema, block_bytes):
        if batch.num_rows == 0:
            continue
        stamps = _stamps(batch)
        high = pc.max(stamps)
        if high.is_valid and (last is None or high.as_py() >= last):
            last = high.as_py()
            version = batch.column("model_version")[pc.index(stamps, high).as_py()].as_py()
    return last, version


def select(
    fs: Any, files: list[str], window: str | None, version: str, block_bytes: int
) -> Selection:
    """The :class:`Selection` of ``monitor.window`` and ``monitor.version`` on this log."""
    delta = window_delta(window)
    last, live = newest(fs, files, block_bytes) if delta or version == "live" else (None, None)
    chosen = {"live": live, "all": None}.get(version, version)
    since = last - delta if delta is not None and last is not None else None
    return Selection(window, since, last, chosen)


@dataclass
class LogStats:
    """Exact counts over the whole log (the sample only feeds the distributions)."""

    files: int = 0
    rows: int = 0
    first: str | None = None
    last: str | None = None
    versions: Counter[str] = field(default_factory=Counter)
    predictions: Counter[str] = field(default_factory=Counter)
    unknown_rows: int = 0
    probability_sum: float = 0.0
    last_version: str | None = None
    read: int = 0  # every row read, selected or not
    outside: Counter[str] = field(default_factory=Counter)  # rows not selected, by version
    selection: Selection | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "rows": self.rows,
            "from": self.first,
            "to": self.last,
            "model_versions": dict(self.versions.most_common()),
            "live_model_version": self.last_version,
            "predictions": dict(self.predictions.most_common()),
            "rows_with_unknown_categories": self.unknown_rows,
            "mean_probability": finite(self.probability_sum / self.rows) if self.rows else None,
            "rows_read": self.read,
            "not_selected": dict(self.outside.most_common()),
            "selection": self.selection.as_dict() if self.selection else None,
        }

    def update(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        stamps = batch.column("timestamp")
        low, high = pc.min_max(stamps).values()
        if low.is_valid and (self.first is None or low.as_py() < self.first):
            self.first = low.as_py()
        if high.is_valid and (self.last is None or high.as_py() >= self.last):
            self.last = high.as_py()
            index = pc.index(stamps, high).as_py()
            self.last_version = batch.column("model_version")[index].as_py()
        for column, counter in (("model_version", self.versions), (PREDICTION, self.predictions)):
            for item in pc.value_counts(batch.column(column)).to_pylist():
                counter[str(item["values"])] += item["counts"]
        lengths = pc.list_value_length(batch.column("unknown_categories"))
        self.unknown_rows += int(pc.sum(pc.greater(lengths, 0)).as_py() or 0)
        self.probability_sum += float(pc.sum(batch.column(PROBABILITY)).as_py() or 0.0)


class _Reservoir:
    """A uniform sample of at most ``size`` rows: every row gets a random priority and the
    ``size`` smallest are kept, so memory is one block plus the sample."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size = size
        self.rng = rng
        self.kept: pa.Table | None = None
        self.keys = np.empty(0)

    def add(self, batch: pa.RecordBatch) -> None:
        keys = self.rng.random(batch.num_rows)
        table = pa.Table.from_batches([batch])
        if self.kept is None:
            self.kept, self.keys = table, keys
        else:
            if len(self.keys) >= self.size:  # only rows that beat the current worst key can enter
                enter = keys < self.keys.max()
                if not enter.any():
                    return
                table, keys = table.filter(pa.array(enter)), keys[enter]
            self.kept = pa.concat_tables([self.kept, table])
            self.keys = np.concatenate([self.keys, keys])
        if len(self.keys) > self.size:
            best = np.argpartition(self.keys, self.size - 1)[: self.size]
            self.kept, self.keys = self.kept.take(pa.array(best)), self.keys[best]


def sample_log(
    location: str,
    schema: SchemaParams,
    rows: int,
    seed: int = 0,
    block_bytes: int = 32 << 20,
    progress: Callable[[int], None] | None = None,
    window: str | None = None,
    version: str = "all",
) -> tuple[pd.DataFrame, LogStats]:
    """A uniform sample of at most ``rows`` logged predictions of the window and version
    (:func:`select`), and exact counts of the selected rows (and of those left out).

    Streams the log block by block into a reservoir sample, so memory is one block plus the
    sample; ``progress`` hears the number of rows read after each block.
    """
    fs, files = log_files(location)
    if not files:
        raise MonitorError(
            f"no prediction log found at {location!r} (expected a .jsonl file or a folder of "
            "*.jsonl files). Serve the model and send traffic (`make replay`), or set "
            "monitor.logs in params.yaml to where the service writes serve.prediction_log."
        )
    chosen = select(fs, files, window, version, block_bytes)
    files = [f for f in files if chosen.keeps_file(f)]
    reservoir = _Reservoir(rows, np.random.default_rng(seed))
    stats = LogStats(files=len(files), selection=chosen)
    for batch in _batches(fs, files, log_schema(schema), block_bytes):
        stats.read += batch.num_rows
        keep = chosen.mask(batch)
        left_out = batch.filter(pc.invert(keep)).column("model_version")
        for item in pc.value_counts(left_out).to_pylist():
            stats.outside[str(item["values"])] += item["counts"]
        batch = batch.filter(keep)
        if batch.num_rows == 0:
            continue
        stats.update(batch)
        reservoir.add(batch)
        if progress:
            progress(stats.read)
    if stats.read == 0:
        raise MonitorError(f"the prediction log at {location!r} is empty: no prediction yet")
    if reservoir.kept is None:
        seen = ", ".join(stats.outside) or "none"
        raise MonitorError(
            f"no logged prediction at {location!r} is selected ({chosen.as_dict()}; versions "
            f"logged: {seen}): check monitor.window and monitor.version (or --version)"
        )
    return _sample_frame(reservoir.kept, schema, location), stats


def _sample_frame(kept: pa.Table, schema: SchemaParams, location: str) -> pd.DataFrame:
    """The sampled rows as a flat frame: one column per feature, no nested ``features.``."""
    frame = kept.flatten().combine_chunks().to_pandas()
    frame.columns = [c.removeprefix("features.") for c in frame.columns]
    frame = frame.drop(columns=["unknown_categories"])
    missing = [n for n in schema.feature_names if frame[n].isna().all()]
    if missing and len(missing) == len(schema.feature_names):
        raise MonitorError(
            f"the log at {location!r} has none of the features of schema.features "
            f"({', '.join(schema.feature_names)}): is it this model's prediction log?"
        )
    return frame.reset_index(drop=True)


def read_labels(
    location: str | None, key: str, target: str, ids: pd.Series, block_bytes: int = 32 << 20
) -> pd.Series:
    """Late labels (0/1) for the request ids in ``ids``, streamed; empty when none exist."""
    empty = pd.Series(dtype="float64", name=target)
    if not location:
        return empty
    fs, files = log_files(location)
    if not files:
        return empty
    wanted = pa.array(ids.dropna().astype(str).unique())
    schema = pa.schema([pa.field(key, pa.string()), pa.field(target, pa.float64())])
    parts: list[pa.Table] = []
    for batch in _batches(fs, files, schema, block_bytes):
        table = pa.Table.from_batches([batch])
        parts.append(table.filter(pc.is_in(table.column(key), value_set=wanted)))
    if not parts:
        return empty
    labels = pa.concat_tables(parts).to_pandas().dropna()
    bad = labels[~labels[target].isin([0.0, 1.0])]
    if len(bad):
        raise MonitorError(
            f"labels at {location!r}: '{target}' must be 0 or 1, got {bad[target].iloc[0]!r} "
            f"for {key} {bad[key].iloc[0]!r}"
        )
    return labels.drop_duplicates(key, keep="last").set_index(key)[target]


def current_frame(
    sample: pd.DataFrame, labels: pd.Series, schema: SchemaParams, key: str
) -> pd.DataFrame:
    """The sampled log with the late labels joined (``target`` as label strings)."""
    frame = sample.copy()
    if len(labels):
        joined = frame[key].astype(str).map(labels)
        frame[TARGET] = np.where(
            joined.isna(),
            None,
            np.where(joined == 1, schema.positive_label, schema.negative_label),
        )
    return frame
