from pathlib import Path

import pytest
import yaml

from mlops.core.config import ParamsError, load_params, parse_params

ROOT = Path(__file__).resolve().parents[2]


def raw_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_repository_params_load(params):
    schema = params.schema
    assert set(schema.feature_names) == {*schema.categorical, *schema.numeric}
    assert schema.target not in schema.feature_names
    assert schema.time not in schema.feature_names
    assert params.train.hyperparameters()["max_iter"] > 0


@pytest.mark.default_data("a fork's schema is checked by test_repository_params_load")
def test_default_schema_describes_the_flights_table(params):
    assert params.schema.target == "delayed"
    assert set(params.schema.categorical) == {"carrier", "origin", "dest"}
    assert "hour" in params.schema.numeric


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ParamsError, match=r"nope\.yaml not found"):
        load_params(tmp_path / "nope.yaml")


def test_invalid_yaml_is_reported(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)


def test_wrong_value_names_the_key():
    raw = raw_params()
    raw["evaluate"]["threshold"] = 1.5
    with pytest.raises(ParamsError, match=r"evaluate\.threshold"):
        parse_params(raw)


def test_unknown_key_is_refused():
    raw = raw_params()
    raw["prepare"]["train_stat"] = "2013-01-01"  # a typo must not pass silently
    with pytest.raises(ParamsError, match=r"prepare\.train_stat"):
        parse_params(raw)


def test_windows_must_be_ordered():
    raw = raw_params()
    raw["prepare"]["test_start"] = "2012-06-01"
    with pytest.raises(ParamsError, match="windows must be ordered"):
        parse_params(raw)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "float", "values": ["a"]}, "only allowed for type 'category'"),
        ({"type": "category", "min": 0}, "not allowed for type 'category'"),
        ({"type": "float", "max_missing": 0.5}, "needs 'nullable: true'"),
        ({"type": "int", "example": "five"}, "must be a number for type 'int'"),
        ({"type": "float", "min": 0, "max": 1, "example": 2}, r"outside \[0.0, 1.0\]"),
    ],
)
def test_inconsistent_feature_spec(spec, message):
    raw = raw_params()
    raw["schema"]["features"]["odd"] = spec
    with pytest.raises(ParamsError, match=message):
        parse_params(raw)


def test_hyperparameters_of_other_estimator():
    params = parse_params(raw_params())
    assert params.train.hyperparameters("logistic_regression")["C"] == 1.0
    assert params.train.hyperparameters("not_configured") == {}
