"""Ways a raw file goes wrong, each with what the error must say. Shared by the data tests
(on the loader) and the pipeline tests (through `dvc repro`).

Generic cases work on any data set's ``dataset.raw_files()``: a fork's loader must explain
them as well. Cases that break a column of the flights file are marked ``default_data``;
a fork adds its own column cases here. In the fragments, ``{first}`` and ``{last}`` stand for
the names of the first and last raw file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from mlops.yours import dataset

# The default data's raw files, spelled here (not read from `dataset` at import) so that a
# fork's dataset module without these names still collects.
FLIGHTS = "flights.csv.zip"
WEATHER = "weather.csv"
ZIP = {"method": "zip", "archive_name": "flights.csv"}
DEFAULT_ONLY = pytest.mark.default_data(
    "it breaks a column of the flights file; add cases that break your raw files' columns "
    "to tests/bad_inputs.py"
)


def _first(raw: Path) -> Path:
    return dataset.raw_files(raw)[0]


def _last(raw: Path) -> Path:
    return dataset.raw_files(raw)[-1]


# --------------------------------------------------------------------------- any data set
def empty_file(raw: Path) -> None:
    _last(raw).write_text("")


def missing_file(raw: Path) -> None:
    _last(raw).unlink()


def binary_garbage(raw: Path) -> None:
    """A file that is no CSV at all (a half-written download, the wrong file)."""
    _first(raw).write_bytes(b"\x89\xff\xfe\x00\x93 not a table \x80\x81\n" * 8)


# --------------------------------------------------------------------------- the flights file
def _rewrite_flights(raw: Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    path = raw / FLIGHTS
    change(pd.read_csv(path, low_memory=False)).to_csv(path, index=False, compression=ZIP)


def missing_column(raw: Path) -> None:
    _rewrite_flights(raw, lambda f: f.drop(columns=["carrier"]))


def wrong_dtype(raw: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f["distance"] = f["distance"].astype(object)
        f.loc[f.index[:7], "distance"] = "far"
        return f

    _rewrite_flights(raw, change)


def all_nan_target(raw: Path) -> None:
    _rewrite_flights(raw, lambda f: f.assign(arr_delay=float("nan")))


def unknown_carrier(raw: Path) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[f.index[:4], "carrier"] = "ZZ"
        return f

    _rewrite_flights(raw, change)


# --------------------------------------------------------------------------- the weather file
def drop_weather_rows(raw: Path, share: float = 0.1) -> None:
    """A partial weather export: every 1/share-th row is lost. The file still loads and joins;
    the flights at those hours have no weather, so `validate` finds each weather column over
    its missing-value limit (used by the pull-request workflow test, not in CASES)."""
    path = raw / WEATHER
    weather = pd.read_csv(path, low_memory=False)
    weather.drop(index=weather.index[:: round(1 / share)]).to_csv(path, index=False)


# corruption -> fragments the error message must contain (what, where, how many)
CASES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "empty file": (empty_file, ["{last}", "is empty"]),
    "missing file": (missing_file, ["{last}", "is missing", "make data"]),
    "binary garbage": (binary_garbage, ["{first}", "is not a readable CSV file"]),
    "missing column": (missing_column, [FLIGHTS, "column 'carrier'", "must be present"]),
    "wrong dtype": (wrong_dtype, [FLIGHTS, "column 'distance'", "7 rows", "'far'"]),
    "all-NaN target": (all_nan_target, ["column 'delayed'", "unlabelled (found 100.0%)"]),
    "unknown carrier": (unknown_carrier, ["column 'carrier'", "isin", "4 rows", "'ZZ'"]),
}
GENERIC = {"empty file", "missing file", "binary garbage"}


def case_params(names: list[str] | None = None) -> list:
    """``CASES`` (or the named ones) as pytest parameters, the flights cases marked."""
    return [
        pytest.param(name, id=name, marks=() if name in GENERIC else DEFAULT_ONLY)
        for name in sorted(names or CASES)
    ]


def fragments(case: str, raw: Path) -> list[str]:
    """What the error for ``case`` must say, with the raw files' names filled in."""
    names = {"first": _first(raw).name, "last": _last(raw).name}
    return [fragment.format(**names) for fragment in CASES[case][1]]
