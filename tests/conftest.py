"""Shared fixtures. Fast, synthetic fixtures by default; the real default data where a test
is about the real data (tests/data, tests/model), and a `slow` marker on what runs the
pipeline or trains on the full data."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops.core.config import Params, load_params, parse_params
from mlops.yours import dataset
from tests.shards import SETUP_PROPERTY, xdist_group

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_REASON = (
    "a fact of the embedded default data (NYC flights 2013), and data.dvc pins other data; "
    "{instead}"
)
FORK_INSTEAD = "write the same kind of check for your data in tests/data/ (see docs/adapting.md)"


def pinned_data_md5(dvc_file: Path = ROOT / "data.dvc") -> str | None:
    """The hash data.dvc records for the raw data."""
    outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
    return outs[0].get("md5")


def is_default_data() -> bool:
    """Whether this repository holds the embedded default data: data.dvc pins the hash
    that src/mlops/yours/dataset.py records for its embedded copy (a fork's module records
    none)."""
    embedded = getattr(dataset, "EMBEDDED_DATA_MD5", None)
    return embedded is not None and embedded == pinned_data_md5()


# The variables a GitHub Actions job sets (pr.yml's test shards run inside one). Tests run as
# on a laptop: with GITHUB_ACTIONS=true `gh` (and our shim of it, as GitHub does) refuses to
# run without a token, and GITHUB_OUTPUT / GITHUB_STEP_SUMMARY would collect what the code
# under test writes for its own job. A test about behaviour in a workflow sets its own.
RUNNER_VARIABLES = ("GITHUB_", "RUNNER_", "ACTIONS_")


def pytest_configure(config: pytest.Config) -> None:
    for name in [n for n in os.environ if n.startswith(RUNNER_VARIABLES)]:
        del os.environ[name]
    os.environ.pop("GH_TOKEN", None)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (its hook is plain)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep each act workflow file on one pytest-xdist worker (`--dist loadgroup`: it shares
    one pipeline run per process, tests/workflows/act.py; the shard split counts on it,
    tests/shards.py); skip the tests marked
    ``default_data`` on other data, saying what to write instead
    (``@pytest.mark.default_data("what a fork writes instead")``)."""
    for item in items:
        if (group := xdist_group(item.path.name)) is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    if is_default_data():
        return
    for item in items:
        marker = item.get_closest_marker("default_data")
        if marker is not None:
            instead = marker.args[0] if marker.args else FORK_INSTEAD
            item.add_marker(pytest.mark.skip(reason=DEFAULT_DATA_REASON.format(instead=instead)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Record each test's setup phase (where its module fixtures ran) in its JUnit report:
    `make test-durations` books a split file's fixture to every shard that runs some of it
    (tests/shards.py)."""
    report = yield
    if call.when == "setup":
        item.user_properties.append((SETUP_PROPERTY, round(call.duration, 2)))
    return report


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(ROOT / "params.yaml")


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied; nested mappings merge key by key."""
    result = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            result[key] = merged(base[key], value)
        else:
            result[key] = value
    return result


def params_with(changes: dict[str, Any], path: Path = ROOT / "params.yaml") -> Params:
    """``params.yaml`` with ``changes`` merged in (nested mappings merge key by key), read by
    the one typed loader: settings have no defaults in code, so a test varies the file's."""
    raw = yaml.safe_load(path.read_text())
    return parse_params(merged(raw, changes), source=f"{path.name} + {changes}")


@pytest.fixture(scope="session")
def real_raw_dir(params: Params) -> Path:
    """The default raw data in the repository's data/ folder, fetched and verified if needed."""
    from mlops.pipeline.fetch import fetch

    raw = ROOT / params.paths.raw
    fetch(raw, ROOT / "data.dvc")
    return raw


@pytest.fixture(scope="session")
def real_table(real_raw_dir: Path) -> pd.DataFrame:
    return dataset.load_table(real_raw_dir)


def make_table(params: Params, rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    """A synthetic modelling table built only from ``params.yaml``: every feature of
    ``schema.features`` inside its declared type, range and allowed values (no missing values;
    tests add them), the 0/1 target with a learnable signal (the first two numeric features,
    :func:`signal_features`, and weakly the first category; about a quarter positives), and
    the time column spread over the training, test and production windows of ``prepare``.
    The same on a fork's schema."""
    rng = np.random.default_rng(seed)
    schema = params.schema
    columns: dict[str, object] = {}
    signal = rng.normal(0, 1, rows)
    weights = dict(zip(signal_features(params), [2.0, 1.5], strict=False))
    category_effect = False
    for name, spec in schema.features.items():
        if spec.type == "category":
            values = spec.values or [f"{name}_{i}" for i in range(5)]
            index = rng.integers(0, len(values), rows)
            columns[name] = np.asarray(values, dtype=object)[index]
            if not category_effect:  # the first category: every other value is riskier
                signal += np.where(index % 2 == 0, 0.25, -0.25)
                category_effect = True
        else:
            low = spec.min if spec.min is not None else 0.0
            high = spec.max if spec.max is not None else 100.0
            if spec.type == "int":
                draw = rng.integers(int(np.ceil(low)), int(np.floor(high)) + 1, rows)
            else:
                draw = rng.uniform(low, high, rows)
            columns[name] = draw
            if name in weights and high > low:
                signal += weights[name] * (2 * (draw - low) / (high - low) - 1)
    table = pd.DataFrame(columns)
    prepare = params.prepare
    start = pd.Timestamp(prepare.train_start)
    production = pd.Timestamp(prepare.production_start)
    end = production + (production - pd.Timestamp(prepare.test_start))
    seconds = rng.uniform(0, (end - start).total_seconds(), rows)
    table[schema.time] = start + pd.to_timedelta(seconds, unit="s")
    table[schema.target] = pd.array(signal > np.quantile(signal, 0.75), dtype="Int8")
    return table


def signal_features(params: Params) -> list[str]:
    """The features that carry most of :func:`make_table`'s signal: the first two numeric."""
    return params.schema.numeric[:2]


def shifted_features(params: Params) -> list[str]:
    """What a season change moves in the monitor tests: a third of the features (at least
    the default drift share), all numeric with a declared range; those without signal first,
    floats before ints."""
    schema = params.schema
    bounded = [
        n
        for n in schema.numeric
        if schema.features[n].min is not None and schema.features[n].max is not None
    ]
    signal = signal_features(params)
    order = sorted(
        bounded, key=lambda n: (n in signal, schema.features[n].type != "float", bounded.index(n))
    )
    return order[: -(-len(schema.features) // 3)]


def shift_features(table: pd.DataFrame, params: Params, names: list[str], share: float) -> None:
    """Move ``names`` in ``table`` by ``share`` of their declared range, kept in range."""
    for name in names:
        spec = params.schema.features[name]
        moved = (table[name] + share * (spec.max - spec.min)).clip(spec.min, spec.max)
        table[name] = moved.round().astype(int) if spec.type == "int" else moved


def service_fields(params: Params) -> SimpleNamespace:
    """The schema's columns by the part they play in the service's bad-input tests (on the
    default: hour, temp, distance, carrier, origin): ``int_`` (an int with a max), ``nan``
    (a float, nullable first), ``float_`` (a float, required first), ``category`` (a
    required category with values) and ``other`` (another category)."""
    specs = params.schema.features

    def first(*tests: Callable[[Any], bool], other_than: str | None = None) -> str:
        for test in tests:
            for name, spec in specs.items():
                if name != other_than and test(spec):
                    return name
        return next(iter(specs))

    category = first(
        lambda s: s.type == "category" and s.values and not s.nullable,
        lambda s: s.type == "category" and not s.nullable,
    )
    return SimpleNamespace(
        int_=first(lambda s: s.type == "int" and s.max is not None, lambda s: s.max is not None),
        nan=first(lambda s: s.type == "float" and s.nullable, lambda s: s.type == "float"),
        float_=first(lambda s: s.type == "float" and not s.nullable, lambda s: s.type == "float"),
        category=category,
        other=first(lambda s: s.type == "category", other_than=category),
    )


def feature(params: Params, kind: str, *, other_than: tuple[str, ...] = ()) -> str:
    """The first feature of the schema of a kind a test needs, so code tests name no column
    of the default data: ``category``, ``closed category`` (with allowed ``values``), ``open
    category`` (no ``values``), ``numeric``, ``bounded`` (numeric with a ``max``),
    ``limited missing`` (nullable with ``0 < max_missing < 0.5``), ``required`` (not
    nullable; ``required int``/``float``/``category`` of that type), ``nullable``. Skips
    the test when the schema has no such feature."""
    kinds = {
        "category": lambda s: s.type == "category",
        "closed category": lambda s: s.type == "category" and bool(s.values),
        "open category": lambda s: s.type == "category" and not s.values,
        "numeric": lambda s: s.type != "category",
        "bounded": lambda s: s.type != "category" and s.max is not None,
        "limited missing": lambda s: s.nullable and 0 < s.max_missing < 0.5,
        "required": lambda s: not s.nullable,
        "required int": lambda s: s.type == "int" and not s.nullable,
        "required float": lambda s: s.type == "float" and not s.nullable,
        "required category": lambda s: s.type == "category" and not s.nullable,
        "nullable": lambda s: s.nullable,
    }
    for name, spec in params.schema.features.items():
        if name not in other_than and kinds[kind](spec):
            return name
    pytest.skip(f"schema.features in params.yaml has no {kind} feature for this test")


@pytest.fixture
def table_factory(params: Params) -> Callable[..., pd.DataFrame]:
    return lambda **kwargs: make_table(params, **kwargs)


def write_sample_raw(source: Path, target: Path, flights_per_month: int, seed: int = 0) -> None:
    """Write a small but real raw data set. On the default data: a few flights from every
    month, all weather. On other data (a fork): the raw files as they are; a fork whose data
    is too big for a quick pipeline run writes its own sampler here."""
    target.mkdir(parents=True, exist_ok=True)
    if not is_default_data():
        for path in dataset.raw_files(source):
            shutil.copyfile(path, target / path.name)
        return
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
