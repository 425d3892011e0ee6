"""The real data this repository's data.dvc pins passes the params schema: any data set.

What holds for every data set is checked here; facts of the embedded default (row counts,
the target's definition, seasonal drift) are in test_default_data.py, marked default_data.
"""

import pytest

from mlops.pipeline.fetch import matches
from mlops.pipeline.prepare import split
from mlops.pipeline.validate import validate
from mlops.yours import dataset
from tests.conftest import ROOT, is_default_data, pinned_data_md5


@pytest.fixture(scope="module")
def validated(real_table, params):
    return validate(real_table, params.schema, params.validation)


def test_workspace_data_is_what_data_dvc_pins(real_raw_dir):
    ok, expected, actual = matches(ROOT / "data.dvc")
    assert ok, f"data/ hashes to {actual}, data.dvc pins {expected}"


def test_embedded_data_hash_is_what_data_dvc_pins():
    """src/mlops/yours/dataset.py's EMBEDDED_DATA_MD5 decides whether the default_data tests
    run; a stale value would skip them silently."""
    embedded = getattr(dataset, "EMBEDDED_DATA_MD5", None)
    if embedded is None:
        pytest.skip("this dataset.py has no embedded copy (a fork): no default_data tests run")
    assert is_default_data(), (
        f"src/mlops/yours/dataset.py records EMBEDDED_DATA_MD5 = {embedded!r}, but data.dvc "
        f"pins {pinned_data_md5()!r}: update the constant if the embedded copy changed, or delete "
        "it if this repository uses other data (the default_data tests are then skipped)"
    )


def test_real_data_passes_the_params_schema(validated, params):
    labelled, summary = validated  # validate() raised, naming every problem, if it did not
    assert summary["rows"] >= params.validation.min_rows
    assert len(labelled) == summary["rows"] - summary["unlabelled_rows"]
    rate = summary["target_rate"]
    assert params.validation.min_target_rate <= rate <= params.validation.max_target_rate


def test_the_loader_builds_exactly_the_declared_columns(real_table, params):
    """No raw column that is not declared (an outcome that leaks, an id) reaches the model."""
    schema = params.schema
    assert set(real_table.columns) == {*schema.features, schema.target, schema.time}


def test_no_forbidden_column_is_loaded_or_a_feature(real_table, params):
    """``schema.forbidden`` (outcomes, identifiers) on this data: validate enforces it too."""
    forbidden = set(params.schema.forbidden)
    assert not forbidden & set(real_table.columns)
    assert not forbidden & set(params.schema.features)


def test_no_feature_is_a_near_copy_of_the_target(validated, params):
    """Each feature alone ranks the labelled rows far below ``validate.leak_auc`` (the
    flights features reach 0.63): a feature at 0.99 would be the outcome itself."""
    aucs = validated[1]["target_auc"]
    assert aucs.keys() == set(params.schema.features)
    assert max(aucs.values()) < params.validation.leak_auc, aucs


def test_time_windows_hold_both_classes(validated, params):
    parts = split(validated[0], params.schema, params.prepare)
    for name in ("train", "test"):
        assert parts[name][params.schema.target].nunique() == 2, name
    assert len(parts["train"]) > len(parts["test"]) > 0
