"""The fast path compiled when the bento is built, checked in milliseconds when a worker starts.

Why (issue 17): a worker that loads the Pipeline imports skops, pandas and the whole of
scikit-learn, deserializes the model and compiles the fast path, checking it against the
Pipeline on probe records: ~4.5 s of the ~7 s a worker took to get ready. `make bento` does
that once (:func:`save`): next to the model in BentoML's store it writes ``fastpath.npz``,
plain arrays (read with ``allow_pickle=False``: no code runs when it is loaded) holding the
compiled path, the known categories, the probe records and the Pipeline's probabilities on
them, the model's MD5 and the scikit-learn version. A worker (:func:`load`) rebuilds the path
from it, importing only scikit-learn's tree walker, recomputes the probe probabilities and
serves with it only if they are bitwise the Pipeline's. A file made from another model, by
another scikit-learn version, or failing that check is not used: the worker loads the
Pipeline as before and logs why. While the walker is imported, pandas is hidden
(:func:`pandas_hidden`): scikit-learn imports it only to keep a name it never uses.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import version as installed
from pathlib import Path
from typing import Any

import numpy as np

from mlops.core.config import SchemaParams
from mlops.serving.fastpath import (
    CompiledBooster,
    Unsupported,
    exact,
    pipeline_proba,
    probe_records,
)

_log = logging.getLogger(__name__)
FILE = "fastpath.npz"  # inside the model's entry in BentoML's store, beside the model file
Known = dict[str, frozenset[str]]


def _text(value: Any) -> np.ndarray:
    return np.array(json.dumps(value))


@contextmanager
def pandas_hidden() -> Iterator[None]:
    """While scikit-learn is first imported, `import pandas` fails, so scikit-learn skips it.

    scikit-learn imports pandas whenever it is installed (``sklearn.utils.fixes`` keeps it
    as ``pd``, a name nothing reads: its one pandas helper takes pandas as an argument),
    about 1 s of a worker's ~8 s start (``python -X importtime``; issue 17). The prebuilt
    path never uses pandas. Afterwards pandas imports as usual (for the Pipeline, if the
    check below fails), and scikit-learn's DataFrame checks look for it in sys.modules when
    they run. Nothing is hidden when pandas or scikit-learn is loaded already.
    """
    if "pandas" in sys.modules or "sklearn" in sys.modules:
        yield
        return
    sys.modules["pandas"] = None  # type: ignore[assignment]  # the import system's "absent"
    try:
        yield
    finally:
        if "pandas" in sys.modules and sys.modules["pandas"] is None:
            del sys.modules["pandas"]


def store_fast_path(
    path: Path,
    compiled: CompiledBooster,
    model: Any,
    schema: SchemaParams,
    known: Mapping[str, frozenset[str]],
    md5: str,
) -> bool:
    """Write ``compiled`` (the fast path of ``model``, whose file has MD5 ``md5``) to
    ``path``; False (nothing written) when its loss has no saved form."""
    try:
        arrays = compiled.arrays()
    except Unsupported as exc:
        _log.info("fast path not saved (%s): workers compile it at start", exc)
        return False
    probe = probe_records(model, schema)
    np.savez(
        path,
        **arrays,
        probe=_text(probe),
        expected=np.asarray(pipeline_proba(model, schema, probe), dtype=np.float64),
        known_categories=_text({name: sorted(values) for name, values in known.items()}),
        model_md5=np.array(md5),
        sklearn=np.array(installed("scikit-learn")),
    )
    return True


def load_fast_path(path: Path, md5: str) -> tuple[CompiledBooster, Known] | None:
    """The fast path saved at ``path`` and the known categories, if it was made from the
    model with MD5 ``md5`` by this scikit-learn and still gives the Pipeline's exact
    probabilities on the probe records; None (and why, logged) otherwise."""
    if not path.exists():
        _log.info("no %s beside the model (a bento built before it existed)", path.name)
        return None
    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    why = None
    if str(arrays["model_md5"]) != md5:
        why = f"it was compiled from model {arrays['model_md5']}, not {md5}"
    elif str(arrays["sklearn"]) != installed("scikit-learn"):
        why = f"it was compiled with scikit-learn {arrays['sklearn']}"
    if why is None:
        with pandas_hidden():
            compiled = CompiledBooster.from_arrays(arrays)
        probe, expected = json.loads(str(arrays["probe"])), arrays["expected"]
        if exact(compiled, probe, expected):
            known = json.loads(str(arrays["known_categories"]))
            return compiled, {name: frozenset(values) for name, values in known.items()}
        why = "its probabilities on the probe records are not the Pipeline's"
    _log.warning("%s not used (%s): the worker loads the Pipeline and compiles it", path, why)
    return None
