"""FIXME::REQUIRED: everything specific to the data set lives in this module.

A second example fork's version of ``src/mlops/yours/dataset.py`` (used by ``tests/adapt``):
hourly air-quality readings of two city stations over 2021-2022, one CSV file per station.
The task: predict whether the particulate level of the next hour is above the city's limit.

It differs from the default and from the churn example where a test could have assumed
something: the first feature is a required int, the timestamps are hourly, most features
are floats, the classes are balanced and the years are others.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from mlops.core.errors import DataFetchError
from mlops.pipeline.schema import check_frame, read_raw_csv

STATIONS = ["north", "harbour"]
PM25_LIMIT = 25.0  # µg/m³ in the next hour above which the air counts as polluted

# Each station file's columns, checked before anything else so a broken file is reported
# by file and column.
RAW_SCHEMA = pa.DataFrameSchema(
    {
        "time": pa.Column(str),
        "vehicles": pa.Column(int, pa.Check.ge(0)),
        "temperature_c": pa.Column(float),
        "humidity_pct": pa.Column(float, nullable=True),  # missing = sensor off
        "wind_ms": pa.Column(float),
        "pm25_next_hour": pa.Column(float, nullable=True),  # missing = not measured yet
    },
    coerce=True,
)
RAW_HINT = "Fix the station file (`make data` restores the version data.dvc pins)."


def raw_files(raw_dir: Path) -> list[Path]:
    """The raw files the pipeline reads, in the order they are loaded."""
    return [raw_dir / f"{station}.csv" for station in STATIONS]


def load_table(raw_dir: Path) -> pd.DataFrame:
    """One row per station and hour: the features, ``polluted`` (1, 0, or missing while
    the next hour was not measured) and the hour of the reading."""
    tables = []
    for station, path in zip(STATIONS, raw_files(raw_dir), strict=True):
        raw = check_frame(read_raw_csv(path), RAW_SCHEMA, str(path), RAW_HINT)
        at = pd.to_datetime(raw["time"])
        pm25 = raw["pm25_next_hour"]
        tables.append(
            pd.DataFrame(
                {
                    "vehicles": raw["vehicles"],
                    "temperature_c": raw["temperature_c"],
                    "humidity_pct": raw["humidity_pct"],
                    "wind_ms": raw["wind_ms"],
                    "hour_of_day": at.dt.hour,
                    "station": station,
                    "measured_at": at,
                    "polluted": pd.array((pm25 > PM25_LIMIT).where(pm25.notna()), dtype="Int8"),
                }
            )
        )
    return pd.concat(tables, ignore_index=True)


def materialize_embedded(raw_dir: Path) -> list[Path]:
    """No embedded copy: the data lives in the fork's DVC remote."""
    raise DataFetchError(
        "no embedded copy of the station files: configure the DVC remote that holds them "
        "(docs/data-remotes.md) and run `make data` again"
    )
