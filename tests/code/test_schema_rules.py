"""The schema rules and the validate stage's table-wide rules on their exact limits: each
failure named in full (column, rule, rows), every threshold of ``validate`` tested on its
value and one row beside it (benchmarks/mutation.yaml runs these against their mutants)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlops.core.errors import DataValidationError, Failure
from mlops.pipeline.schema import MissingValues, check_frame, feature_schema, table_schema
from mlops.pipeline.validate import ForbiddenColumn, target_auc, validate
from tests.conftest import feature, make_table, params_with

ONE_SIDED = {
    "low_only": {"type": "float", "min": 0},
    "high_only": {"type": "float", "max": 10},
    "count_or_none": {"type": "int", "min": 0, "max": 5, "nullable": True, "max_missing": 0.5},
}


def _failures(frame: pd.DataFrame, schema, source: str = "t") -> list[Failure]:
    with pytest.raises(DataValidationError) as info:
        check_frame(frame, schema, source)
    assert info.value.source == source
    return info.value.failures


# --------------------------------------------------------------------------- schema.py
def test_a_range_with_one_side_is_open_on_the_other():
    p = params_with({"schema": {"features": ONE_SIDED}})
    frame = make_table(p, rows=4)
    frame["low_only"], frame["high_only"], frame["count_or_none"] = 1e300, -1e300, 2
    check_frame(frame, feature_schema(p.schema), "t")
    frame.loc[0, "low_only"], frame.loc[1, "high_only"] = -1.0, 11.0
    failures = _failures(frame, feature_schema(p.schema))
    assert [(f.column, f.rows, f.examples) for f in failures] == [
        ("low_only", 1, ("-1.0",)),
        ("high_only", 1, ("11.0",)),
    ]


def test_a_nullable_int_keeps_its_missing_values_as_missing_ints():
    p = params_with({"schema": {"features": ONE_SIDED}})
    frame = make_table(p, rows=4)
    frame["low_only"], frame["high_only"] = 1.0, 1.0
    frame["count_or_none"] = [1.0, np.nan, 3.0, np.nan]
    checked = check_frame(frame, feature_schema(p.schema), "t")
    assert str(checked["count_or_none"].dtype) == "Int64"
    assert checked["count_or_none"].isna().tolist() == [False, True, False, True]


def test_feature_schema_coerces_the_types_and_keeps_only_the_features(params):
    table = make_table(params, rows=5)
    whole = feature(params, "required int")
    table[whole] = table[whole].astype("float64")
    checked = check_frame(table.assign(extra=1), feature_schema(params.schema), "t")
    assert list(checked.columns) == params.schema.feature_names
    assert str(checked[whole].dtype) == "int64"


def test_table_schema_types_the_time_and_target_and_needs_labels_by_default(params):
    schema = params.schema
    table = make_table(params, rows=5)
    table[schema.time] = table[schema.time].astype(str)
    table[schema.target] = table[schema.target].astype("float64")
    checked = check_frame(table, table_schema(schema), "t")
    assert str(checked[schema.time].dtype) == "datetime64[ns]"
    assert str(checked[schema.target].dtype) == "Int8"
    table.loc[0, schema.target] = np.nan
    assert _failures(table, table_schema(schema)) == [
        MissingValues(schema.target, "not nullable", 1)
    ]
    assert (
        check_frame(table, table_schema(schema, labelled=False), "t")[schema.target].isna().sum()
        == 1
    )


def test_a_row_without_a_timestamp_fails(params):
    schema = params.schema
    table = make_table(params, rows=5)
    table.loc[2, schema.time] = pd.NaT
    assert _failures(table, table_schema(schema, labelled=False)) == [
        MissingValues(schema.time, "not nullable", 1)
    ]


def _reverse_ordered_required(params) -> tuple[str, str]:
    """Two required numeric features whose schema order is not their alphabetical order."""
    required = [
        n for n, s in params.schema.features.items() if not s.nullable and s.type != "category"
    ]
    for i, first in enumerate(required):
        for second in required[i + 1 :]:
            if first > second:
                return first, second
    pytest.skip(
        "schema.features in params.yaml has no two required numeric features out of "
        "alphabetical order"
    )


def test_every_failure_once_in_schema_order_with_its_rows(params):
    """Missing values first (per column, in schema order), then each other broken rule; a
    value of the wrong type hides the other rules of its column, not of the next ones."""
    schema = params.schema
    first, second = _reverse_ordered_required(params)
    typed = feature(params, "required float")
    bounded = feature(params, "bounded", other_than=(typed,))
    table = make_table(params, rows=20)
    table.loc[[3, 4], first] = np.nan
    table.loc[5, second] = np.nan
    table[typed] = table[typed].astype(object)
    table.loc[0, typed] = "far"
    table.loc[1, bounded] = params.schema.features[bounded].max + 1
    absent = schema.feature_names[-1]
    failures = _failures(table.drop(columns=[absent]), table_schema(schema, labelled=False))
    assert failures[0] == Failure(absent, "column must be present", 0)
    assert failures[1:3] == [
        MissingValues(first, "not nullable", 2),
        MissingValues(second, "not nullable", 1),
    ]
    rest = {(f.column, f.rule.split("(")[0], f.rows) for f in failures[3:]}
    assert (typed, "type", 1) in rest
    assert (bounded, "in_range", 1) in rest
    assert len(failures) == 5


def test_a_missing_value_and_a_broken_rule_in_one_column_are_two_failures(params):
    column = feature(params, "required float")
    spec = params.schema.features[column]
    table = make_table(params, rows=20)
    table.loc[1, column] = spec.max + 1
    table.loc[2, column] = np.nan
    failures = _failures(table, table_schema(params.schema, labelled=False))
    assert failures[0] == MissingValues(column, "not nullable", 1)
    assert [(f.column, f.rule.split("(")[0], f.rows) for f in failures[1:]] == [
        (column, "in_range", 1)
    ]


# --------------------------------------------------------------------------- validate.py
def _valid(params, rows: int) -> pd.DataFrame:
    """``rows`` rows that pass every rule, the positive rate inside the allowed range."""
    table = make_table(params, rows=rows)
    rules, target = params.validation, params.schema.target
    rate = (rules.min_target_rate + rules.max_target_rate) / 2
    positives = round(rate * rows)
    table[target] = pd.array([1] * positives + [0] * (rows - positives), dtype="Int8")
    return table


def _make_room_for_missing(params, table: pd.DataFrame, column: str) -> None:
    """A numeric column as float (an int column cannot hold NaN); a category keeps its type."""
    if params.schema.features[column].type != "category":
        table[column] = table[column].astype("float64")


def _broken(params, table: pd.DataFrame, rules=None) -> list[Failure]:
    with pytest.raises(DataValidationError) as info:
        validate(table, params.schema, rules or params.validation)
    assert info.value.source == "table"
    return info.value.failures


def test_min_rows_exactly_passes_and_one_fewer_fails(params):
    rules = params.validation
    validate(_valid(params, rules.min_rows), params.schema, rules)
    few = _valid(params, rules.min_rows - 1)
    assert _broken(params, few) == [
        Failure("(table)", f"at least {rules.min_rows} rows", rules.min_rows - 1)
    ]


def test_below_min_rows_no_feature_is_judged_a_copy_of_the_target(params):
    rules = params.validation
    few = _valid(params, rules.min_rows - 1)
    copy = feature(params, "required float")
    few[copy] = few[params.schema.target].astype("float64") + 1
    failures = _broken(params, few)
    assert [f.column for f in failures] == ["(table)"]


def _limit_rows(share: float, rows: int) -> int:
    """The most rows out of ``rows`` a rule ``at most share`` allows (found * rows <= share)."""
    return math.floor(share * rows)


def test_max_missing_exactly_passes_and_one_more_fails(params):
    rules = params.validation
    column = feature(params, "limited missing")
    share = params.schema.features[column].max_missing
    rows = rules.min_rows
    allowed = _limit_rows(share, rows)
    table = _valid(params, rows)
    _make_room_for_missing(params, table, column)
    table.loc[: allowed - 1, column] = np.nan
    _, summary = validate(table, params.schema, rules)
    assert summary["missing"] == {column: allowed}
    table.loc[allowed, column] = np.nan
    (failure,) = _broken(params, table)
    found = (allowed + 1) / rows
    assert failure == Failure(
        column, f"at most {share:.0%} missing (found {found:.1%})", allowed + 1
    )


def test_max_unlabelled_exactly_passes_and_one_more_fails(params):
    rules = params.validation
    rows = rules.min_rows
    allowed = _limit_rows(rules.max_unlabelled, rows)
    target = params.schema.target
    table = _valid(params, rows)
    table.loc[table.index[-allowed:], target] = pd.NA  # unlabelled negatives
    _, summary = validate(table, params.schema, rules)
    assert (summary["rows"], summary["labelled_rows"]) == (rows, rows - allowed)
    assert summary["unlabelled_rows"] == allowed
    table.loc[table.index[-allowed - 1], target] = pd.NA
    found = (allowed + 1) / rows
    assert Failure(
        target,
        f"at most {rules.max_unlabelled:.0%} unlabelled (found {found:.1%})",
        allowed + 1,
    ) in _broken(params, table)


@pytest.mark.parametrize("side", ["min", "max"])
def test_a_positive_rate_on_its_limit_passes_and_beside_it_fails(params, side):
    rows = 1000
    rate = getattr(params.validation, f"{side}_target_rate")
    positives = round(rate * rows)
    rules = params.validation.model_copy(
        update={f"{side}_target_rate": positives / rows, "min_rows": 10}
    )
    target = params.schema.target
    table = _valid(params, rows)
    table[target] = pd.array([1] * positives + [0] * (rows - positives), dtype="Int8")
    _, summary = validate(table, params.schema, rules)
    assert summary["target_rate"] == round(positives / rows, 6)
    beside = positives - 1 if side == "min" else positives + 1
    table[target] = pd.array([1] * beside + [0] * (rows - beside), dtype="Int8")
    text = (
        f"positive rate in [{rules.min_target_rate:.0%}, {rules.max_target_rate:.0%}] "
        f"(found {beside / rows:.1%})"
    )
    assert _broken(params, table, rules) == [Failure(target, text, beside)]


def test_no_positive_at_all_counts_every_labelled_row(params):
    rules = params.validation.model_copy(update={"min_target_rate": 0.01, "min_rows": 10})
    table = _valid(params, 200)
    table[params.schema.target] = pd.array([0] * 200, dtype="Int8")
    (failure,) = _broken(params, table, rules)
    assert (failure.column, failure.rows) == (params.schema.target, 200)


def test_a_forbidden_column_is_named_with_every_row(params):
    if not params.schema.forbidden:
        pytest.skip("schema.forbidden is empty")
    name = params.schema.forbidden[0]
    table = _valid(params, params.validation.min_rows).assign(**{name: 1})
    assert _broken(params, table) == [
        ForbiddenColumn(name, "absent from the modelling table", params.validation.min_rows)
    ]


def test_a_copy_of_the_target_is_named_with_the_labelled_rows(params):
    rules = params.validation
    copy = feature(params, "required float")
    table = _valid(params, rules.min_rows)
    spec = params.schema.features[copy]
    low = spec.min if spec.min is not None else 0.0
    table[copy] = low + table[params.schema.target].astype("float64")
    table.loc[table.index[-1], params.schema.target] = pd.NA
    (failure,) = _broken(params, table)
    assert (failure.column, failure.rows) == (copy, rules.min_rows - 1)
    assert failure.rule == f"ROC AUC against the target below {rules.leak_auc} (found 1.000)"


def test_the_summary_of_a_valid_table(params):
    rules, schema = params.validation, params.schema
    table = _valid(params, rules.min_rows).iloc[::-1]
    nullable = feature(params, "limited missing")
    _make_room_for_missing(params, table, nullable)
    table.loc[table.index[0], nullable] = np.nan
    table.loc[table.index[1], schema.target] = pd.NA
    labelled, summary = validate(table, schema, rules)
    assert list(labelled.index) == list(range(rules.min_rows - 1))
    assert list(summary) == [
        "rows",
        "labelled_rows",
        "unlabelled_rows",
        "target_rate",
        "time_range",
        "missing",
        "target_auc",
        "profile",
    ]
    assert summary["rows"] == rules.min_rows
    assert summary["labelled_rows"] == rules.min_rows - 1
    expected_rate = labelled[schema.target].mean()
    assert summary["target_rate"] == round(float(expected_rate), 6)
    time = table[schema.time]
    assert summary["time_range"] == [str(time.min()), str(time.max())]
    assert summary["missing"] == {nullable: 1}
    assert set(summary["target_auc"]) == set(schema.feature_names)
    assert all(v == round(v, 4) for v in summary["target_auc"].values())


# --------------------------------------------------------------------------- target_auc
def test_target_auc_learns_on_even_rows_and_ranks_the_odd_ones():
    """Even rows teach each value its positive rate; odd rows are ranked by it."""
    values = pd.Series(["a", "a", "b", "b", "a", "b", "b", "a"])
    target = pd.Series([1, 1, 0, 0, 1, 1, 0, 0])
    # even rows: a -> 1, 1 (rate 1), b -> 0, 0 (rate 0); odd rows a=1, b=0, b=1, a=0
    assert target_auc(values, target, category=True) == 0.5
    ranked = pd.Series([1.0, 1.0, 2.0, 2.0, 1.0, 2.0, 2.0, 1.0])
    assert target_auc(ranked, target, category=False) == 0.5
    teach = pd.Series(["a", "x", "b", "y", "a", "a", "b", "b"])
    # even rows teach a -> 1, b -> 0; odd rows x, y unseen (the overall rate), a=1, b=0
    assert target_auc(teach, pd.Series([1, 0, 0, 1, 1, 1, 0, 0]), category=True) == 0.875


def test_missing_numbers_are_a_group_of_their_own():
    values = pd.Series([np.nan, np.nan, 1.0, 1.0] * 4)
    target = pd.Series([1, 1, 0, 0] * 4)
    assert target_auc(values, target, category=False) == 1.0


def test_a_value_of_the_wrong_type_hides_only_its_own_column_s_other_rules(params):
    typed = feature(params, "required float")
    bounded = feature(params, "bounded", other_than=(typed,))
    if params.schema.feature_names.index(bounded) < params.schema.feature_names.index(typed):
        pytest.skip(
            "schema.features in params.yaml has no bounded feature after its first required "
            "float feature"
        )
    table = make_table(params, rows=20)
    table[typed] = table[typed].astype(object)
    table.loc[0, typed] = "far"
    table.loc[1, bounded] = params.schema.features[bounded].max + 1
    failures = _failures(table, table_schema(params.schema, labelled=False))
    assert [(f.column, f.rule.split("(")[0], f.rows) for f in failures] == [
        (typed, "type", 1),
        (bounded, "in_range", 1),
    ]


def test_missing_numbers_are_not_the_lowest_quantile():
    """Missing values are a group of their own, not merged with the lowest numbers: here
    the missing rows are all positive and the numbers all negative, a perfect ranking."""
    values = pd.Series([np.nan] * 20 + list(range(1, 201)), dtype="float64")
    target = pd.Series([1] * 20 + [0] * 200)
    assert target_auc(values, target, category=False) == 1.0


def test_a_feature_ranking_exactly_leak_auc_is_a_copy(params):
    from mlops.pipeline.validate import _copy_failures

    rules = params.validation
    below = math.nextafter(rules.leak_auc, 0.0)
    assert _copy_failures({"a": below}, 10, rules) == []
    (failure,) = _copy_failures({"a": rules.leak_auc}, 10, rules)
    assert (failure.column, failure.rows) == ("a", 10)


def test_a_schema_failure_names_the_default_source_and_keeps_only_schema_columns(params):
    table = _valid(params, params.validation.min_rows)
    column = feature(params, "closed category")
    table.loc[0, column] = "ZZ-never"
    with pytest.raises(DataValidationError) as info:
        validate(table, params.schema, params.validation)
    assert info.value.source == "table"
    labelled, _ = validate(
        _valid(params, params.validation.min_rows).assign(extra=1), params.schema, params.validation
    )
    schema = params.schema
    assert sorted(labelled.columns) == sorted([*schema.feature_names, schema.time, schema.target])
