"""The schema built from params.yaml, and the validate stage's pure core."""

import numpy as np
import pandas as pd
import pytest

from mlops.errors import DataValidationError
from mlops.validate import validate
from mlops.validation import feature_schema, table_schema


def failures_of(excinfo) -> dict[str, list]:
    found: dict[str, list] = {}
    for failure in excinfo.value.failures:
        found.setdefault(failure.column, []).append(failure)
    return found


def test_valid_table_passes_and_drops_unlabelled(params, table_factory):
    table = table_factory(rows=3000)
    table.loc[:9, "delayed"] = pd.NA
    labelled, summary = validate(table, params.schema, params.validation)
    assert len(labelled) == 2990
    assert summary["unlabelled_rows"] == 10
    assert labelled["delayed"].dtype == np.int8
    assert 0 < summary["target_rate"] < 1


def test_extra_columns_are_dropped(params, table_factory):
    table = table_factory().assign(leaky_arr_delay=1.0)
    labelled, _ = validate(table, params.schema, params.validation)
    assert "leaky_arr_delay" not in labelled.columns


def test_unknown_category_names_column_rule_and_rows(params, table_factory):
    table = table_factory()
    table.loc[:4, "carrier"] = "ZZ"
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    (failure,) = failures_of(excinfo)["carrier"]
    assert failure.rows == 5
    assert "isin" in failure.rule
    assert "'ZZ'" in failure.examples
    assert "column 'carrier'" in str(excinfo.value)
    assert "5 rows" in str(excinfo.value)


def test_wrong_dtype_counts_rows_that_do_not_convert(params, table_factory):
    table = table_factory()
    table["distance"] = table["distance"].astype(object)
    table.loc[:2, "distance"] = "far"
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    failures = failures_of(excinfo)["distance"]
    assert [f.rows for f in failures] == [3]  # no noise from range checks on bad values
    assert failures[0].rule.startswith("type")


def test_out_of_range_and_missing_column(params, table_factory):
    table = table_factory().drop(columns=["origin"])
    table.loc[:6, "hour"] = 25
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    found = failures_of(excinfo)
    assert found["hour"][0].rows == 7
    assert "in_range" in found["hour"][0].rule
    assert found["origin"][0].rule == "column must be present"


def test_null_in_non_nullable_column(params, table_factory):
    table = table_factory()
    table.loc[:1, "carrier"] = None
    with pytest.raises(DataValidationError, match="not_nullable"):
        validate(table, params.schema, params.validation)


def test_too_many_missing_values(params, table_factory):
    table = table_factory()
    table.loc[: len(table) // 2, "temp"] = np.nan  # max_missing is 5%
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    (failure,) = failures_of(excinfo)["temp"]
    assert "at most 5% missing" in failure.rule


def test_all_nan_target(params, table_factory):
    table = table_factory()
    table["delayed"] = pd.NA
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    (failure,) = failures_of(excinfo)["delayed"]
    assert failure.rows == len(table)
    assert "unlabelled (found 100.0%)" in failure.rule


def test_target_balance(params, table_factory):
    table = table_factory()
    table["delayed"] = 0
    table.loc[:4, "delayed"] = 1  # 0.25% positives, floor is 2%
    with pytest.raises(DataValidationError, match="positive rate"):
        validate(table, params.schema, params.validation)


def test_target_outside_0_1(params, table_factory):
    table = table_factory()
    table.loc[:2, "delayed"] = 2
    with pytest.raises(DataValidationError, match=r"column 'delayed'.*isin"):
        validate(table, params.schema, params.validation)


def test_too_few_rows(params, table_factory):
    table = table_factory(rows=50)
    with pytest.raises(DataValidationError, match="at least 1000 rows"):
        validate(table, params.schema, params.validation)


def test_empty_table_with_header(params, table_factory):
    table = table_factory().iloc[:0]
    with pytest.raises(DataValidationError, match="at least 1000 rows broken by 0 rows"):
        validate(table, params.schema, params.validation)


def test_every_failure_is_reported_at_once(params, table_factory):
    table = table_factory()
    table.loc[:1, "carrier"] = "ZZ"
    table.loc[:1, "origin"] = "XXX"
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    assert {"carrier", "origin"} <= set(failures_of(excinfo))
    assert "2 problems found" in str(excinfo.value)


def test_feature_schema_has_no_target_or_time(params):
    columns = set(feature_schema(params.schema).columns)
    assert columns == set(params.schema.feature_names)
    assert {params.schema.target, params.schema.time} <= set(table_schema(params.schema).columns)
