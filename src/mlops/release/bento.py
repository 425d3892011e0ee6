"""The bento: the locked model imported into BentoML's store, then the bento built.

:func:`import_model` copies ``paths.model`` into the store as ``<serve.name>:<md5 prefix>``
only if its MD5 is the one ``dvc.lock`` records, with labels naming the git commit, the data
hash and the key metrics. :func:`build_bento` builds the bento from ``bentofile.yaml``: the
serving code, params.yaml, dvc.lock and that model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import bentoml
from bentoml.exceptions import NotFound

from mlops.core.config import Params
from mlops.core.errors import UserError
from mlops.core.github import commit
from mlops.serving import prebuilt
from mlops.serving.model import (
    MODEL_FILE,
    ModelMismatchError,
    locked_md5,
    model_version,
    verify_model,
)

KEY_METRICS = ("roc_auc", "pr_auc", "f1", "precision", "recall", "log_loss")


def bento_tag(params: Params) -> str:
    """The service's latest bento: what `make serve`, `make smoke` and containerize use."""
    return f"{params.serve.name}:latest"


def _known(value: Any) -> Any:
    """``value`` without its null entries: BentoML's metadata refuses None (metrics.json has
    nulls where a number is undefined, e.g. a month of one class in the staleness curve)."""
    if isinstance(value, dict):
        return {k: _known(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_known(v) for v in value if v is not None]
    return value


def registry_version(params: Params) -> str:
    """The registry's version of this model (``v0.2.0``): the registered one with its MD5,
    else the one the merge registers (release/registry.py); ``unregistered`` outside git."""
    from mlops.release.registry import plan

    try:
        return plan(params).version
    except UserError as exc:
        print(f"registry: no version for the bento's labels ({exc})")
        return "unregistered"


def labels_and_metadata(params: Params, md5: str) -> tuple[dict[str, str], dict[str, Any]]:
    """What the stored model says about itself: commit, registry version, data and model
    MD5, estimator, key metrics (labels); every metric, the threshold, the features
    (metadata)."""
    metrics: dict[str, Any] = {}
    if params.paths.metrics.exists():
        metrics = json.loads(params.paths.metrics.read_text())
    try:
        data_md5 = locked_md5(params.serve.lock, params.paths.raw, kind="deps")
    except ModelMismatchError:
        data_md5 = "unknown"
    labels = {
        "git_commit": commit(),
        "registry_version": registry_version(params),
        "data_md5": data_md5,
        "model_md5": md5,
        "estimator": params.train.estimator,
        **{k: f"{metrics[k]:.4f}" for k in KEY_METRICS if isinstance(metrics.get(k), float)},
    }
    metadata = {
        "metrics": _known(metrics),
        "threshold": params.evaluate.threshold,
        "features": params.schema.feature_names,
        "source": str(params.paths.model),
    }
    return labels, metadata


def import_model(params: Params) -> tuple[str, bool]:
    """Put the locked model into the BentoML store; return (tag, whether it was new)."""
    lock = params.serve.lock
    md5 = verify_model(params.paths.model, lock)
    tag = f"{params.serve.name}:{model_version(md5)}"
    try:
        stored = bentoml.models.get(tag)
    except NotFound:
        stored = None
    if stored is not None:
        verify_model(Path(stored.path_of(MODEL_FILE)), lock, expected=md5)
        if Path(stored.path_of(prebuilt.FILE)).exists():
            return tag, False
    compiled = fast_path(params)
    if stored is not None:
        if compiled is None:
            return tag, False
        print(f"service: {tag} was stored without its compiled fast path: storing it again")
        bentoml.models.delete(tag)
    labels, metadata = labels_and_metadata(params, md5)
    with bentoml.models.create(tag, labels=labels, metadata=metadata) as model:
        shutil.copyfile(params.paths.model, model.path_of(MODEL_FILE))
        if compiled is not None:
            prebuilt.store_fast_path(Path(model.path_of(prebuilt.FILE)), *compiled, md5)
    return tag, True


def fast_path(params: Params) -> tuple[Any, Any, Any, Any] | None:
    """The model's compiled fast path (checked against the Pipeline on probe records), the
    model, the schema and the known categories: what prebuilt.store_fast_path writes beside
    the model so that a worker starts without loading the Pipeline (issue 17). None: no
    fast path."""
    from mlops.core import model_io
    from mlops.serving.fastpath import compile_pipeline
    from mlops.serving.predictor import known_categories

    model = model_io.load(params.paths.model)
    compiled = compile_pipeline(model, params.schema)
    if compiled is None:
        return None
    return compiled, model, params.schema, known_categories(model, params.schema)


def build_bento(bentofile: Path) -> str:
    """Build the bento ``bentofile`` describes, from the current folder; its tag."""
    return str(bentoml.bentos.build_bentofile(str(bentofile), build_ctx=".").tag)
