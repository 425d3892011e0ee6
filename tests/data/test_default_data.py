"""Facts of the real default data (NYC flights 2013), as the pipeline sees it.

Marked default_data: skipped when data.dvc pins other data. What holds for any data set is
in test_real_data.py; a fork writes its own facts (row counts, the target's definition, the
drift it expects) in a file like this one.
"""

import pandas as pd
import pytest

from mlops.pipeline.prepare import split
from mlops.pipeline.validate import validate

pytestmark = pytest.mark.default_data
LEAKS = {"dep_delay", "dep_time", "arr_time", "air_time", "arr_delay"}  # known after departure
IDENTIFIERS = {"tailnum", "flight"}  # the aircraft, the flight number


@pytest.fixture(scope="module")
def validated(real_table, params):
    return validate(real_table, params.schema, params.validation)


def test_default_data_passes_validation(validated):
    labelled, summary = validated
    assert summary["rows"] == 336_776  # every 2013 departure from EWR, JFK and LGA
    assert summary["unlabelled_rows"] == 9_430  # cancelled or diverted: no arrival delay
    assert len(labelled) == 327_346
    assert 0.2 < summary["target_rate"] < 0.3


def test_the_outcome_columns_are_forbidden(real_raw_dir, params):
    """The generic leak rule (``schema.forbidden``, enforced by validate and
    test_real_data.py) lists every flights column known only after departure and the
    identifiers, all of them real columns of the raw file."""
    columns = set(pd.read_csv(real_raw_dir / "flights.csv.zip", nrows=1).columns)
    assert set(params.schema.forbidden) == LEAKS | IDENTIFIERS
    assert columns >= LEAKS | IDENTIFIERS


def test_target_matches_its_definition(real_raw_dir, real_table):
    flights = pd.read_csv(real_raw_dir / "flights.csv.zip", usecols=["arr_delay"])
    known = flights["arr_delay"].notna()
    assert real_table["delayed"].isna().sum() == (~known).sum()
    expected = (flights.loc[known, "arr_delay"] > 15).astype(int).to_numpy()
    assert (real_table.loc[known, "delayed"].to_numpy() == expected).all()


def test_weather_is_joined_for_almost_every_flight(real_table):
    assert real_table["humid"].notna().mean() > 0.99


def test_every_month_is_present(real_table, params):
    months = real_table[params.schema.time].dt.month
    assert sorted(months.unique()) == list(range(1, 13))


def test_time_windows_hold_both_classes(validated, params):
    parts = split(validated[0], params.schema, params.prepare)
    for name, part in parts.items():
        assert len(part) > 40_000, name
        assert 0.1 < part["delayed"].mean() < 0.4, name


def test_production_window_drifts_from_training(validated, params):
    """The monitoring part relies on real seasonal drift between the windows."""
    parts = split(validated[0], params.schema, params.prepare)
    train, production = parts["train"], parts["production"]
    assert production["temp"].mean() < train["temp"].mean() - 10  # Nov-Dec vs Jan-Aug
