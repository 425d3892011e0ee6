"""Shared fixtures. Fast, synthetic fixtures by default; the real default data where a test
is about the real data (tests/data, tests/model), and a `slow` marker on what runs the
pipeline or trains on the full data."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops import dataset
from mlops.params import Params, load_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def real_raw_dir(params: Params) -> Path:
    """The default raw data in the repository's data/ folder, fetched and verified if needed."""
    from mlops.fetch import fetch

    raw = ROOT / params.paths.raw
    fetch(raw, ROOT / "data.dvc")
    return raw


@pytest.fixture(scope="session")
def real_table(real_raw_dir: Path) -> pd.DataFrame:
    return dataset.load_table(real_raw_dir)


def make_table(params: Params, rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    """A synthetic modelling table that satisfies the schema, with a learnable signal
    (late hours and rain make delays likelier), spread over the whole year."""
    rng = np.random.default_rng(seed)
    schema = params.schema
    columns: dict[str, object] = {}
    for name, spec in schema.features.items():
        if spec.type == "category":
            values = spec.values or [f"{name}_{i}" for i in range(5)]
            columns[name] = rng.choice(values, rows)
        else:
            low = spec.min if spec.min is not None else 0.0
            high = spec.max if spec.max is not None else 100.0
            draw = rng.uniform(low, high, rows)
            columns[name] = draw.round().astype(int) if spec.type == "int" else draw
    table = pd.DataFrame(columns)
    table["precip"] = rng.exponential(0.02, rows).clip(0, 1)
    start = pd.Timestamp("2013-01-01")
    table[schema.time] = start + pd.to_timedelta(rng.uniform(0, 364, rows), unit="D")
    signal = 0.15 * (table["hour"] - 12) + 8 * table["precip"] + rng.normal(0, 1, rows)
    table[schema.target] = (signal > 0.8).astype("Int8")
    return table


@pytest.fixture
def table_factory(params: Params) -> Callable[..., pd.DataFrame]:
    return lambda **kwargs: make_table(params, **kwargs)


def write_sample_raw(source: Path, target: Path, flights_per_month: int, seed: int = 0) -> None:
    """Write a small but real raw data set: a few flights from every month, all weather."""
    target.mkdir(parents=True, exist_ok=True)
    flights = pd.read_csv(source / dataset.FLIGHTS, low_memory=False)
    sample = flights.groupby("month", group_keys=False).sample(
        n=flights_per_month, random_state=seed
    )
    sample.sort_index().to_csv(
        target / dataset.FLIGHTS,
        index=False,
        compression={"method": "zip", "archive_name": "flights.csv"},
    )
    shutil.copyfile(source / dataset.WEATHER, target / dataset.WEATHER)
