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
