"""BentoML's floor for benchmarks/service.py: a service with the same settings as the real
one (workers, traffic, access log, tracing, and the accept balancing and timeout of
mlops.serving.traffic) and the same request and answer types, whose endpoints answer a
constant without a model, a log or a counter. What it reaches is what any BentoML service
of this shape can reach on the machine: the real service's distance to it is the service's
own cost; the floor's distance to FastAPI is the framework's. Run by the benchmark as
`bentoml serve bentoml_floor:Floor --working-dir benchmarks`, with MLOPS_PARAMS set.
"""

import os
from pathlib import Path

import bentoml

from mlops.core.config import load_params
from mlops.serving.api import (
    BatchPrediction,
    Prediction,
    record_dict,
    record_model,
    records_type,
)
from mlops.serving.traffic import tracing, tune_server

PARAMS = load_params(Path(os.environ["MLOPS_PARAMS"]))
SERVE = PARAMS.serve
Record = record_model(PARAMS.schema)  # the service's request types (mlops.serving.service)
Records = records_type(record_dict(PARAMS.schema), SERVE.max_batch_records)
ANSWER = {"probability": 0.5, "label": PARAMS.schema.positive_label, "unknown_categories": {}}
THRESHOLD = PARAMS.evaluate.threshold
PREDICTION = Prediction(**ANSWER, threshold=THRESHOLD, model_version="floor", request_id="floor")
tune_server()


@bentoml.service(
    name="bentoml-floor",
    workers=SERVE.workers,
    traffic={"timeout": SERVE.timeout, "max_concurrency": SERVE.max_concurrency},
    logging={"access": {"enabled": False}},
    tracing=tracing(SERVE.trace_predictions),
)
class Floor:
    def __is_ready__(self) -> bool:
        return True

    @bentoml.api(route="/predict", input_spec=None)
    async def predict(self, record: Record, /) -> Prediction:  # type: ignore[valid-type]
        return PREDICTION

    @bentoml.api(route="/predict_batch")
    async def predict_batch(self, records: Records) -> BatchPrediction:
        return BatchPrediction.model_construct(  # as the service builds its answer
            predictions=[ANSWER] * len(records),
            threshold=THRESHOLD,
            model_version="floor",
            request_id="floor",
        )
