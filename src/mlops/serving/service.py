"""The BentoML service: the pipeline's model behind a typed HTTP API.

Everything it needs comes from ``params.yaml`` (``MLOPS_PARAMS`` overrides the path): the
request schema (``schema.features``), the decision threshold (``evaluate.threshold``) and
the settings of the ``serve`` section. The model served is the one ``dvc.lock`` records,
checked by MD5 at start-up and loaded with skops' trusted-type list (no pickle).

Endpoints: ``POST /predict`` (one record), ``POST /predict_batch`` (``{"records": [...]}``),
``GET /livez``, ``GET /readyz``, ``GET /metrics`` (Prometheus), ``GET /docs`` (OpenAPI),
``GET /model-card`` (the model card the bento ships: ``paths.card``, ``make model-card``).
Run it with ``make serve`` (the built bento) or, from the source after ``make bento``,
``uv run bentoml serve mlops.serving.service:ModelService``.
"""

from __future__ import annotations

import asyncio
import gc
import os
from pathlib import Path
from typing import Any

import bentoml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mlops.core.config import load_params
from mlops.serving import metrics
from mlops.serving.api import (
    BatchPrediction,
    Prediction,
    record_dict,
    record_model,
    records_type,
    request_id,
)
from mlops.serving.batcher import MicroBatcher
from mlops.serving.logship import log_path
from mlops.serving.model import model_tag, stored_model
from mlops.serving.predlog import PredictionLog
from mlops.serving.traffic import tracing, tune_server

PARAMS = load_params(Path(os.environ.get("MLOPS_PARAMS", "params.yaml")))
SERVE = PARAMS.serve
Record = record_model(PARAMS.schema)
# a batch's records validate straight into dicts (same schema as Record; api.record_dict)
Records = records_type(record_dict(PARAMS.schema), SERVE.max_batch_records)
MODEL_TAG = model_tag(PARAMS)
# Checked when the module is imported, so `bentoml serve` and `bentoml build` stop at once
# with the reason (MD5 not the one dvc.lock records, model not imported) instead of
# restarting a failing worker forever. Loaded (skops: trusted types only) in each worker:
# the `bentoml serve` process that imports this module first never imports scikit-learn,
# pandas or the model (cold start, issue 17).
stored_model(MODEL_TAG, PARAMS)
tune_server()  # connections spread over the workers; timeouts that free their request


def settle_heap() -> None:
    """Move everything loaded so far (libraries, model, schema) out of the garbage collector's
    sight, once, when the worker is ready.

    Measured (issue 17): with ~300,000 long-lived objects, each full collection took
    0.5-1 s on a busy 2-core machine and found nothing to free (every one collected 0); it
    came every ~10 s under load and stopped the event loop, so the requests in flight
    waited for it: the p99 of 450-600 ms. Frozen objects are never scanned again, so a
    full collection only walks what requests allocate (a few thousand objects).
    """
    gc.collect()
    gc.freeze()


async def _model_card(_: Request) -> PlainTextResponse:
    card = PARAMS.paths.card
    if not card.exists():
        return PlainTextResponse(
            f"no model card at {card} in this build: `make bento` writes it (make model-card)",
            status_code=404,
        )
    return PlainTextResponse(card.read_text(), media_type="text/markdown; charset=utf-8")


# Mounted at the root: BentoML's mount is passive (only /model-card matches it), so GET
# /model-card answers without a redirect and every other route stays BentoML's.
CARD_APP = Starlette(routes=[Route("/model-card", _model_card)])


@bentoml.service(
    name=SERVE.name,
    workers=SERVE.workers,
    traffic={"timeout": SERVE.timeout, "max_concurrency": SERVE.max_concurrency},
    http={"port": SERVE.port},
    tracing=tracing(SERVE.trace_predictions),
    logging={
        "access": {
            "enabled": SERVE.access_log,
            "skip_paths": ["/livez", "/readyz", "/metrics"],
        }
    },
)
@bentoml.asgi_app(CARD_APP, path="/")
class ModelService:
    model_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        from mlops.serving.predictor import model_executor, serving_predictor

        # the fast path `make bento` compiled, checked on probe records (no Pipeline to load)
        self.predictor = serving_predictor(MODEL_TAG, PARAMS)
        self.version = self.predictor.version
        self.log = PredictionLog(log_path(SERVE.prediction_log), SERVE)
        # the batcher makes one model call at a time; /predict_batch calls overlap
        self.executor = model_executor(SERVE.model_threads, SERVE.model_calls)
        # The compiled fast path scores a merged batch in ~25 us a row: on the event loop.
        # The Pipeline (~10 ms a call) stays in the model thread, off the loop.
        self.batcher = (
            MicroBatcher(
                self._score,
                SERVE.max_batch_size,
                self.executor,
                inline=self.predictor.engine == "compiled",
            )
            if SERVE.batching
            else None
        )
        settle_heap()

    def __is_ready__(self) -> bool:
        return self.predictor is not None

    def _score(self, items: list[tuple[dict[str, Any], str]]) -> list[dict[str, Any]]:
        """Predict, log and count a batch of (record, request id); runs in the model thread."""
        records = [record for record, _ in items]
        results = self.predictor.predict(records)
        self.log.write(
            records, results, version=self.version, request_ids=[rid for _, rid in items]
        )
        metrics.count(results)
        return results

    async def _in_model_thread(self, items: list[tuple[dict[str, Any], str]]) -> list[Any]:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._score, items)

    def _request_id(self, ctx: bentoml.Context) -> str:
        rid = request_id(ctx.request.headers.get("x-request-id"))
        ctx.response.headers["x-request-id"] = rid
        return rid

    @bentoml.api(route="/predict", input_spec=None)
    async def predict(self, record: Record, /, ctx: bentoml.Context) -> Prediction:  # type: ignore[valid-type]
        """Predict one record: probability, label, threshold and model version."""
        rid = self._request_id(ctx)
        item = (record.model_dump(), rid)  # type: ignore[attr-defined]
        if self.batcher is not None:
            result = await self.batcher.submit(item)
        else:
            result = (await self._in_model_thread([item]))[0]
        return Prediction(
            **result,
            threshold=self.predictor.threshold,
            model_version=self.version,
            request_id=rid,
        )

    @bentoml.api(route="/predict_batch")
    async def predict_batch(self, records: Records, ctx: bentoml.Context) -> BatchPrediction:
        """Predict many records in one call (at most serve.max_batch_records)."""
        rid = self._request_id(ctx)
        items = [(record, f"{rid}-{i}") for i, record in enumerate(records)]
        results = await self._in_model_thread(items)
        # built without re-validating what the Predictor made (1,000 items: ~10 ms)
        return BatchPrediction.model_construct(
            predictions=results,  # the Predictor's dicts are BatchItems (typed dicts)
            threshold=self.predictor.threshold,
            model_version=self.version,
            request_id=rid,
        )

    @bentoml.on_shutdown
    async def _shutdown(self) -> None:
        if self.batcher is not None:
            await self.batcher.close()
        self.executor.shutdown(wait=True)  # a batch being scored finishes and is logged
        self.log.close()
