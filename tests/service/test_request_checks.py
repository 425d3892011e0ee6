"""The service's request checks without a server, each limit on its value and beside it:
the record type from ``schema.features`` (ranges, lengths, strictness, null), the batch size
``serve.max_batch_records``, the request id, and the threshold that labels a prediction
(benchmarks/mutation.yaml runs these against their mutants)."""

from __future__ import annotations

import math
import re

import pytest
from pydantic import TypeAdapter, ValidationError

from mlops.pipeline.train import train
from mlops.serving.api import (
    MAX_CATEGORY_LENGTH,
    _feature_type,
    example_record,
    record_dict,
    record_model,
    records_type,
    request_id,
)
from mlops.serving.predictor import Predictor
from tests.conftest import feature, make_table, params_with


def _refused(record, example: dict, name: str, value) -> bool:
    try:
        record.model_validate({**example, name: value})
    except ValidationError as error:
        return name in {str(part) for e in error.errors() for part in e["loc"]}
    return False


def test_the_batch_records_typed_dict_is_the_record_model_in_schema_and_checks(params):
    """/predict_batch validates into dicts (api.record_dict), /predict into the model: the
    same OpenAPI schema, and each value accepted or refused alike."""
    model, typed = record_model(params.schema), TypeAdapter(record_dict(params.schema))
    assert typed.json_schema() == model.model_json_schema()
    example = example_record(params.schema)
    assert typed.validate_python(example) == model.model_validate(example).model_dump()
    odd = [None, "", "x" * (MAX_CATEGORY_LENGTH + 1), "7", 7, 7.5, True, -1e12, 1e12, math.nan]
    cases = [{**example, name: value} for name in params.schema.features for value in odd]
    cases += [{**example, "unexpected": 1}, {k: v for k, v in list(example.items())[1:]}]
    for case in cases:
        verdicts = []
        for validate in (model.model_validate, typed.validate_python):
            try:
                validate(case)
                verdicts.append("accepted")
            except ValidationError:
                verdicts.append("refused")
        assert verdicts[0] == verdicts[1], (case, verdicts)


def test_numbers_are_accepted_on_their_limits_and_refused_beside_them(params):
    record, example = record_model(params.schema), example_record(params.schema)
    for name in params.schema.numeric:
        spec = params.schema.features[name]
        cast = int if spec.type == "int" else float
        for limit, beside in ((spec.min, -1), (spec.max, 1)):
            if limit is None:
                continue
            record.model_validate({**example, name: cast(limit)})
            outside = cast(limit) + beside if spec.type == "int" else limit + beside * 1e-9
            assert _refused(record, example, name, outside), (name, outside)


def test_a_one_sided_range_is_open_on_the_other_side():
    p = params_with(
        {
            "schema": {
                "features": {
                    "low_only": {"type": "float", "min": 0},
                    "high": {"type": "int", "max": 9},
                }
            }
        }
    )
    record, example = record_model(p.schema), example_record(p.schema)
    record.model_validate({**example, "low_only": 1e300, "high": -(10**12)})
    assert _refused(record, example, "low_only", -1.0)
    assert _refused(record, example, "high", 10)


def test_types_are_strict_and_floats_finite(params):
    record, example = record_model(params.schema), example_record(params.schema)
    whole = feature(params, "required int")
    number = next(n for n in params.schema.numeric if params.schema.features[n].type == "float")
    category = feature(params, "category")
    assert _refused(record, example, whole, str(example[whole]))
    assert _refused(record, example, whole, example[whole] + 0.5)
    assert _refused(record, example, number, math.inf)
    assert _refused(record, example, number, math.nan)
    assert _refused(record, example, category, 1)


def test_an_unbounded_float_refuses_inf_and_nan_and_a_category_refuses_bytes():
    # no range: only the finite check can refuse inf and nan (a bound would refuse them too)
    features = {"free": {"type": "float"}, "name": {"type": "category"}}
    p = params_with({"schema": {"features": features}})
    record, example = record_model(p.schema), example_record(p.schema)
    record.model_validate({**example, "free": -1e300})
    for value in (math.inf, -math.inf, math.nan):
        assert _refused(record, example, "free", value)
    assert _refused(record, example, "name", b"x")  # lax pydantic would decode bytes


def test_a_category_is_one_to_max_category_length_characters(params):
    record, example = record_model(params.schema), example_record(params.schema)
    category = feature(params, "category")
    record.model_validate({**example, category: "x"})
    record.model_validate({**example, category: "x" * MAX_CATEGORY_LENGTH})
    assert _refused(record, example, category, "")
    assert _refused(record, example, category, "x" * (MAX_CATEGORY_LENGTH + 1))


def test_null_only_where_the_schema_allows_it_and_every_field_required(params):
    record, example = record_model(params.schema), example_record(params.schema)
    for name, spec in params.schema.features.items():
        if spec.nullable:
            assert getattr(record.model_validate({**example, name: None}), name) is None
        else:
            assert _refused(record, example, name, None)
        without = {k: v for k, v in example.items() if k != name}
        with pytest.raises(ValidationError, match=name):
            record.model_validate(without)
    assert _refused(record, example, "surprise", 1)
    schema = record.model_json_schema()
    assert (record.__name__, record.model_config["title"], schema["title"]) == ("Record",) * 3
    assert record.__doc__ == (
        "The model's input features, as declared in params.yaml (schema.features)."
    )
    assert schema["required"] == params.schema.feature_names


def test_descriptions_and_examples_come_from_the_schema():
    p = params_with(
        {
            "schema": {
                "features": {
                    "kind": {"type": "category", "values": ["b", "a"]},
                    "kind_given": {"type": "category", "values": ["b", "a"], "example": "a"},
                    "free": {"type": "category"},
                    "size": {"type": "float", "min": 10, "max": 50, "nullable": True},
                    "count": {"type": "int", "min": 0, "max": 8},
                    "count_given": {"type": "int", "min": 0, "max": 8, "example": 7},
                    "open": {"type": "float"},
                }
            }
        }
    )
    fields = {name: _feature_type(spec)[1] for name, spec in p.schema.features.items()}
    text = {name: (f.description, f.examples) for name, f in fields.items()}
    unknown = "Unknown values are served (as missing) and counted."
    assert text["kind"] == (f"category. Known values: b, a. {unknown}", ["b"])
    assert text["kind_given"][1] == ["a"]
    assert text["free"] == (f"category. {unknown}", ["example"])
    assert text["size"] == ("float in [10.0, 50.0]; null when unknown", [20.0])
    assert text["count"] == ("int in [0.0, 8.0]", [2])
    assert text["count_given"][1] == [7]
    assert text["open"] == ("float", [0.0])


def test_a_batch_holds_one_to_max_batch_records(params):
    limit = params.serve.max_batch_records
    record, example = record_model(params.schema), example_record(params.schema)
    batch = TypeAdapter(records_type(record, limit))
    assert len(batch.validate_python([example] * limit)) == limit
    assert len(batch.validate_python([example])) == 1
    for size in (0, limit + 1):
        with pytest.raises(ValidationError):
            batch.validate_python([example] * size)
    (description,) = [m.description for m in records_type(record, limit).__metadata__]
    assert description == f"1 to {limit} records (serve.max_batch_records)"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        (None, False),
        ("é", False),
        ("a\nb", False),
    ],
)
def test_a_request_id_is_kept_when_short_and_printable(given, kept):
    made = request_id(given)
    if kept:
        assert made == given
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", made)
        assert made != request_id(given)  # a new one each time


# --------------------------------------------------------------------------- the threshold
@pytest.fixture(scope="module")
def small_model(params):
    """The service tests' small model, fitted on one OpenMP thread: the threshold does not
    depend on the fit, and mutmut forks a child per mutant from the process that fitted it.
    A model fitted on ``train.threads`` > 1 bins its inputs on that many OpenMP threads,
    which a forked child does not have: it would wait for them forever (a timeout, not a
    verdict on the tests)."""
    update = {"hist_gradient_boosting": {"max_iter": 20}, "threads": 1}
    return train(make_table(params), params.schema, params.train.model_copy(update=update))


@pytest.fixture
def predictor_and_p(params, small_model):
    predictor = Predictor(small_model, params.schema, threshold=0.5, version="v")
    example = example_record(params.schema)
    return example, float(predictor.probabilities([example])[0])


def test_a_probability_on_the_threshold_is_positive_and_just_under_is_negative(
    params, small_model, predictor_and_p
):
    example, p = predictor_and_p
    on = Predictor(small_model, params.schema, threshold=p, version="v")
    (result,) = on.predict([example])
    assert result == {
        "probability": round(p, 6),
        "label": params.schema.positive_label,
        "unknown_categories": on.unknown(example),
    }
    above = Predictor(small_model, params.schema, threshold=math.nextafter(p, 2.0), version="v")
    assert above.predict([example])[0]["label"] == params.schema.negative_label


def test_only_a_value_the_model_never_saw_is_unknown(params, small_model):
    predictor = Predictor(small_model, params.schema, threshold=0.5, version="v")
    category = feature(params, "closed category")
    known = sorted(predictor.known[category])[0]
    assert predictor.unknown({category: known}) == {}
    assert predictor.unknown({category: None}) == {}
    assert predictor.unknown({category: "ZZ-never"}) == {category: "ZZ-never"}
