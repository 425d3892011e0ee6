"""Ways a raw file goes wrong, each with what the error must say. Shared by the data tests
(on the loader) and the pipeline tests (through `dvc repro`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from mlops import dataset

ZIP = {"method": "zip", "archive_name": "flights.csv"}


def _rewrite_flights(raw: Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    path = raw / dataset.FLIGHTS
    change(pd.read_csv(path, low_memory=False)).to_csv(path, index=False, compression=ZIP)


def missing_column(raw: Path) -> None:
    _rewrite_flights(raw, lambda f: f.drop(columns=["carrier"]))


def wrong_dtype(raw: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f["distance"] = f["distance"].astype(object)
        f.loc[f.index[:7], "distance"] = "far"
        return f

    _rewrite_flights(raw, change)


def empty_file(raw: Path) -> None:
    (raw / dataset.WEATHER).write_text("")


def all_nan_target(raw: Path) -> None:
    _rewrite_flights(raw, lambda f: f.assign(arr_delay=float("nan")))


def unknown_carrier(raw: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[f.index[:4], "carrier"] = "ZZ"
        return f

    _rewrite_flights(raw, change)


# corruption -> fragments the error message must contain (what, where, how many)
CASES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "missing column": (missing_column, [dataset.FLIGHTS, "column 'carrier'", "must be present"]),
    "wrong dtype": (wrong_dtype, [dataset.FLIGHTS, "column 'distance'", "7 rows", "'far'"]),
    "empty file": (empty_file, [dataset.WEATHER, "is empty"]),
    "all-NaN target": (all_nan_target, ["column 'delayed'", "unlabelled (found 100.0%)"]),
    "unknown carrier": (unknown_carrier, ["column 'carrier'", "isin", "4 rows", "'ZZ'"]),
}
