import pandas as pd
import pytest

from mlops.pipeline.prepare import SplitError, split


def test_windows_are_disjoint_ordered_and_complete(params, table_factory):
    table = table_factory(rows=3000)
    parts = split(table, params.schema, params.prepare)
    time = params.schema.time
    assert sum(len(p) for p in parts.values()) == len(table)
    assert parts["train"][time].max() < pd.Timestamp(params.prepare.test_start)
    assert parts["test"][time].min() >= pd.Timestamp(params.prepare.test_start)
    assert parts["test"][time].max() < pd.Timestamp(params.prepare.production_start)
    assert parts["production"][time].min() >= pd.Timestamp(params.prepare.production_start)
    for part in parts.values():
        assert part[time].is_monotonic_increasing


def test_empty_test_window_is_explained(params, table_factory):
    table = table_factory()
    early = table[table[params.schema.time] < pd.Timestamp(params.prepare.test_start)]
    with pytest.raises(SplitError, match=r"test window is empty.*params\.yaml"):
        split(early, params.schema, params.prepare)


def test_production_window_may_be_empty(params, table_factory):
    table = table_factory()
    before = table[table[params.schema.time] < pd.Timestamp(params.prepare.production_start)]
    parts = split(before, params.schema, params.prepare)
    assert parts["production"].empty
    assert not parts["test"].empty


def _on_boundaries(params, table_factory) -> tuple[pd.DataFrame, dict[str, pd.Timestamp]]:
    """A table with one row timestamped exactly on each split date of params.yaml."""
    prepare, time = params.prepare, params.schema.time
    dates = {
        name: pd.Timestamp(getattr(prepare, name))
        for name in ("train_start", "test_start", "production_start")
    }
    table = table_factory(rows=600)
    edges = table.head(len(dates)).copy()
    edges[time] = list(dates.values())
    return pd.concat([table, edges], ignore_index=True), dates


def test_a_row_on_a_split_date_starts_that_window_and_is_in_no_other(params, table_factory):
    table, dates = _on_boundaries(params, table_factory)
    time = params.schema.time
    parts = split(table, params.schema, params.prepare)
    first = {"train": "train_start", "test": "test_start", "production": "production_start"}
    for window, date in first.items():
        on_date = parts[window][time] == dates[date]
        assert on_date.sum() == 1, f"the row on {date} is not in the {window} window"
        assert parts[window][time].min() == dates[date]
    for window, end in {"train": "test_start", "test": "production_start"}.items():
        assert parts[window][time].max() < dates[end], f"{window} holds the row on {end}"
    assert sum(len(p) for p in parts.values()) == len(table)


def test_a_row_before_train_start_is_in_no_window(params, table_factory):
    table = table_factory(rows=600)
    time = params.schema.time
    early = table.head(1).copy()
    early[time] = pd.Timestamp(params.prepare.train_start) - pd.Timedelta(seconds=1)
    parts = split(pd.concat([table, early], ignore_index=True), params.schema, params.prepare)
    assert sum(len(p) for p in parts.values()) == len(table)


def test_windows_keep_the_columns_a_fresh_index_and_the_order_of_equal_times(params, table_factory):
    """Rows of one timestamp stay in the order they came in (a stable sort: a re-run writes
    the same files), and each window has a fresh 0..n-1 index and no added column."""
    time = params.schema.time
    table = table_factory(rows=1500).iloc[::-1]  # an index that is not 0..n-1
    tied = table[time] >= pd.Timestamp(params.prepare.production_start)
    table.loc[tied, time] = pd.Timestamp(params.prepare.production_start)
    parts = split(table, params.schema, params.prepare)
    assert list(parts["production"].index) == list(range(len(parts["production"])))
    assert list(parts["production"].columns) == list(table.columns)
    expected = table[tied].reset_index(drop=True)
    assert len(expected) > 100  # enough ties for an unstable sort to reorder them
    pd.testing.assert_frame_equal(parts["production"], expected)
