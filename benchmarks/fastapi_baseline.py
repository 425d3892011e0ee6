"""Baselines of benchmarks/service.py: a minimal FastAPI app serving the same model (no
batching, no logging, one model call per request), run with uvicorn by the benchmark as
`uvicorn fastapi_baseline:app --app-dir benchmarks --workers N`, with MLOPS_PARAMS (the
params.yaml to read), BENCH_MODEL (the model file) and BENCH_ENGINE set:

- ``pipeline``: the sklearn Pipeline on a one-row DataFrame, in FastAPI's thread pool (what
  a user writes first);
- ``fast``: the service's compiled fast path (:class:`mlops.serving.predictor.Predictor`),
  called on the event loop (what a skilled user writes).

Both take the service's request shapes: one record on /predict, ``{"records": [...]}`` on
/predict_batch.
"""

import os
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import Body, FastAPI

from mlops.core import model_io
from mlops.core.config import load_params
from mlops.serving.api import record_model
from mlops.serving.predictor import Predictor

params = load_params(os.environ["MLOPS_PARAMS"])
Record = record_model(params.schema)
model = model_io.load(Path(os.environ["BENCH_MODEL"]))
threshold = params.evaluate.threshold
FAST = os.environ.get("BENCH_ENGINE", "pipeline") == "fast"
predictor = Predictor(model, params.schema, threshold, "baseline") if FAST else None
if FAST and predictor.fast is None:
    raise SystemExit("BENCH_ENGINE=fast: this pipeline has no fast path (see fastpath.py)")
NUMBERS = [name for name, spec in params.schema.features.items() if spec.type != "category"]
app = FastAPI()


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The records as the Pipeline takes them (a null number is NaN, not an object None)."""
    table = pd.DataFrame(rows)
    table[NUMBERS] = table[NUMBERS].astype("float64")
    return table


@app.get("/readyz")
def readyz() -> dict[str, str]:
    return {}


def _answer(probabilities: Any) -> list[dict[str, Any]]:
    return [
        {"probability": round(float(p), 6), "label": int(p >= threshold)} for p in probabilities
    ]


if FAST:

    @app.post("/predict")
    async def predict_fast(record: Record) -> dict[str, Any]:
        return _answer(predictor.fast.predict_proba([record.model_dump()]))[0]

    @app.post("/predict_batch")
    async def predict_batch_fast(
        records: Annotated[list[Record], Body(embed=True)],
    ) -> dict[str, Any]:
        rows = [r.model_dump() for r in records]
        return {"predictions": _answer(predictor.fast.predict_proba(rows))}

else:

    @app.post("/predict")
    def predict(record: Record) -> dict[str, Any]:
        return _answer(model.predict_proba(frame([record.model_dump()]))[:, 1])[0]

    @app.post("/predict_batch")
    def predict_batch(records: Annotated[list[Record], Body(embed=True)]) -> dict[str, Any]:
        """The body is ``{"records": [...]}``, as the service's (embed=True)."""
        table = frame([r.model_dump() for r in records])
        return {"predictions": _answer(model.predict_proba(table)[:, 1])}
