"""Stage ``train``: fit one sklearn ``Pipeline`` (preprocessing + estimator).

The fitted pipeline is the artifact: training, evaluation and the service share one feature
path, so what is served is what was evaluated. The estimator and its hyper-parameters come
from ``params.yaml`` (``train.estimator`` and the mapping of the same name).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from mlops.core import model_io
from mlops.core.config import SchemaParams, TrainParams
from mlops.yours.estimators import ESTIMATORS


def build_pipeline(schema: SchemaParams, params: TrainParams) -> Pipeline:
    """An unfitted pipeline for the estimator named in ``params``."""
    try:
        factory = ESTIMATORS[params.estimator]
    except KeyError:
        raise ValueError(
            f"train.estimator in params.yaml is {params.estimator!r}; "
            f"known estimators: {', '.join(ESTIMATORS)} (add one in mlops.yours.estimators)"
        ) from None
    try:
        return factory(schema, params.hyperparameters(), params.seed)
    except TypeError as exc:
        raise ValueError(f"train.{params.estimator} in params.yaml: {exc}") from None


def features_and_target(table: pd.DataFrame, schema: SchemaParams) -> tuple[pd.DataFrame, Any]:
    """The model's inputs (in schema order) and the 0/1 target."""
    return table[schema.feature_names], table[schema.target].to_numpy(dtype=np.int8)


@contextmanager
def openmp_threads(threads: int) -> Iterator[None]:
    """Run the block on exactly ``threads`` OpenMP threads, whatever the host has.

    HistGradientBoosting sums its histograms in per-thread chunks, so the fitted trees (the
    model's bytes, its metrics) change with the thread count. threadpool_limits sets OpenMP's
    count; scikit-learn still lowers it to the host's physical cores unless OMP_NUM_THREADS
    is set (sklearn.utils._openmp_helpers), so the variable is set inside the block too.
    """
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        with threadpool_limits(limits=threads, user_api="openmp"):
            yield
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved


def train(table: pd.DataFrame, schema: SchemaParams, params: TrainParams) -> Pipeline:
    """Fit the configured pipeline on ``table`` (the training window), on ``params.threads``
    OpenMP threads so every host trains the same model."""
    features, target = features_and_target(table, schema)
    if len(np.unique(target)) < 2:
        raise ValueError(
            f"the training window holds only one class of '{schema.target}': "
            "move prepare.train_start / test_start in params.yaml to cover both classes"
        )
    with openmp_threads(params.threads):
        return build_pipeline(schema, params).fit(features, target)


def main(train_path: Path, model_path: Path, schema: SchemaParams, params: TrainParams) -> None:
    table = pd.read_parquet(train_path)
    print(f"train: fitting {params.estimator} on {len(table):,} rows ...", flush=True)
    model = train(table, schema, params)
    model_io.save(model, model_path)
    print(f"train: model -> {model_path}")
