"""The service's own Prometheus counters, next to BentoML's request metrics on ``/metrics``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import bentoml

PREDICTIONS = bentoml.metrics.Counter(
    name="predictions",
    documentation="Predictions served, by predicted label",
    labelnames=["label"],
)
UNKNOWN_CATEGORIES = bentoml.metrics.Counter(
    name="unknown_categories",
    documentation="Records with a category the model never saw (served as missing), by feature",
    labelnames=["feature"],
)


def count(results: Sequence[Mapping[str, Any]]) -> None:
    """Count a batch of the Predictor's answers: one update per label and feature, not per
    row."""
    labels = Counter(result["label"] for result in results)
    unknown = Counter(f for result in results for f in result["unknown_categories"])
    for label, n in labels.items():
        PREDICTIONS.labels(label=label).inc(n)
    for feature, n in unknown.items():
        UNKNOWN_CATEGORIES.labels(feature=feature).inc(n)
