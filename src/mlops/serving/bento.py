"""The model in BentoML's model store: imported from the pipeline's output, verified.

:func:`import_model` copies ``paths.model`` into the store as ``<serve.name>:<md5 prefix>``
only if its MD5 is the one ``dvc.lock`` records, with labels naming the git commit, the data
hash and the key metrics. :func:`load_stored_model` is what the service runs at start-up:
the same hash check again, then the skops loader with its trusted-type list.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from mlops.core import model_io
from mlops.core.config import Params, ServeParams
from mlops.serving.runtime import ModelMismatchError, locked_md5, model_version, verify_model

MODEL_FILE = "model.skops"
KEY_METRICS = ("roc_auc", "pr_auc", "f1", "precision", "recall", "log_loss")


def git_commit(root: Path = Path()) -> str:
    """The commit being built: GITHUB_SHA in CI, else `git rev-parse HEAD` (+ '-dirty')."""
    if sha := os.environ.get("GITHUB_SHA"):
        return sha
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def model_tag(params: Params, serve: ServeParams) -> str:
    """``name:version`` of the model dvc.lock records (version = MD5 prefix)."""
    return f"{serve.name}:{model_version(locked_md5(serve.lock, params.paths.model))}"


def labels_and_metadata(
    params: Params, serve: ServeParams, md5: str
) -> tuple[dict[str, str], dict[str, Any]]:
    metrics: dict[str, Any] = {}
    if params.paths.metrics.exists():
        metrics = json.loads(params.paths.metrics.read_text())
    try:
        data_md5 = locked_md5(serve.lock, params.paths.raw, kind="deps")
    except ModelMismatchError:
        data_md5 = "unknown"
    labels = {
        "git_commit": git_commit(),
        "data_md5": data_md5,
        "model_md5": md5,
        "estimator": params.train.estimator,
        **{k: f"{metrics[k]:.4f}" for k in KEY_METRICS if isinstance(metrics.get(k), float)},
    }
    metadata = {
        "metrics": metrics,
        "threshold": params.evaluate.threshold,
        "features": params.schema.feature_names,
        "source": str(params.paths.model),
    }
    return labels, metadata


def import_model(params: Params, serve: ServeParams) -> tuple[str, bool]:
    """Put the locked model into the BentoML store; return (tag, whether it was new)."""
    import bentoml
    from bentoml.exceptions import NotFound

    md5 = verify_model(params.paths.model, serve.lock)
    tag = f"{serve.name}:{model_version(md5)}"
    try:
        stored = bentoml.models.get(tag)
    except NotFound:
        stored = None
    if stored is not None:
        verify_model(Path(stored.path_of(MODEL_FILE)), serve.lock, expected=md5)
        return tag, False
    labels, metadata = labels_and_metadata(params, serve, md5)
    with bentoml.models.create(tag, labels=labels, metadata=metadata) as model:
        shutil.copyfile(params.paths.model, model.path_of(MODEL_FILE))
    return tag, True


def load_stored_model(tag: str, serve: ServeParams, params: Params) -> tuple[Any, str]:
    """The service's start-up: find ``tag`` in the store, check its MD5, load it safely."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        stored = bentoml.models.get(tag)
    except NotFound:
        raise ModelMismatchError(
            f"model {tag} (the one {serve.lock} records) is not in the BentoML model store: "
            "run `make bento` (or `uv run mlops service import-model`) to import it."
        ) from None
    path = Path(stored.path_of(MODEL_FILE))
    md5 = verify_model(path, serve.lock, expected=locked_md5(serve.lock, params.paths.model))
    return model_io.load(path), md5
