"""Save and load the fitted pipeline with skops: no pickle, an explicit list of trusted types.

scikit-learn's docs warn that loading a pickle/joblib file can run arbitrary code. skops
stores the object graph as data and, on load, refuses any type not listed in
:data:`TRUSTED_TYPES`. A new estimator that needs more types fails loudly at load time with
the names to review and add here.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import skops.io as sio
from sklearn.pipeline import Pipeline

from mlops.core.errors import UserError

# Types skops does not trust by default but our pipelines need. Review before adding: each
# entry is a type the loader will construct from the file.
TRUSTED_TYPES = [
    "functools.partial",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
]
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# skops names objects and their array files after id(), which changes from run to run.
_OBJECT_ID = re.compile(rb'("__id__": )(\d+)|("file": ")(\d+)(\.npy")')


class UntrustedModelError(UserError):
    """The model file holds types outside the trusted list: refuse to load it."""


def _deterministic(archive: bytes) -> bytes:
    """Rewrite skops' zip so the same model always gives the same bytes.

    Object ids become sequence numbers (in order of appearance) and timestamps are fixed.
    Same bytes -> same hash in dvc.lock: rerunning the pipeline from the same commit leaves
    dvc.lock unchanged.
    """
    renumber: dict[bytes, bytes] = {}

    def stable(match: re.Match[bytes]) -> bytes:
        prefix, number = (match[1], match[2]) if match[1] else (match[3], match[4])
        new = renumber.setdefault(number, str(len(renumber)).encode())
        return prefix + new + (match[5] or b"")

    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(archive)) as source,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target,
    ):
        schema = _OBJECT_ID.sub(stable, source.read("schema.json"))
        files = {"schema.json": schema}
        for name in source.namelist():
            if name != "schema.json":
                stem, _, suffix = name.partition(".")
                files[renumber.get(stem.encode(), stem.encode()).decode() + "." + suffix] = (
                    source.read(name)
                )
        for name in sorted(files):
            entry = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, files[name])
    return out.getvalue()


def dumps(model: Pipeline) -> bytes:
    return _deterministic(sio.dumps(model))


def save(model: Pipeline, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dumps(model))


def loads(data: bytes, source: str = "model") -> Pipeline:
    untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    if untrusted:
        raise UntrustedModelError(
            f"{source} contains types outside the trusted list: {', '.join(untrusted)}. "
            f"Refusing to load it. If these come from an estimator you chose, review them and "
            f"add them to TRUSTED_TYPES in {__name__}."
        )
    return sio.loads(data, trusted=TRUSTED_TYPES)


def load(path: Path) -> Pipeline:
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: run `make run` (or `uv run dvc repro`) to train the model"
        )
    return loads(path.read_bytes(), source=str(path))
