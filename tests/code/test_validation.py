"""The schema built from params.yaml, and the validate stage's pure core."""

import numpy as np
import pandas as pd
import pytest

from mlops.core.errors import DataValidationError
from mlops.pipeline.schema import feature_schema, table_schema
from mlops.pipeline.validate import validate
from tests.conftest import feature


def failures_of(excinfo) -> dict[str, list]:
    found: dict[str, list] = {}
    for failure in excinfo.value.failures:
        found.setdefault(failure.column, []).append(failure)
    return found


def test_valid_table_passes_and_drops_unlabelled(params, table_factory):
    table = table_factory(rows=3000)
    table.loc[:9, params.schema.target] = pd.NA
    labelled, summary = validate(table, params.schema, params.validation)
    assert len(labelled) == 2990
    assert summary["unlabelled_rows"] == 10
    assert labelled[params.schema.target].dtype == np.int8
    assert 0 < summary["target_rate"] < 1


def test_extra_columns_are_dropped(params, table_factory):
    table = table_factory().assign(leaky_arr_delay=1.0)
    labelled, _ = validate(table, params.schema, params.validation)
    assert "leaky_arr_delay" not in labelled.columns


def test_unknown_category_names_column_rule_and_rows(params, table_factory):
    column = feature(params, "closed category")
    table = table_factory()
    table.loc[:4, column] = "ZZ"
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    (failure,) = failures_of(excinfo)[column]
    assert failure.rows == 5
    assert "isin" in failure.rule
    assert "'ZZ'" in failure.examples
    assert f"column '{column}'" in str(excinfo.value)
    assert "5 rows" in str(excinfo.value)


def test_wrong_dtype_counts_rows_that_do_not_convert(params, table_factory):
    column = feature(params, "numeric")
    table = table_factory()
    table[column] = table[column].astype(object)
    table.loc[:2, column] = "far"
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    failures = failures_of(excinfo)[column]
    assert [f.rows for f in failures] == [3]  # no noise from range checks on bad values
    assert failures[0].rule.startswith("type")


def test_out_of_range_and_missing_column(params, table_factory):
    ranged = feature(params, "bounded")
    dropped = next(name for name in params.schema.feature_names if name != ranged)
    table = table_factory().drop(columns=[dropped])
    table.loc[:6, ranged] = params.schema.features[ranged].max + 2
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    found = failures_of(excinfo)
    assert found[ranged][0].rows == 7
    assert "in_range" in found[ranged][0].rule
    assert found[dropped][0].rule == "column must be present"


@pytest.mark.parametrize("kind", ["int", "float", "category", "datetime"])
def test_null_in_non_nullable_column_is_reported_as_missing(params, table_factory, kind):
    """Whatever the column's type: in an int column a missing value also breaks the type
    (NaN is no int), which must not read as a type error."""
    column = params.schema.time if kind == "datetime" else feature(params, f"required {kind}")
    table = table_factory()
    table[column] = table[column].astype(object)
    table.loc[:1, column] = None
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    assert failures_of(excinfo) == {column: [excinfo.value.failures[0]]}  # nothing else
    assert f"2 missing values in column '{column}' (not nullable)" in str(excinfo.value)


def test_too_many_missing_values(params, table_factory):
    column = feature(params, "limited missing")
    table = table_factory()
    table[column] = table[column].astype(object)
    table.loc[: len(table) // 2, column] = None
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    (failure,) = failures_of(excinfo)[column]
    assert f"at most {params.schema.features[column].max_missing:.0%} missing" in failure.rule


def test_all_nan_target(params, table_factory):
    table = table_factory()
    table[params.schema.target] = pd.NA
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    (failure,) = failures_of(excinfo)[params.schema.target]
    assert failure.rows == len(table)
    assert "unlabelled (found 100.0%)" in failure.rule


def test_target_balance(params, table_factory):
    assert params.validation.min_target_rate > 0.0025
    table = table_factory()
    table[params.schema.target] = 0
    table.loc[:4, params.schema.target] = 1  # 0.25% positives, under the floor
    with pytest.raises(DataValidationError, match="positive rate"):
        validate(table, params.schema, params.validation)


def test_target_outside_0_1(params, table_factory):
    table = table_factory()
    table.loc[:2, params.schema.target] = 2
    with pytest.raises(DataValidationError, match=rf"column '{params.schema.target}'.*isin"):
        validate(table, params.schema, params.validation)


def test_too_few_rows(params, table_factory):
    table = table_factory(rows=50)
    assert params.validation.min_rows > 50
    with pytest.raises(DataValidationError, match=f"at least {params.validation.min_rows} rows"):
        validate(table, params.schema, params.validation)


def test_empty_table_with_header(params, table_factory):
    table = table_factory().iloc[:0]
    minimum = params.validation.min_rows
    with pytest.raises(DataValidationError, match=f"at least {minimum} rows broken by 0 rows"):
        validate(table, params.schema, params.validation)


def test_every_failure_is_reported_at_once(params, table_factory):
    category, ranged = feature(params, "closed category"), feature(params, "bounded")
    table = table_factory()
    table.loc[:1, category] = "ZZ"
    table.loc[:1, ranged] = params.schema.features[ranged].max + 2
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    assert {category, ranged} <= set(failures_of(excinfo))
    assert "2 problems found" in str(excinfo.value)


def test_feature_schema_has_no_target_or_time(params):
    columns = set(feature_schema(params.schema).columns)
    assert columns == set(params.schema.feature_names)
    assert {params.schema.target, params.schema.time} <= set(table_schema(params.schema).columns)
