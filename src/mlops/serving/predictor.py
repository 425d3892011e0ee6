"""Records in, probabilities and labels out: the fitted pipeline behind the service.

:class:`Predictor` uses the compiled fast path (:mod:`mlops.serving.fastpath`) when the
pipeline has one, else the sklearn ``Pipeline`` itself; both give the same probabilities.
:func:`model_executor` is the threads the model runs in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops.core.config import Params, SchemaParams
from mlops.serving import prebuilt
from mlops.serving.fastpath import CompiledBooster, compile_pipeline

if TYPE_CHECKING:
    import pandas as pd


def known_categories(model: Any, schema: SchemaParams) -> dict[str, frozenset[str]]:
    """Categories the fitted pipeline knows, per categorical feature (from its encoder)."""
    known: dict[str, frozenset[str]] = {}
    preprocess = getattr(model, "named_steps", {}).get("preprocess")
    for _, transformer, columns in getattr(preprocess, "transformers_", []):
        steps = getattr(transformer, "steps", None) or [(None, transformer)]
        encoder = next((s for _, s in steps if hasattr(s, "categories_")), None)
        if encoder is None or not isinstance(columns, list | tuple):
            continue
        for column, values in zip(columns, encoder.categories_, strict=False):
            known[column] = frozenset(str(v) for v in values if isinstance(v, str))
    for name, spec in schema.features.items():
        if spec.type == "category" and name not in known and spec.values:
            known[name] = frozenset(spec.values)
    return known


class Predictor:
    """The fitted pipeline behind the service: records in, probabilities and labels out."""

    def __init__(
        self,
        model: Any,
        schema: SchemaParams,
        threshold: float,
        version: str,
        prebuilt_path: tuple[CompiledBooster, dict[str, frozenset[str]]] | None = None,
    ) -> None:
        """``model``: the fitted Pipeline; None with ``prebuilt_path`` (the fast path and the
        known categories mlops.serving.prebuilt loaded): no Pipeline in this process."""
        self.model = model
        self.schema = schema
        self.threshold = threshold
        self.version = version
        if prebuilt_path is not None:
            self.fast: CompiledBooster | None = prebuilt_path[0]
            self.known = prebuilt_path[1]
        else:
            self.known = known_categories(model, schema)
            # the same probabilities without the Pipeline's ~10 ms per call (None: unsupported)
            self.fast = compile_pipeline(model, schema)
        self._dtypes = {
            name: object if spec.type == "category" else "float64"
            for name, spec in schema.features.items()
        }

    def frame(self, records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        import pandas as pd  # the Pipeline's input; the fast path never needs pandas

        columns = {
            name: pd.Series([r.get(name) for r in records], dtype=dtype)
            for name, dtype in self._dtypes.items()
        }
        return pd.DataFrame(columns)

    def unknown(self, record: Mapping[str, Any]) -> dict[str, str]:
        return {
            name: value
            for name, values in self.known.items()
            if (value := record.get(name)) is not None and value not in values
        }

    def probabilities(self, records: Sequence[Mapping[str, Any]]) -> Any:
        """Probability of the positive class per record (the fast path when there is one)."""
        if self.fast is not None:
            return self.fast.predict_proba(records)
        return self.model.predict_proba(self.frame(records))[:, 1]

    @property
    def engine(self) -> str:
        return "compiled" if self.fast is not None else "pipeline"

    def unknowns(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
        """:meth:`unknown` of every record, one pass per categorical feature (a batch)."""
        found: dict[int, dict[str, str]] = {}
        for name, values in self.known.items():
            for i, record in enumerate(records):
                if (value := record.get(name)) is not None and value not in values:
                    found.setdefault(i, {})[name] = value
        return [found.get(i) or {} for i in range(len(records))]

    def predict(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        if not records:
            return []
        probability = np.asarray(self.probabilities(records), dtype=np.float64)
        positive = (probability >= self.threshold).tolist()
        labels = (self.schema.negative_label, self.schema.positive_label)
        return [
            {"probability": round(p, 6), "label": labels[is_positive], "unknown_categories": u}
            for p, is_positive, u in zip(
                probability.tolist(), positive, self.unknowns(records), strict=True
            )
        ]


def serving_predictor(tag: str, params: Params) -> Predictor:
    """The service's Predictor for the stored model ``tag`` (MD5 checked): from the fast path
    `make bento` saved beside it when that is valid (mlops.serving.prebuilt: no Pipeline,
    skops or pandas to import), else from the Pipeline itself."""
    from mlops.serving.model import model_version, stored_model

    path, md5 = stored_model(tag, params)
    threshold, version = params.evaluate.threshold, model_version(md5)
    ready = prebuilt.load_fast_path(Path(path).parent / prebuilt.FILE, md5)
    if ready is not None:
        return Predictor(None, params.schema, threshold, version, prebuilt_path=ready)
    from mlops.core import model_io  # scikit-learn and skops: seconds to import

    return Predictor(model_io.load(path), params.schema, threshold, version)


def model_executor(threads: int, calls: int = 1) -> ThreadPoolExecutor:
    """The threads that run the model: ``calls`` model calls at once, each thread's OpenMP
    pool limited to ``threads``.

    The limit is set inside each thread (OpenMP's thread count is a per-thread setting), so
    the model neither spins threads on every core nor competes with the HTTP server.
    Several calls overlap where the model releases the GIL: the compiled path's tree walk
    does, so a worker that holds two /predict_batch connections scores both at once
    (issue 17: the workers' accept race gave one worker both connections in 9 of 10 runs,
    and the other core idled).
    """

    def limit() -> None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)

    return ThreadPoolExecutor(calls, thread_name_prefix="model", initializer=limit)
