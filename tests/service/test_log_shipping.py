"""Prediction logs leave the pod with nothing lost: the service from source and the shipper
sidecar (`python -m mlops.serving.logship`) against a real S3 API (moto's server on
127.0.0.1), through rotations and a SIGTERM under load; then the monitor reads the bucket."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from mlops.core.config import load_params
from mlops.monitoring.logs import sample_log
from mlops.release.localserver import HOST, free_port, stop
from mlops.serving.logship import Shipper, object_key, segment_name
from tests.service.conftest import Project, serve, write_params

pytestmark = pytest.mark.slow
BUCKET = "prediction-logs"


@pytest.fixture
def s3(monkeypatch):
    """moto's S3 server on 127.0.0.1 with one bucket; the AWS settings that reach it."""
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://{HOST}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # fsspec keeps one S3 filesystem per set of arguments, bound to the endpoint it was made
    # with (an earlier test's server); moto keeps its buckets per process: start from none
    pytest.importorskip("s3fs").S3FileSystem.clear_instance_cache()
    reset = f"{env['AWS_ENDPOINT_URL']}/moto-api/reset"
    urllib.request.urlopen(urllib.request.Request(reset, method="POST"), timeout=10).close()
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"]).create_bucket(Bucket=BUCKET)
    try:
        yield env
    finally:
        server.stop()


def _objects(env: dict[str, str]) -> dict[str, bytes]:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    return {key: fs.cat_file(key) for key in fs.find(BUCKET)}


def test_every_answered_request_reaches_the_bucket_exactly_once(
    project: Project, example, s3, tmp_path
):
    params = write_params(
        tmp_path,
        workers=2,
        log_segment_bytes=8192,  # ~20 predictions a segment: many rotations
        log_segment_seconds=2,
        log_flush_seconds=0.2,
        log_store=f"s3://{BUCKET}/logs",
        log_ship_seconds=0.3,
        log_drain_seconds=20,
    )
    folder = tmp_path / "pod-log"  # the pod's emptyDir, shared by the two containers
    env = {**project.env, **s3, "MLOPS_PARAMS": str(params)}
    env["MLOPS_PREDICTION_LOG"] = str(folder)
    shipper_log = tmp_path / "shipper.log"
    shipper = subprocess.Popen(
        [sys.executable, "-m", "mlops.serving.logship"],
        cwd=project.root,
        env={**os.environ, **env},
        stdout=shipper_log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with serve(project, "shipping.log", **env) as server:
            answered = _load_then_sigterm(server, example)
        stop(shipper, grace=40)  # the sidecar's SIGTERM: it drains, ships, exits
        output = shipper_log.read_text()
    finally:
        stop(shipper)
    assert shipper.returncode == 0, output[-3000:]
    assert "SIGTERM: draining" in output and "0 left" in output, output[-3000:]
    assert not list(folder.rglob("*.jsonl")), "a segment stayed on the pod's disk"

    objects = _objects(s3)
    lines = [
        json.loads(line)
        for key, data in objects.items()
        for line in gzip.decompress(data).decode().splitlines()
    ]
    ids = Counter(line["request_id"] for line in lines)
    assert len(answered) >= 100, "too few requests were answered before SIGTERM"
    assert answered <= set(ids), f"answered, not in the bucket: {sorted(answered - set(ids))[:5]}"
    assert max(ids.values()) == 1, f"in the bucket twice: {[k for k, n in ids.items() if n > 1]}"
    version = lines[0]["model_version"]
    # rotated (by size, at each flush) before the SIGTERM closed the last one: each segment its
    # own object (how many depends on how many flushes the load saw: 4 on a busy machine)
    assert len(objects) >= 2
    for key in objects:
        day = key.split("date=")[1][:10]
        assert f"/logs/date={day}/model={version}/" in key and key.endswith(".jsonl.gz"), key

    # the monitor reads the bucket: the window and the live version, with exact counts
    schema = load_params(params).schema
    _, stats = sample_log(f"s3://{BUCKET}/logs", schema, rows=100, window="7d", version="live")
    assert stats.rows == len(lines) and stats.versions == {version: len(lines)}
    assert stats.selection.version == version and stats.files == len(objects)


def _load_then_sigterm(server, example) -> set[str]:
    """Concurrent single and batch requests; SIGTERM in the middle of them; the request ids
    (batch records: ``<id>-<i>``) of every request answered with 200."""
    client = httpx.Client(base_url=server.url, timeout=30, limits=httpx.Limits(max_connections=8))

    def call(i: int) -> list[str]:
        try:
            if i % 5 == 0:
                answer = client.post(
                    "/predict_batch", json={"records": [example] * 3},
                    headers={"x-request-id": f"b{i}"},
                )  # fmt: skip
                return [f"b{i}-{k}" for k in range(3)] if answer.status_code == 200 else []
            answer = client.post("/predict", json=example, headers={"x-request-id": f"s{i}"})
        except httpx.HTTPError:
            return []
        return [f"s{i}"] if answer.status_code == 200 else []

    with client, ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(call, i) for i in range(1000)]
        started = time.monotonic()
        while sum(f.done() for f in futures) < 400 and time.monotonic() - started < 120:
            time.sleep(0.05)
        stop(server.process)  # SIGTERM while requests are in flight
        answered = {rid for f in futures for rid in f.result()}
        return answered


def test_a_failed_upload_keeps_the_segment_and_a_retry_overwrites_the_same_object(tmp_path, s3):
    folder = tmp_path / "log"
    (folder / "closed").mkdir(parents=True)
    name = segment_name("2026-11-29T10:00:00.000001+00:00", "v1", "pod", 7, 1)
    (folder / "closed" / name).write_text('{"request_id": "a"}\n')
    broken = Shipper(folder, "s3://no-such-bucket/logs", max_local_bytes=1 << 20)
    assert broken.ship_closed() == 0 and (folder / "closed" / name).exists()  # kept
    shipper = Shipper(folder, f"s3://{BUCKET}/logs", max_local_bytes=1 << 20)
    assert shipper.ship_closed() == 1 and not (folder / "closed" / name).exists()
    (folder / "closed" / name).write_text('{"request_id": "a"}\n')  # as if the delete was lost
    assert shipper.ship_closed() == 1
    assert list(_objects(s3)) == [f"{BUCKET}/logs/{object_key(name)}"]
    assert object_key(name) == f"date=2026-11-29/model=v1/{name}.gz"


def test_the_shipper_ships_to_a_local_folder_too(tmp_path):
    folder, store = tmp_path / "log", tmp_path / "store"
    (folder / "closed").mkdir(parents=True)
    name = segment_name("2026-11-29T23:59:59.999999+00:00", "v2", "pod", 1, 3)
    (folder / "closed" / name).write_text('{"request_id": "z"}\n')
    Shipper(folder, str(store), max_local_bytes=1 << 20).ship_closed()
    shipped = store / "date=2026-11-29" / "model=v2" / f"{name}.gz"
    assert gzip.decompress(shipped.read_bytes()) == b'{"request_id": "z"}\n'
    assert not list(folder.rglob("*.jsonl"))


def test_segment_names_sort_by_time_and_refuse_what_is_not_a_segment():
    a = segment_name("2026-11-29T09:00:00.000001+00:00", "v1", "pod-a", 12, 1)
    b = segment_name("2026-11-29T10:00:00+00:00", "v1", "pod-a", 12, 2)
    assert a < b and a.startswith("20261129T090000000001Z_v1_pod-a-12-")
    with pytest.raises(ValueError, match="not a prediction log segment"):
        object_key("predictions.jsonl")
    assert Path(object_key(b)).parent.as_posix() == "date=2026-11-29/model=v1"
