"""The schema built from params.yaml, and the validate stage's pure core."""

import numpy as np
import pandas as pd
import pytest

from mlops.core.config import ParamsError
from mlops.core.errors import DataValidationError
from mlops.pipeline.schema import feature_schema, table_schema
from mlops.pipeline.validate import ForbiddenColumn, TargetCopy, target_auc, validate
from tests.conftest import feature, params_with


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


# --------------------------------------------------------------------------- leaks (D4)
def test_a_forbidden_feature_is_refused_by_name(params):
    name = params.schema.feature_names[0]
    forbidden = [*params.schema.forbidden, name]
    with pytest.raises(
        ParamsError, match=rf"schema: .*\['{name}'\] are listed in schema\.forbidden"
    ):
        params_with({"schema": {"forbidden": forbidden}})


def test_forbidding_the_target_is_refused(params):
    with pytest.raises(ParamsError, match="the target or time column"):
        params_with({"schema": {"forbidden": [params.schema.target]}})


def test_a_forbidden_column_in_the_table_fails_validation(table_factory):
    params = params_with({"schema": {"forbidden": ["outcome_known_later"]}})
    table = table_factory().assign(outcome_known_later=1.0)
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    (failure,) = failures_of(excinfo)["outcome_known_later"]
    assert isinstance(failure, ForbiddenColumn)
    assert failure.rows == len(table)
    assert "schema.forbidden" in str(excinfo.value) and "load_table" in str(excinfo.value)


def test_a_forbidden_column_is_reported_with_schema_failures(table_factory):
    params = params_with({"schema": {"forbidden": ["outcome_known_later"]}})
    ranged = feature(params, "bounded")
    table = table_factory().assign(outcome_known_later=1.0)
    table.loc[:1, ranged] = params.schema.features[ranged].max + 2
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    assert {"outcome_known_later", ranged} <= set(failures_of(excinfo))


def _copy_of_target(params, table: pd.DataFrame, name: str) -> pd.Series:
    """Feature ``name`` rewritten as two in-range values that follow the target."""
    spec = params.schema.features[name]
    low = spec.min if spec.min is not None else spec.max - 1
    values = np.where(table[params.schema.target] == 1, spec.max, low)
    return pd.Series(values.astype(int) if spec.type == "int" else values, index=table.index)


def test_a_feature_that_copies_the_target_fails_validation(params, table_factory):
    name = feature(params, "bounded")
    table = table_factory(rows=4000)
    table[name] = _copy_of_target(params, table, name)
    flipped = table.index[:10]  # 0.25% noise: still a copy
    table.loc[flipped, name] = table.loc[flipped[::-1], name].to_numpy()
    with pytest.raises(DataValidationError) as excinfo:
        validate(table, params.schema, params.validation)
    (failure,) = failures_of(excinfo)[name]
    assert isinstance(failure, TargetCopy)
    assert f"below {params.validation.leak_auc}" in failure.rule
    assert "schema.forbidden" in str(failure)


def test_a_category_that_copies_the_target_fails_validation(params, table_factory):
    name = feature(params, "closed category")
    values = params.schema.features[name].values
    if len(values) < 2:
        pytest.skip(f"schema.features.{name} has fewer than two allowed values")
    table = table_factory()
    table[name] = np.where(table[params.schema.target] == 1, values[0], values[1])
    with pytest.raises(DataValidationError, match=rf"feature '{name}' is a near-copy"):
        validate(table, params.schema, params.validation)


def test_the_learnable_signal_is_no_copy_and_its_auc_is_reported(params, table_factory):
    _, summary = validate(table_factory(), params.schema, params.validation)
    assert summary["target_auc"].keys() == set(params.schema.feature_names)
    assert max(summary["target_auc"].values()) < params.validation.leak_auc
    assert max(summary["target_auc"].values()) > 0.6  # the signal features are measured


@pytest.mark.parametrize(
    ("values", "category", "low", "high"),
    [
        (lambda y, rng: y * 30.0 + rng.normal(0, 1, len(y)), False, 0.999, 1.0),  # outcome
        (lambda y, rng: -y + rng.uniform(0, 0.1, len(y)), False, 0.999, 1.0),  # reversed
        (lambda y, rng: pd.Series(y).map({0: "a", 1: "b"}), True, 0.999, 1.0),
        (lambda y, rng: rng.normal(0, 1, len(y)), False, 0.5, 0.56),  # noise
        (lambda y, rng: [f"id{i}" for i in range(len(y))], True, 0.5, 0.5),  # unique id
        (lambda y, rng: rng.permutation(len(y)).astype(float), False, 0.5, 0.56),  # row number
    ],
    ids=["numeric copy", "reversed copy", "category copy", "noise", "identifier", "row number"],
)
def test_target_auc_is_high_only_for_a_copy(values, category, low, high):
    rng = np.random.default_rng(3)
    target = pd.Series(rng.integers(0, 2, 4000))
    column = pd.Series(values(target.to_numpy(), rng))
    assert low <= target_auc(column, target, category=category) <= high


def test_target_auc_with_one_class_is_chance():
    target = pd.Series(np.zeros(100, dtype=int))
    assert target_auc(pd.Series(np.arange(100.0)), target, category=False) == 0.5
