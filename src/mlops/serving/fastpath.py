"""A fast inference path for the fitted gradient-boosting pipeline, with the same answers.

Why: the sklearn ``Pipeline`` costs about 10 ms of CPU per ``predict_proba`` call whatever
the number of rows (a pandas DataFrame, two ColumnTransformers with their validation, then
one Python-level call per tree: 300 trees). One record alone costs as much as a hundred, so
a service answering single records spends nearly all its time there.

How: the same fitted objects, without the per-call overhead.

- Encoding: each categorical value maps through the two fitted ``OrdinalEncoder`` s (the
  pipeline's and the booster's own) composed into one dict, built once; numbers pass
  through as float64. Records become the booster's input matrix without pandas.
- Trees: scikit-learn's own Cython tree walker (``_predict_from_raw_data``, the function
  ``predict_proba`` ends in) does the traversal, so missing values, categorical splits and
  unknown categories follow exactly its rules. For a few rows, all trees go in ONE call: a
  small router tree on an extra "tree number" column sends each (row, tree) pair to the
  root of its tree. For many rows, one call per tree (the pipeline's loop, without pandas).
- Sum and link: leaf values are added in the booster's order, starting from its baseline,
  and go through the booster's own loss link, so probabilities are bitwise the same.

Safety: :func:`compile_pipeline` returns ``None`` (and the service uses the Pipeline) for any
other pipeline shape (e.g. ``train.estimator: logistic_regression``) or scikit-learn version
whose internals differ, and it refuses a path that does not give exactly the pipeline's
probabilities on probe records covering every known category, unknown categories and
missing values.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlops.core.config import SchemaParams

log = logging.getLogger(__name__)

ROUTER_MAX_ROWS = 96  # above this, one tree walk per tree is cheaper (measured: ~100 rows)
_UNKNOWN = "\x00unknown category"  # a value no encoder can have seen


class Unsupported(Exception):
    """The pipeline is not the shape this path knows: serve it with the Pipeline."""


def _outer_encoding(model: Any) -> tuple[dict[str, Any], list[str]]:
    """Per input column of the pipeline: the outer encoder's categories (or None = number)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

    steps = getattr(model, "steps", None)
    if not steps or len(steps) != 2 or not isinstance(steps[0][1], ColumnTransformer):
        raise Unsupported("not a Pipeline(ColumnTransformer, estimator)")
    columns: dict[str, Any] = {}
    for name, transformer, selected in steps[0][1].transformers_:
        if transformer == "drop":
            continue
        if name == "remainder" or not isinstance(selected, list | tuple):
            raise Unsupported(f"transformer {name!r} does not select columns by name")
        identity = isinstance(transformer, FunctionTransformer) and transformer.func is None
        if transformer == "passthrough" or identity:  # fitted 'passthrough' is the latter
            columns.update((column, None) for column in selected)
        elif isinstance(transformer, OrdinalEncoder):
            if not (
                transformer.handle_unknown == "use_encoded_value"
                and _is_nan(transformer.unknown_value)
                and _is_nan(transformer.encoded_missing_value)
            ):
                raise Unsupported("OrdinalEncoder must encode unknown and missing as NaN")
            for column, categories in zip(selected, transformer.categories_, strict=True):
                columns[column] = list(categories)
        else:
            raise Unsupported(f"transformer {name!r} is {type(transformer).__name__}")
    names = [str(n) for n in steps[0][1].get_feature_names_out()]
    if names != list(columns):
        raise Unsupported("the ColumnTransformer reorders or renames its columns")
    return columns, names


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _inner_layout(
    booster: Any, names: list[str]
) -> tuple[list[str], dict[str, dict[float, float]]]:
    """The booster's internal column order and, per categorical column, its code mapping."""
    pre = getattr(booster, "_preprocessor", None)
    if pre is None:  # no categorical features: the booster takes the columns as they come
        return names, {}
    order: list[str] = []
    remap: dict[str, dict[float, float]] = {}
    for _, transformer, mask in pre.transformers_:
        if transformer == "drop":
            continue
        selected = [n for n, keep in zip(names, np.asarray(mask), strict=True) if keep]
        order.extend(selected)
        if hasattr(transformer, "categories_"):
            for column, categories in zip(selected, transformer.categories_, strict=True):
                # NaN (missing in training) stays NaN: the encoder's encoded_missing_value
                remap[column] = {
                    float(c): float(i) for i, c in enumerate(categories) if not _is_nan(float(c))
                }
    if sorted(order) != sorted(names):
        raise Unsupported("the booster's preprocessor drops or repeats columns")
    return order, remap


def _binary_booster(model: Any) -> Any:
    """The pipeline's last step, if it is a binary 0/1 HistGradientBoostingClassifier."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    booster = model.steps[-1][1]
    if not isinstance(booster, HistGradientBoostingClassifier):
        raise Unsupported(f"the estimator is {type(booster).__name__}")
    if booster.n_trees_per_iteration_ != 1 or list(booster.classes_) != [0, 1]:
        raise Unsupported("not a binary 0/1 classifier")
    return booster


def _column_codes(
    column: str, categories: list[Any] | None, inner: dict[float, float] | None
) -> dict[str | None, float] | None:
    """Value -> float code in the booster's matrix for a categorical column (None for a
    number): the outer encoder's position, through the booster's own encoder (``inner``)
    when it has one."""
    if categories is None:
        return None
    codes: dict[str | None, float] = {}  # None: a nullable category's own code
    for i, category in enumerate(categories):
        if isinstance(category, float) and math.isnan(category):
            continue  # NaN is "missing": encoded_missing_value (NaN), the default of matrix()
        if category is not None and not isinstance(category, str):
            raise Unsupported(f"non-text category {category!r} in {column!r}")
        codes[category] = float(i) if inner is None else inner.get(float(i), math.nan)
    return codes


class CompiledBooster:
    """Records in, probabilities of the positive class out: the pipeline's, faster."""

    def __init__(self, model: Any, schema: SchemaParams) -> None:
        from sklearn.ensemble._hist_gradient_boosting._predictor import (
            _predict_from_raw_data,
        )
        from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

        booster = _binary_booster(model)
        outer, names = _outer_encoding(model)
        if set(outer) != set(schema.feature_names):
            raise Unsupported("the pipeline's columns are not schema.features")
        order, remap = _inner_layout(booster, names)
        self._columns = [
            (column, _column_codes(column, outer[column], remap.get(column))) for column in order
        ]

        self._walk = _predict_from_raw_data
        self._link = booster._loss.predict_proba
        self._baseline = float(np.asarray(booster._baseline_prediction).ravel()[0])
        self._known, self._f_idx_map = booster._bin_mapper.make_known_categories_bitsets()
        trees = [predictors[0] for predictors in booster._predictors]
        self._trees = [(t.nodes, t.raw_left_cat_bitsets) for t in trees]
        self._n_trees = len(trees)
        self._n_features = len(order)
        self._nodes, self._bitsets = self._router(trees, PREDICTOR_RECORD_DTYPE)
        self._router_map = np.append(self._f_idx_map, np.uint32(0)).astype(self._f_idx_map.dtype)
        self._tree_numbers = np.arange(self._n_trees, dtype=np.float64)[:, None]

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything this path computes with, as plain arrays (no object, no pickle): what
        :meth:`from_arrays` rebuilds it from without the Pipeline (mlops.serving.prebuilt)."""
        link = getattr(self._link, "__self__", None)
        if type(link).__name__ != "HalfBinomialLoss":
            raise Unsupported(f"the booster's loss is {type(link).__name__}")
        columns = [(name, codes and list(codes.items())) for name, codes in self._columns]
        return {
            "columns": np.array(json.dumps(columns)),  # codes as pairs: a key may be None
            "baseline": np.array(self._baseline),
            "known": self._known,
            "f_idx_map": self._f_idx_map,
            "tree_nodes": np.concatenate([nodes for nodes, _ in self._trees]),
            "tree_sizes": np.array([len(nodes) for nodes, _ in self._trees]),
            "tree_bitsets": np.concatenate([bitsets for _, bitsets in self._trees]),
            "bitset_sizes": np.array([len(bitsets) for _, bitsets in self._trees]),
            "router_nodes": self._nodes,
            "router_bitsets": self._bitsets,
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> CompiledBooster:
        """The path :meth:`arrays` describes: imports only scikit-learn's tree walker and
        binary link, never the Pipeline, skops or pandas (the service's cold start)."""
        from sklearn._loss.loss import HalfBinomialLoss
        from sklearn.ensemble._hist_gradient_boosting._predictor import (
            _predict_from_raw_data,
        )

        self = cls.__new__(cls)
        self._columns = [
            (name, None if pairs is None else dict(pairs))
            for name, pairs in json.loads(str(arrays["columns"]))
        ]
        self._walk = _predict_from_raw_data
        self._link = HalfBinomialLoss().predict_proba
        self._baseline = float(arrays["baseline"])
        self._known, self._f_idx_map = arrays["known"], arrays["f_idx_map"]
        node_ends = np.cumsum(arrays["tree_sizes"])[:-1]
        bitset_ends = np.cumsum(arrays["bitset_sizes"])[:-1]
        self._trees = list(
            zip(
                np.split(arrays["tree_nodes"], node_ends),
                np.split(arrays["tree_bitsets"], bitset_ends),
                strict=True,
            )
        )
        self._n_trees = len(self._trees)
        self._n_features = len(self._columns)
        self._nodes, self._bitsets = arrays["router_nodes"], arrays["router_bitsets"]
        self._router_map = np.append(self._f_idx_map, np.uint32(0)).astype(self._f_idx_map.dtype)
        self._tree_numbers = np.arange(self._n_trees, dtype=np.float64)[:, None]
        return self

    def _router(self, trees: list[Any], dtype: Any) -> tuple[np.ndarray, np.ndarray]:
        """All trees in one node array behind a balanced router on column n_features.

        Router node for trees [lo, hi): "tree number <= mid - 0.5" goes left to [lo, mid).
        Each tree's child and bitset indices are shifted by where it lands in the array.
        """
        spans: list[tuple[int, int]] = []  # router nodes, breadth first, as (lo, hi)
        queue = [(0, self._n_trees)] if self._n_trees > 1 else []
        while queue:
            lo, hi = queue.pop(0)
            spans.append((lo, hi))
            mid = (lo + hi) // 2
            queue.extend(span for span in ((lo, mid), (mid, hi)) if span[1] - span[0] > 1)
        starts = np.cumsum([len(spans)] + [len(t.nodes) for t in trees])[:-1]
        bitset_starts = np.cumsum([0] + [len(t.raw_left_cat_bitsets) for t in trees])[:-1]
        router_index = {span: i for i, span in enumerate(spans)}

        def target(lo: int, hi: int) -> int:
            return int(starts[lo]) if hi - lo == 1 else router_index[(lo, hi)]

        nodes = np.zeros(int(starts[-1]) + len(trees[-1].nodes), dtype=dtype)
        for i, (lo, hi) in enumerate(spans):
            mid = (lo + hi) // 2
            nodes[i]["feature_idx"] = self._n_features
            nodes[i]["num_threshold"] = mid - 0.5
            nodes[i]["left"] = target(lo, mid)
            nodes[i]["right"] = target(mid, hi)
        for tree, start, bitset_start in zip(trees, starts, bitset_starts, strict=True):
            block = tree.nodes.copy()
            inner = block["is_leaf"] == 0
            block["left"][inner] += np.uint32(start)
            block["right"][inner] += np.uint32(start)
            block["bitset_idx"][block["is_categorical"] == 1] += np.uint32(bitset_start)
            nodes[start : start + len(block)] = block
        bitsets = np.ascontiguousarray(np.concatenate([t.raw_left_cat_bitsets for t in trees]))
        return nodes, bitsets

    def matrix(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The booster's input matrix: category codes and numbers, NaN where missing."""
        nan = math.nan
        out = np.empty((len(records), self._n_features), dtype=np.float64)
        for j, (name, codes) in enumerate(self._columns):
            if codes is None:
                out[:, j] = [nan if (v := r.get(name)) is None else v for r in records]
            else:
                out[:, j] = [codes.get(r.get(name), nan) for r in records]  # type: ignore[arg-type]
        return out

    def _leaves(self, x: np.ndarray) -> np.ndarray:
        """Leaf value of every (row, tree), shape (trees, rows)."""
        n = x.shape[0]
        leaves = np.empty((self._n_trees, n), dtype=np.float64)
        if n <= ROUTER_MAX_ROWS and self._n_trees > 1:
            routed = np.empty((self._n_trees, n, self._n_features + 1), dtype=np.float64)
            routed[:, :, : self._n_features] = x
            routed[:, :, self._n_features] = self._tree_numbers
            self._walk(
                self._nodes,
                routed.reshape(-1, self._n_features + 1),
                self._bitsets,
                self._known,
                self._router_map,
                1,
                leaves.reshape(-1),
            )
        else:
            for (nodes, bitsets), out in zip(self._trees, leaves, strict=True):
                self._walk(nodes, x, bitsets, self._known, self._f_idx_map, 1, out)
        return leaves

    def predict_proba(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Probability of class 1 per record, as ``pipeline.predict_proba(...)[:, 1]``."""
        x = self.matrix(records)
        raw = np.empty((x.shape[0], self._n_trees + 1), dtype=np.float64)
        raw[:, 0] = self._baseline
        raw[:, 1:] = self._leaves(x).T
        # cumsum adds left to right, in the booster's order: baseline + tree 0 + tree 1 ...
        total = np.cumsum(raw, axis=1)[:, -1:]
        return self._link(total)[:, 1]


def probe_records(model: Any, schema: SchemaParams, rows: int = 160) -> list[dict[str, Any]]:
    """Records covering every known category, unknown categories, missing values (nullable
    features) and each number's range: what the fast path is checked on."""
    rng = np.random.default_rng(0)
    outer, _ = _outer_encoding(model)
    records: list[dict[str, Any]] = [{} for _ in range(rows)]
    for name, spec in schema.features.items():
        if spec.type == "category":
            values = [*(outer.get(name) or spec.values or []), _UNKNOWN]
            column: list[Any] = [values[i % len(values)] for i in range(rows)]
        else:
            low = spec.min if spec.min is not None else -1e3
            high = spec.max if spec.max is not None else 1e3
            draw = rng.uniform(low, high, rows)
            column = [round(float(v)) if spec.type == "int" else float(v) for v in draw]
            column[0], column[1] = (int(low), int(high)) if spec.type == "int" else (low, high)
            if spec.nullable:
                column = [None if rng.random() < 0.2 else v for v in column]
        for record, value in zip(records, column, strict=True):
            record[name] = value
    return records


def pipeline_proba(model: Any, schema: SchemaParams, records: Sequence[Mapping[str, Any]]) -> Any:
    """The pipeline's probabilities, from a frame built as the service's Predictor builds it."""
    import pandas as pd  # not at import: a worker serving the prebuilt path never needs it

    frame = pd.DataFrame(
        {
            name: pd.Series(
                [r.get(name) for r in records],
                dtype=object if spec.type == "category" else "float64",
            )
            for name, spec in schema.features.items()
        }
    )
    return model.predict_proba(frame)[:, 1]


def exact(compiled: CompiledBooster, probe: Sequence[Mapping[str, Any]], expected: Any) -> bool:
    """Whether ``compiled`` gives bitwise ``expected`` (the Pipeline's probabilities) on
    ``probe``, walked as a large batch (one call per tree) and as a small one (one call)."""
    few = probe[:ROUTER_MAX_ROWS]
    return np.array_equal(compiled.predict_proba(probe), expected) and np.array_equal(
        compiled.predict_proba(few), expected[: len(few)]
    )


def compile_pipeline(model: Any, schema: SchemaParams) -> CompiledBooster | None:
    """The fast path for ``model``, or None when it is not supported or not exact."""
    try:
        compiled = CompiledBooster(model, schema)
        probe = probe_records(model, schema)
        expected = pipeline_proba(model, schema, probe)
        same = exact(compiled, probe, expected)
    except Unsupported as exc:
        log.info("fast path not used (%s): predictions go through the sklearn Pipeline", exc)
        return None
    except Exception as exc:  # internals of another scikit-learn version: stay correct
        log.warning("fast path not used (%r): predictions go through the sklearn Pipeline", exc)
        return None
    if not same:
        log.warning(
            "fast path not used: its probabilities differ from the sklearn Pipeline's on "
            "probe records; predictions go through the Pipeline"
        )
        return None
    return compiled
