"""Stage ``prepare``: split the validated table by time.

``[train_start, test_start)`` trains the model, ``[test_start, production_start)`` tests it,
and everything from ``production_start`` on is held back as "production" data that the
monitoring part replays against the service. A time split, not a random one: the model is
judged on months it has never seen, as it will be in production.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlops.core.config import PrepareParams, SchemaParams
from mlops.core.errors import UserError


class SplitError(UserError, ValueError):
    """A time window is empty: the dates in params.yaml do not match the data."""


def split(
    table: pd.DataFrame, schema: SchemaParams, windows: PrepareParams
) -> dict[str, pd.DataFrame]:
    """Split ``table`` into the train, test and production windows (sorted by time)."""
    time = table[schema.time]
    bounds = [pd.Timestamp(d) for d in (windows.train_start, windows.test_start)]
    production_start = pd.Timestamp(windows.production_start)
    masks = {
        "train": (time >= bounds[0]) & (time < bounds[1]),
        "test": (time >= bounds[1]) & (time < production_start),
        "production": time >= production_start,
    }
    parts = {
        name: table[mask].sort_values(schema.time, kind="stable").reset_index(drop=True)
        for name, mask in masks.items()
    }
    for name in ("train", "test"):
        if parts[name].empty:
            raise SplitError(
                f"the {name} window is empty: the data covers {time.min()} .. {time.max()}, "
                f"but prepare.train_start/test_start/production_start in params.yaml are "
                f"{windows.train_start} / {windows.test_start} / {windows.production_start}"
            )
    return parts


def main(dataset: Path, out_dir: Path, schema: SchemaParams, windows: PrepareParams) -> None:
    table = pd.read_parquet(dataset)
    parts = split(table, schema, windows)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        part.to_parquet(out_dir / f"{name}.parquet", index=False)
    counts = ", ".join(f"{name} {len(part):,}" for name, part in parts.items())
    print(f"prepare: {counts} rows -> {out_dir}")
