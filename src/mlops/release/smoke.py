"""The smoke test: a running service checked end to end, or the built bento started on
127.0.0.1, checked and stopped. The same checks run after a deploy, through a port-forward.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mlops.core.config import Params
from mlops.core.errors import UserError
from mlops.release.localserver import HOST, bentoml_command, free_port, running
from mlops.serving.api import example_record
from mlops.serving.model import locked_md5, model_version
from mlops.serving.predlog import LOG_VARIABLE


class SmokeError(UserError, RuntimeError):
    """A check of the smoke test failed."""


@dataclass(frozen=True)
class Expected:
    """What the service must answer: the example record, the model version dvc.lock
    records and the two labels."""

    record: dict[str, Any]
    version: str
    labels: tuple[str, str]


def expected(params: Params) -> Expected:
    return Expected(
        record=example_record(params.schema),
        version=model_version(locked_md5(params.serve.lock, params.paths.model)),
        labels=(params.schema.positive_label, params.schema.negative_label),
    )


def smoke_check(
    url: str,
    record: dict[str, Any],
    expected_version: str | None = None,
    labels: tuple[str, str] | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Check a running service end to end; raise SmokeError naming the first failed check."""

    def check(ok: bool, what: str, detail: Any = "") -> None:
        if not ok:
            raise SmokeError(f"{url}: {what} failed {detail}".rstrip())
        say(f"  ok  {what}")

    with httpx.Client(base_url=url, timeout=30.0) as client:
        for probe in ("/livez", "/readyz"):
            check(client.get(probe).status_code == 200, f"GET {probe} -> 200")
        answer = client.post("/predict", json=record)
        check(answer.status_code == 200, "POST /predict -> 200", answer.text[:300])
        body = answer.json()
        check(0.0 <= body.get("probability", -1) <= 1.0, "probability in [0, 1]", body)
        if labels:
            check(body.get("label") in labels, f"label is one of {labels}", body)
        if expected_version:
            check(
                body.get("model_version") == expected_version,
                f"model_version is {expected_version} (dvc.lock)",
                f"(got {body.get('model_version')})",
            )
        batch = client.post("/predict_batch", json={"records": [record] * 3})
        check(
            batch.status_code == 200 and len(batch.json()["predictions"]) == 3,
            "POST /predict_batch (3 records) -> 200 with 3 predictions",
            batch.text[:300],
        )
        bad = client.post("/predict", json={**record, "unexpected": 1})
        check(bad.status_code == 400 and "unexpected" in bad.text, "bad input -> 400", bad.text)
        metrics = client.get("/metrics")
        check("predictions_total" in metrics.text, "GET /metrics counts predictions")
    return body


def check_service(url: str, want: Expected) -> dict[str, Any]:
    """:func:`smoke_check` of the service at ``url`` against what dvc.lock and params say."""
    return smoke_check(url, want.record, want.version, want.labels)


def smoke_bento(target: str, want: Expected, timeout: float) -> dict[str, Any]:
    """Start the bento ``target`` on a free port of 127.0.0.1, check it, stop it. Its log and
    its predictions go to the temporary folder, not to the project's prediction log."""
    port = free_port()
    log = Path(tempfile.gettempdir()) / f"mlops-smoke-{port}.log"
    with running(
        bentoml_command(target, port),
        f"http://{HOST}:{port}",
        log,
        timeout,
        env={LOG_VARIABLE: str(log.with_suffix(".jsonl"))},
    ) as server:
        print(f"smoke test of {target} on {server.url}")
        return check_service(server.url, want)
