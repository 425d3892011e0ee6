"""Baseline of benchmarks/service.py: a minimal FastAPI app serving the same model (one
process, no batching, no logging, the Pipeline called per request).

Run by the benchmark as `uvicorn fastapi_baseline:app --app-dir benchmarks`, with
MLOPS_PARAMS (the params.yaml to read) and BENCH_MODEL (the model file) set.
"""

import os
from pathlib import Path
from typing import Annotated

import pandas as pd
from fastapi import Body, FastAPI

from mlops.core import model_io
from mlops.core.config import load_params
from mlops.serving.api import record_model

params = load_params(os.environ["MLOPS_PARAMS"])
Record = record_model(params.schema)
model = model_io.load(Path(os.environ["BENCH_MODEL"]))
threshold = params.evaluate.threshold
app = FastAPI()


@app.get("/readyz")
def readyz() -> dict[str, str]:
    return {}


@app.post("/predict")
def predict(record: Record) -> dict[str, float | int]:
    p = float(model.predict_proba(pd.DataFrame([record.model_dump()]))[0, 1])
    return {"probability": p, "label": int(p >= threshold)}


@app.post("/predict_batch")
def predict_batch(records: Annotated[list[Record], Body(embed=True)]) -> dict[str, list[float]]:
    """The body is ``{"records": [...]}``, as the service's (embed=True)."""
    frame = pd.DataFrame([r.model_dump() for r in records])
    return {"probability": model.predict_proba(frame)[:, 1].round(6).tolist()}
