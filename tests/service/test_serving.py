"""The service's logic without a server: request schema, model identity, prediction,
batching, logging and settings."""

from __future__ import annotations

import asyncio
import math
import threading
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from mlops.core import model_io
from mlops.core.config import ParamsError, load_params, parse_params
from mlops.pipeline.schema import feature_schema
from mlops.pipeline.train import train
from mlops.serving.api import example_record, record_model
from mlops.serving.batcher import MicroBatcher
from mlops.serving.model import ModelMismatchError, locked_md5, md5_of, verify_model
from mlops.serving.predictor import Predictor
from mlops.serving.predlog import PredictionLog, read_log
from tests.conftest import ROOT, feature, service_fields, signal_features
from tests.service.conftest import write_params


# --------------------------------------------------------------------------- request schema
def test_request_fields_are_the_features_the_pipeline_validates(params):
    record = record_model(params.schema)
    assert list(record.model_fields) == list(feature_schema(params.schema).columns)


def test_a_feature_added_to_params_appears_in_the_request(params):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["schema"]["features"]["seats"] = {"type": "int", "min": 1, "max": 900}
    record = record_model(parse_params(raw).schema)
    assert "seats" in record.model_fields
    example = example_record(parse_params(raw).schema)
    with pytest.raises(ValidationError, match="seats"):
        record.model_validate({**example, "seats": 0})
    with pytest.raises(ValidationError, match="seats"):
        record.model_validate({k: v for k, v in example.items() if k != "seats"})


def test_example_is_valid_for_the_request_and_the_pipeline_schema(params):
    example = example_record(params.schema)
    record_model(params.schema).model_validate(example)
    feature_schema(params.schema).validate(pd.DataFrame([example]), lazy=True)


SCHEMA = load_params(ROOT / "params.yaml").schema
F = service_fields(load_params(ROOT / "params.yaml"))  # on the default: hour, temp, ...
TOO_HIGH = SCHEMA.features[F.int_].max + 1
REQUIRED = next(  # a number that may not be missing (on the default: distance)
    (n for n, s in SCHEMA.features.items() if not s.nullable and s.type != "category"),
    F.category,
)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({F.int_: "17"}, F.int_),  # wrong type (strict: no string -> int)
        ({F.int_: 17.5}, F.int_),
        ({F.int_: TOO_HIGH}, F.int_),  # out of the schema's range
        ({F.float_: math.nan}, F.float_),
        ({F.nan: math.inf}, F.nan),
        ({F.category: 9}, F.category),
        ({F.category: ""}, F.category),
        ({F.category: "x" * 1000}, F.category),
        ({REQUIRED: None}, REQUIRED),  # not nullable
        ({"surprise": 1}, "surprise"),  # extra field
    ],
)
def test_bad_records_are_refused_naming_the_field(params, change, field):
    record = record_model(params.schema)
    with pytest.raises(ValidationError) as info:
        record.model_validate({**example_record(params.schema), **change})
    assert field in {str(part) for error in info.value.errors() for part in error["loc"]}


def test_nullable_features_accept_null_but_are_required(params):
    nullable = feature(params, "nullable")
    record = record_model(params.schema)
    example = example_record(params.schema)
    assert getattr(record.model_validate({**example, nullable: None}), nullable) is None
    with pytest.raises(ValidationError, match=nullable):
        record.model_validate({k: v for k, v in example.items() if k != nullable})


# --------------------------------------------------------------------------- settings
def test_serve_section_is_read_and_checked(tmp_path):
    serve = load_params(write_params(tmp_path, workers=3, batching=False)).serve
    assert (serve.workers, serve.batching, serve.max_batch_records) == (3, False, 50)
    with pytest.raises(ParamsError, match=r"serve\.workers"):
        load_params(write_params(tmp_path, workers=0))


def test_serve_settings_have_no_default_in_code(tmp_path):
    """params.yaml is the one set of values: a serve key left out is an error naming it."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    del raw["serve"]["workers"]
    with pytest.raises(ParamsError, match=r"serve\.workers: Field required"):
        parse_params(raw)
    del raw["serve"]
    with pytest.raises(ParamsError, match=r"  - serve: Field required"):
        parse_params(raw)


# --------------------------------------------------------------------------- model identity
def _lock(tmp_path, md5):
    lock = tmp_path / "dvc.lock"
    lock.write_text(
        yaml.safe_dump({"stages": {"train": {"outs": [{"path": "m.skops", "md5": md5}]}}})
    )
    return lock


def test_model_matching_dvc_lock_is_accepted(tmp_path, small_model):
    path = tmp_path / "m.skops"
    model_io.save(small_model, path)
    lock = _lock(tmp_path, md5_of(path))
    assert verify_model(tmp_path / "m.skops", lock) == md5_of(path)


def test_model_not_matching_dvc_lock_is_refused(tmp_path, small_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model_io.save(small_model, tmp_path / "m.skops")
    lock = _lock(tmp_path, "0" * 32)
    with pytest.raises(ModelMismatchError, match=r"refusing to serve .*0{32}.*make run"):
        verify_model(tmp_path / "m.skops", lock)


def test_missing_lock_or_entry_says_what_to_do(tmp_path):
    with pytest.raises(ModelMismatchError, match="make run"):
        locked_md5(tmp_path / "dvc.lock", tmp_path / "m.skops")
    lock = _lock(tmp_path, "0" * 32)
    with pytest.raises(ModelMismatchError, match=r"records no out '.*other\.skops'"):
        locked_md5(lock, tmp_path / "other.skops")


# --------------------------------------------------------------------------- prediction
def test_predictor_labels_with_the_threshold_and_flags_unknown_categories(params, small_model):
    schema = params.schema
    closed = feature(params, "closed category")
    predictor = Predictor(small_model, schema, threshold=0.5, version="v")
    example, unseen = example_record(schema), {closed: "ZZ"}
    for open_ in (n for n in schema.categorical if not schema.features[n].values):
        example[open_] = min(predictor.known[open_])
        unseen[open_] = "NOWHERE"
    unknown = {**example, **unseen}
    results = predictor.predict([example, unknown, {**example, feature(params, "nullable"): None}])
    assert len(results) == 3
    assert all(0 <= r["probability"] <= 1 for r in results)
    for result in results:
        expected = schema.positive_label if result["probability"] >= 0.5 else schema.negative_label
        assert result["label"] == expected
    assert results[0]["unknown_categories"] == {}
    assert results[1]["unknown_categories"] == unseen
    assert predictor.predict([]) == []


def test_predictor_gives_what_the_pipeline_gives(params, small_model):
    from tests.conftest import make_table

    table = make_table(params, rows=50, seed=3)[params.schema.feature_names]
    records = table.to_dict("records")
    predictor = Predictor(small_model, params.schema, threshold=0.3, version="v")
    got = [r["probability"] for r in predictor.predict(records)]
    expected = small_model.predict_proba(table)[:, 1]
    assert got == pytest.approx(expected, abs=1e-6)


def _odd_records(params, rows=300, seed=5):
    """Synthetic records with unknown categories and missing (None and NaN) values."""
    from tests.conftest import make_table

    table = make_table(params, rows=rows, seed=seed)[params.schema.feature_names]
    records = table.to_dict("records")
    categories = params.schema.categorical
    nullable = [name for name, spec in params.schema.features.items() if spec.nullable]
    for i, record in enumerate(records):
        if categories and i % 7 == 0:
            record[categories[-1]] = "NOWHERE"
        if categories and i % 11 == 0:
            record[categories[0]] = "ZZ"
        if nullable and i % 5 == 0:
            record[nullable[0]] = None
        if nullable and i % 9 == 0:
            record[nullable[-1]] = math.nan
    return records


def test_fast_path_gives_exactly_the_pipelines_probabilities(params, small_model):
    predictor = Predictor(small_model, params.schema, threshold=0.3, version="v")
    assert predictor.engine == "compiled"
    records = _odd_records(params)
    expected = small_model.predict_proba(predictor.frame(records))[:, 1]
    np.testing.assert_array_equal(predictor.fast.predict_proba(records), expected)  # many rows
    for i in range(0, 40):  # one record at a time: the router path
        np.testing.assert_array_equal(
            predictor.fast.predict_proba(records[i : i + 1]), expected[i : i + 1]
        )
    np.testing.assert_array_equal(predictor.fast.predict_proba(records[:16]), expected[:16])


def test_fast_path_falls_back_to_the_pipeline_for_other_estimators(params):
    from tests.conftest import make_table

    linear = params.train.model_copy(update={"estimator": "logistic_regression"})
    model = train(make_table(params, rows=500), params.schema, linear)
    predictor = Predictor(model, params.schema, threshold=0.3, version="v")
    assert predictor.engine == "pipeline"
    records = _odd_records(params, rows=20)
    expected = model.predict_proba(predictor.frame(records))[:, 1]
    np.testing.assert_array_equal(predictor.probabilities(records), expected)


def test_fast_path_that_disagrees_with_the_pipeline_is_refused(params, small_model, monkeypatch):
    from mlops.serving import fastpath

    right = fastpath.CompiledBooster.matrix
    name = signal_features(params)[0]  # the model leans on it: a shift moves predictions
    spec = params.schema.features[name]
    half = ((spec.max or 100.0) - (spec.min or 0.0)) / 2

    def shifted(records):
        return [{**r, name: None if r[name] is None else r[name] + half} for r in records]

    monkeypatch.setattr(  # a broken encoding: a numeric column shifted by half its range
        fastpath.CompiledBooster, "matrix", lambda self, records: right(self, shifted(records))
    )
    assert fastpath.compile_pipeline(small_model, params.schema) is None
    assert Predictor(small_model, params.schema, threshold=0.3, version="v").engine == "pipeline"


# --------------------------------------------------------------------------- batching
@pytest.mark.parametrize("inline", [False, True], ids=["model-thread", "inline"])
def test_micro_batcher_merges_concurrent_requests(inline):
    calls: list[int] = []

    def double(items):
        calls.append(len(items))
        return [2 * i for i in items]

    async def main():
        batcher = MicroBatcher(double, max_batch_size=8, inline=inline)
        results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
        await batcher.close()
        return results

    assert asyncio.run(main()) == [2 * i for i in range(20)]
    assert sum(calls) == 20
    assert len(calls) < 20  # merged
    assert max(calls) <= 8


@pytest.mark.parametrize("inline", [False, True], ids=["model-thread", "inline"])
def test_micro_batcher_error_reaches_every_waiting_request(inline):
    def broken(items):
        raise RuntimeError("model failed")

    async def main():
        batcher = MicroBatcher(broken, max_batch_size=8, inline=inline)
        results = await asyncio.gather(
            *(batcher.submit(i) for i in range(3)), return_exceptions=True
        )
        await batcher.close()
        return results

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(main()))


# --------------------------------------------------------------------------- logging
def _rotation(params, **given):
    """serve's settings with the log's rotation settings changed."""
    return params.serve.model_copy(update=given)


def test_prediction_log_appends_one_json_line_per_prediction(tmp_path, params):
    log = PredictionLog(tmp_path / "logs", params.serve)
    results = [{"probability": 0.4, "label": "delayed", "unknown_categories": {"c": "ZZ"}}]
    log.write([{"a": 1.0, "b": math.nan}], results, version="v1", request_ids=["r1"])
    log.write([{"a": 2.0, "b": None}], results, version="v1", request_ids=["r2"])
    log.close()
    lines = read_log(tmp_path / "logs")
    assert [line["request_id"] for line in lines] == ["r1", "r2"]
    assert lines[0]["features"] == {"a": 1.0, "b": None}
    assert lines[0]["unknown_categories"] == ["c"]
    assert {"timestamp", "model_version", "probability", "prediction"} <= set(lines[0])
    (segment,) = (tmp_path / "logs" / "closed").iterdir()  # close() closed the last segment
    assert "_v1_" in segment.name and not list((tmp_path / "logs" / "open").iterdir())


def test_a_line_holds_the_record_as_answered_not_as_changed_after(tmp_path, params):
    # the caller's thread encodes the batch when it writes (not the flush thread later)
    log = PredictionLog(tmp_path, params.serve)
    record = {"a": 1.0}
    result = {"probability": 0.4, "label": "delayed", "unknown_categories": {}}
    log.write([record], [result], version="v1", request_ids=["r1"])
    record["a"], result["probability"] = 2.0, 0.9
    log.close()
    (line,) = read_log(tmp_path)
    assert line["features"] == {"a": 1.0} and line["probability"] == 0.4


def test_a_line_still_being_written_is_left_for_the_next_read(tmp_path):
    segment = tmp_path / "open" / "segment.jsonl"
    segment.parent.mkdir()
    segment.write_text('{"request_id": "r1"}\n{"request_id": "r2"}\n{"request_')
    assert [line["request_id"] for line in read_log(tmp_path)] == ["r1", "r2"]


def test_a_write_only_queues_and_the_background_flush_writes(tmp_path, params):
    log = PredictionLog(tmp_path, _rotation(params, log_flush_seconds=0.05))
    result = {"probability": 0.4, "label": "delayed", "unknown_categories": {}}
    log.write([{"a": 1.0}], [result], version="v1", request_ids=["r1"])
    deadline = time.monotonic() + 5
    while not read_log(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [line["request_id"] for line in read_log(tmp_path)] == ["r1"]
    assert list((tmp_path / "open").iterdir())  # written, still open: not due yet
    log.close()


def test_segments_rotate_by_size_and_by_age(tmp_path, params):
    result = {"probability": 0.4, "label": "delayed", "unknown_categories": {}}
    sized = PredictionLog(tmp_path / "size", _rotation(params, log_segment_bytes=1024))
    for i in range(100):
        sized.write([{"a": float(i)}], [result], version="v1", request_ids=[f"s{i}"])
        sized.flush()
    closed = list((tmp_path / "size" / "closed").iterdir())
    assert len(closed) >= 5 and all(p.stat().st_size < 1024 + 200 for p in closed)
    sized.close()
    assert len(read_log(tmp_path / "size")) == 100
    aged = PredictionLog(tmp_path / "age", _rotation(params, log_segment_seconds=0.01))
    aged.write([{"a": 1.0}], [result], version="v1", request_ids=["a1"])
    aged.flush()
    time.sleep(0.05)
    aged.flush()  # due by age, even with nothing new to write
    assert len(list((tmp_path / "age" / "closed").iterdir())) == 1
    aged.close()


def test_a_segment_left_open_by_a_dead_process_is_closed_at_start(tmp_path, params):
    import subprocess
    import sys

    (tmp_path / "open").mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    left = tmp_path / "open" / f"20261129T100000000000Z_v1_pod-{dead.stdout.strip()}-000001.jsonl"
    left.write_text('{"request_id": "old"}\n')
    live = tmp_path / "open" / "20261129T100000000000Z_v1_pod-1-000001.jsonl"  # pid 1 lives
    live.write_text('{"request_id": "busy"}\n')
    PredictionLog(tmp_path, params.serve).close()
    assert (tmp_path / "closed" / left.name).exists() and not left.exists()
    assert live.exists()  # another worker still writes it


def test_a_full_backlog_is_said_loudly_and_nothing_is_dropped(tmp_path, params, caplog):
    settings = _rotation(params, log_segment_bytes=1024, log_max_local_bytes=2048)
    log = PredictionLog(tmp_path, settings)
    result = {"probability": 0.4, "label": "delayed", "unknown_categories": {}}
    for i in range(60):
        log.write([{"a": float(i)}], [result], version="v1", request_ids=[f"r{i}"])
        log.flush()
    log.close()
    assert "wait for the shipper" in caplog.text and "Nothing is dropped" in caplog.text
    assert len(read_log(tmp_path)) == 60


def test_the_log_reads_back_with_the_arrow_schema_the_monitor_uses(tmp_path, params):
    """Writer and reader agree: every field written has the type log_schema says, and no
    field is written that the schema does not have."""
    import pyarrow.json as pajson

    from mlops.serving.predlog import log_schema

    schema = params.schema
    record = example_record(schema)
    missing = {**record, feature(params, "nullable"): None}
    result = {"probability": 0.25, "label": schema.negative_label, "unknown_categories": {}}
    log = PredictionLog(tmp_path, params.serve)
    log.write([record, missing], [result, result], version="v1", request_ids=["a", "b"])
    log.close()
    parse = pajson.ParseOptions(
        explicit_schema=log_schema(schema), unexpected_field_behavior="error"
    )
    (segment,) = (tmp_path / "closed").iterdir()
    table = pajson.read_json(segment, parse_options=parse)
    assert table.schema == log_schema(schema)
    rows = table.to_pylist()
    assert [row["request_id"] for row in rows] == ["a", "b"]
    assert rows[0]["features"] == {
        name: float(value) if isinstance(value, int) else value for name, value in record.items()
    }
    assert rows[1]["features"][feature(params, "nullable")] is None
    assert rows[0]["probability"] == 0.25 and rows[0]["unknown_categories"] == []


def test_unwritable_prediction_log_says_what_to_set(tmp_path, params):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match="prediction_log"):
        PredictionLog(blocker / "logs", params.serve)


def test_model_threads_run_calls_side_by_side_each_limited_to_its_openmp_threads():
    from threadpoolctl import threadpool_info

    from mlops.serving.predictor import model_executor

    both_running = threading.Barrier(2, timeout=10)  # broken unless two calls run at once

    def call() -> list[dict]:
        both_running.wait()
        return threadpool_info()

    with model_executor(1, calls=2) as executor:
        pools = [p for f in [executor.submit(call) for _ in range(2)] for p in f.result()]
    openmp = [p for p in pools if p["user_api"] == "openmp"]
    assert openmp, "scikit-learn's OpenMP runtime should be loaded"
    assert all(p["num_threads"] == 1 for p in openmp)
