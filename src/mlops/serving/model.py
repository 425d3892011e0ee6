"""Which model the service may serve, and loading it: the one ``dvc.lock`` records, by MD5.

``dvc.lock`` is the pipeline's record of the model it produced and evaluated. A file whose
MD5 is not that one is refused (:class:`ModelMismatchError`), at start-up and when
``make bento`` imports it. The model in BentoML's store is tagged ``<serve.name>:<version>``
(:func:`model_tag`), the version being the MD5's first 12 characters.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from mlops.core.config import Params
from mlops.core.errors import UserError

MODEL_FILE = "model.skops"  # the model's file inside its BentoML store entry


class ModelMismatchError(UserError):
    """The model file is not the one dvc.lock records: refuse to serve it."""


def md5_of(path: Path) -> str:
    digest = hashlib.md5()  # DVC's content hash, not a security boundary
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _lock_entries(lock: Path) -> dict[str, Any]:
    if not lock.exists():
        raise ModelMismatchError(
            f"{lock} not found: it records which model file the pipeline produced. "
            "Run `make run` (dvc repro) to train the model and write it."
        )
    data = yaml.safe_load(lock.read_text()) or {}
    return data.get("stages") or {}


def locked_md5(lock: Path, path: Path, kind: str = "outs") -> str:
    """The MD5 ``dvc.lock`` records for ``path`` among the stages' ``outs`` (or ``deps``)."""
    for stage in _lock_entries(lock).values():
        for entry in stage.get(kind) or []:
            recorded = Path(entry.get("path", ""))  # relative to the lock file's folder
            same = recorded == Path(path) or (
                (lock.parent / recorded).resolve() == Path(path).resolve()
            )
            if same and "md5" in entry:
                return str(entry["md5"])
    raise ModelMismatchError(
        f"{lock} records no {kind[:-1]} '{path}': the pipeline did not produce it. "
        "Run `make run` (dvc repro) so dvc.lock records the model, then retry."
    )


def verify_model(path: Path, lock: Path, expected: str | None = None) -> str:
    """Check ``path`` against its MD5 in ``lock`` (or ``expected``); return the MD5."""
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `make run` to train the model")
    expected = expected or locked_md5(lock, path)
    actual = md5_of(path)
    if actual != expected:
        raise ModelMismatchError(
            f"refusing to serve {path}: its MD5 is {actual} but {lock} records {expected}, so "
            "it is not the model the pipeline produced and evaluated. Run `make run` "
            "(dvc repro) to rebuild it, or `uv run dvc checkout` to restore the locked one."
        )
    return actual


def model_version(md5: str) -> str:
    return md5[:12]


def model_tag(params: Params) -> str:
    """``name:version`` of the model dvc.lock records (version = MD5 prefix)."""
    serve = params.serve
    return f"{serve.name}:{model_version(locked_md5(serve.lock, params.paths.model))}"


def stored_model(tag: str, params: Params) -> tuple[Path, str]:
    """Find ``tag`` in the store and check its MD5 (milliseconds: no model library is
    imported); return the file and its MD5."""
    import bentoml
    from bentoml.exceptions import NotFound

    lock = params.serve.lock
    try:
        stored = bentoml.models.get(tag)
    except NotFound:
        raise ModelMismatchError(
            f"model {tag} (the one {lock} records) is not in the BentoML model store: "
            "run `make bento` to import it."
        ) from None
    path = Path(stored.path_of(MODEL_FILE))
    return path, verify_model(path, lock, expected=locked_md5(lock, params.paths.model))


def load_stored_model(tag: str, params: Params) -> tuple[Any, str]:
    """The service's start-up: find ``tag`` in the store, check its MD5, load it safely
    (skops, with its trusted-type list); return the model and its MD5."""
    from mlops.core import model_io  # scikit-learn and skops: seconds to import

    path, md5 = stored_model(tag, params)
    return model_io.load(path), md5
