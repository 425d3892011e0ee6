"""The service's HTTP contract, through a real `bentoml serve` on 127.0.0.1."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import skops.io as sio

from mlops.core import model_io
from mlops.core.config import load_params
from mlops.release.localserver import bentoml_command, free_port, stop
from mlops.serving.model import ModelMismatchError, load_stored_model, md5_of
from mlops.serving.predlog import read_log
from tests.conftest import ROOT, service_fields
from tests.service.conftest import MAX_BATCH, SERVICE, Project, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def test_health_endpoints(client):
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_the_model_card_is_served_as_markdown(client, project, params):
    card = project.root / params.paths.card
    card.parent.mkdir(parents=True, exist_ok=True)
    card.write_text("# Model card: test\n")
    try:
        served = client.get("/model-card")
        assert served.status_code == 200, served.text
        assert served.text == "# Model card: test\n"
        assert served.headers["content-type"].startswith("text/markdown")
    finally:
        card.unlink()
    missing = client.get("/model-card")
    assert missing.status_code == 404 and "make model-card" in missing.text
    assert client.get("/livez").status_code == 200  # the mount leaves BentoML's routes alone


def test_predict_one_record(client, example, project, params):
    answer = client.post("/predict", json=example, headers={"x-request-id": "req-1"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert 0 <= body["probability"] <= 1
    assert body["label"] in {params.schema.positive_label, params.schema.negative_label}
    assert body["threshold"] == params.evaluate.threshold
    assert body["model_version"] == md5_of(project.root / "models" / "model.skops")[:12]
    assert body["request_id"] == answer.headers["x-request-id"] == "req-1"


def test_predict_many_records(client, example):
    answer = client.post("/predict_batch", json={"records": [example] * MAX_BATCH})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["predictions"]) == MAX_BATCH
    assert {"model_version", "threshold", "request_id"} <= set(body)


def _without(record, key):
    return {k: v for k, v in record.items() if k != key}


F = service_fields(load_params(ROOT / "params.yaml"))  # hour, temp, distance, carrier, origin
OUT_OF_RANGE = int(load_params(ROOT / "params.yaml").schema.features[F.int_].max) + 76
BAD = {
    "missing field": ("/predict", lambda e: json.dumps(_without(e, F.int_)), F.int_),
    "extra field": ("/predict", lambda e: json.dumps({**e, "colour": "red"}), "colour"),
    "wrong type": ("/predict", lambda e: json.dumps({**e, F.int_: "five"}), F.int_),
    "out of range": ("/predict", lambda e: json.dumps({**e, F.int_: OUT_OF_RANGE}), F.int_),
    "NaN": ("/predict", lambda e: json.dumps({**e, F.nan: math.nan}), F.nan),
    "infinity": ("/predict", lambda e: json.dumps({**e, F.float_: math.inf}), F.float_),
    "null not allowed": ("/predict", lambda e: json.dumps({**e, F.category: None}), F.category),
    "broken JSON": ("/predict", lambda e: json.dumps(e)[:25], "JSON"),
    "empty body": ("/predict", lambda e: "", F.category),  # read as {}: every field missing
    "list, not object": ("/predict", lambda e: json.dumps([e]), "object"),
    "empty list": ("/predict_batch", lambda e: json.dumps({"records": []}), "records"),
    "oversized batch": (
        "/predict_batch",
        lambda e: json.dumps({"records": [e] * (MAX_BATCH + 1)}),
        "records",
    ),
    "bad record in batch": (
        "/predict_batch",
        lambda e: json.dumps({"records": [e, {**e, F.other: 3}]}),
        F.other,
    ),
    "records not a list": ("/predict_batch", lambda e: json.dumps({"records": e}), "records"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_a_4xx_naming_the_problem(client, example, case):
    route, body, named = BAD[case]
    answer = client.post(route, content=body(example), headers={"content-type": "application/json"})
    assert 400 <= answer.status_code < 500, answer.text
    assert named in answer.text, answer.text


def test_unknown_categories_are_served_and_counted(client, example):
    def counted() -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith(f'unknown_categories_total{{feature="{F.category}"}}'):
                return float(line.split()[-1])
        return 0.0

    before = counted()
    answer = client.post("/predict", json={**example, F.category: "ZZ"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["unknown_categories"][F.category] == "ZZ"
    assert counted() == before + 1


def test_metrics_count_predictions_by_label(client, example):
    client.post("/predict", json=example)
    text = client.get("/metrics").text
    assert "predictions_total{label=" in text
    assert "bentoml_service_request_total" in text  # BentoML's own metrics are still there


def test_openapi_documents_the_request_schema(client, params):
    spec = client.get("/docs.json").json()
    assert {"/predict", "/predict_batch"} <= set(spec["paths"])
    record = spec["components"]["schemas"]["Record"]
    assert set(record["properties"]) == set(params.schema.feature_names)
    assert "swagger" in client.get("/").text.lower()  # the OpenAPI UI


def test_every_prediction_is_logged(client, example, project):
    answer = client.post("/predict", json=example, headers={"x-request-id": "log-me"})
    assert answer.status_code == 200
    deadline = time.monotonic() + 10  # written by the log's background flush
    while not (logged := [e for e in read_log(project.log) if e["request_id"] == "log-me"]):
        assert time.monotonic() < deadline, f"log-me not in {project.log} after 10 s"
        time.sleep(0.1)
    assert len(logged) == 1
    entry = logged[0]
    assert entry["features"] == example
    assert entry["probability"] == answer.json()["probability"]
    assert entry["prediction"] == answer.json()["label"]
    assert entry["model_version"] == answer.json()["model_version"]
    assert entry["timestamp"]


def test_sigterm_loses_no_logged_request(project: Project, example):
    log = project.root / "sigterm"
    with serve(project, "sigterm.log", MLOPS_PREDICTION_LOG=str(log)) as server:

        def call(i: int) -> str | None:
            try:
                answer = httpx.post(
                    f"{server.url}/predict",
                    json=example,
                    headers={"x-request-id": f"sig-{i}"},
                    timeout=30,
                )
            except httpx.HTTPError:
                return None
            return f"sig-{i}" if answer.status_code == 200 else None

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(call, i) for i in range(200)]
            while sum(f.done() for f in futures) < 20:
                time.sleep(0.01)
            stop(server.process)  # SIGTERM while requests are in flight
            answered = {f.result() for f in futures} - {None}
    assert server.process.returncode is not None
    logged = {entry["request_id"] for entry in read_log(log)}
    assert answered, "no request was answered before SIGTERM"
    assert answered <= logged, f"answered but not logged: {sorted(answered - logged)[:5]}"


# --------------------------------------------------------------------------- refusals
def _copy_project(project: Project, tmp_path) -> Project:
    root = tmp_path / "copy"
    # not the other servers' homes (bentoml-*: symlinks to the store, live metrics files)
    shutil.copytree(project.root, root, ignore=shutil.ignore_patterns("*.log", "logs", "bentoml-*"))
    params = root / "params.yaml"
    env = {**project.env, "BENTOML_HOME": str(root / "bentoml"), "MLOPS_PARAMS": str(params)}
    return Project(root, params, env, root / "logs" / "predictions")


def _start_fails(project: Project, needle: str) -> None:
    port = free_port()
    process = subprocess.Popen(
        bentoml_command(SERVICE, port),
        cwd=project.root,
        env={**os.environ, **project.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=90)
    finally:
        stop(process)
    assert process.returncode != 0
    assert needle in output.decode(), output.decode()[-2000:]


def test_service_refuses_a_model_that_is_not_the_one_in_dvc_lock(project, tmp_path):
    copy = _copy_project(project, tmp_path)
    name = load_params(copy.params).serve.name
    (stored,) = (copy.root / "bentoml" / "models").glob(f"{name}/*/model.skops")
    with stored.open("ab") as handle:  # the served file is no longer the one dvc.lock records
        handle.write(b"tampered")
    _start_fails(copy, "refusing to serve")


def test_service_refuses_to_start_without_the_locked_model(project, tmp_path):
    copy = _copy_project(project, tmp_path)
    copy.write_lock("f" * 32)  # dvc.lock records a model that was never imported
    _start_fails(copy, "not in the BentoML model store")


class Payload:
    """Stands for code an attacker smuggles into a model file."""

    def __init__(self) -> None:
        self.command = "rm -rf /"


def test_service_loading_path_refuses_untrusted_types(project, small_model, tmp_path):
    """A tampered model whose MD5 dvc.lock does record still does not load: skops refuses
    the type before constructing anything."""
    import bentoml

    small_model.named_steps["model"].payload = Payload()
    try:
        data = sio.dumps(small_model)
    finally:
        del small_model.named_steps["model"].payload
    evil = tmp_path / "models" / "model.skops"
    evil.parent.mkdir()
    evil.write_bytes(data)
    lock = tmp_path / "dvc.lock"
    lock.write_text(
        f"stages:\n  train:\n    outs:\n    - path: models/model.skops\n      md5: {md5_of(evil)}\n"
    )
    params = load_params(project.params)
    params = params.model_copy(
        update={
            "paths": params.paths.model_copy(update={"model": evil}),
            "serve": params.serve.model_copy(update={"lock": lock}),
        }
    )
    tag = f"evil:{md5_of(evil)[:12]}"
    with bentoml.models.create(tag) as stored:
        shutil.copyfile(evil, stored.path_of("model.skops"))
    with pytest.raises(model_io.UntrustedModelError, match="Payload"):
        load_stored_model(tag, params)


def test_model_tampered_in_the_store_is_refused(project, tmp_path):
    import bentoml

    params = load_params(project.params)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project.root)
        tag = next(str(m.tag) for m in bentoml.models.list() if m.tag.name == params.serve.name)
        stored = bentoml.models.get(tag)
        path = Path(stored.path_of("model.skops"))
        original = path.read_bytes()
        try:
            path.write_bytes(original + b"tampered")
            with pytest.raises(ModelMismatchError, match="refusing to serve"):
                load_stored_model(tag, params)
        finally:
            path.write_bytes(original)


# --------------------------------------------------------------------------- smoke test
def test_smoke_check_passes_against_the_service(server, project, example, params):
    from mlops.release.smoke import smoke_check

    version = md5_of(project.root / "models" / "model.skops")[:12]
    labels = (params.schema.positive_label, params.schema.negative_label)
    said: list[str] = []
    body = smoke_check(server.url, example, version, labels, say=said.append)
    assert body["model_version"] == version
    assert any("bad input -> 400" in line for line in said)


def test_smoke_check_fails_on_the_wrong_model_version(server, example):
    from mlops.release.smoke import SmokeError, smoke_check

    with pytest.raises(SmokeError, match="model_version is 000000000000"):
        smoke_check(server.url, example, "000000000000", say=lambda _: None)
