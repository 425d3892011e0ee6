"""The ``monitor`` section of ``params.yaml``, typed: drift tests, performance checks, the
replayed traffic and the alert. :mod:`mlops.core.config` loads it with the rest of the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from mlops.core.section import ParamsSection as _Section

# Evidently 0.7 drift methods this template documents (any name Evidently knows works).
# Distance methods (wasserstein, jensenshannon, psi, hellinger, ...) flag drift when the
# score is >= threshold; p-value tests (ks, chisquare, z, ...) when it is < threshold.


class DriftParams(_Section):
    num_method: str  # numeric features, e.g. wasserstein (normed Wasserstein distance)
    cat_method: str  # categorical features, e.g. jensenshannon (Jensen-Shannon distance)
    num_threshold: float = Field(gt=0.0)
    cat_threshold: float = Field(gt=0.0)
    per_feature_threshold: dict[str, float]
    # data drift = at least this share of the features drifted
    share: float = Field(gt=0.0, le=1.0)
    # prediction drift: distribution of the predicted probability (and of the labels)
    prediction_method: str
    prediction_threshold: float = Field(gt=0.0)


class PerformanceParams(_Section):
    # metrics compared with the model's evaluation (paths.metrics), once late labels exist
    metrics: list[Literal["roc_auc", "f1", "precision", "recall", "accuracy"]]
    max_drop: float = Field(ge=0.0)  # degraded = current < evaluated - max_drop
    min_labelled: int = Field(ge=1)  # fewer labelled predictions: not judged


_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def check_month(value: str, name: str = "month") -> str:
    """``value`` if it is a month ``YYYY-MM``, else a ValueError naming it and the form.

    The month may come from a workflow's dispatch input: nothing else gets through."""
    if not _MONTH.fullmatch(value):
        raise ValueError(f"{name} {value!r} is not a month: expected YYYY-MM, e.g. 2013-11")
    return value


class ReplayParams(_Section):
    # the window replayed as production traffic: one month `YYYY-MM`, or null = chosen from
    # the run date among the months after the training window (each day the next month)
    month: str | None
    requests: int = Field(ge=1, le=1_000_000)  # records sent (sampled)
    rate: float = Field(gt=0.0)  # requests per second, at most
    concurrency: int = Field(ge=1, le=64)  # requests in flight
    timeout: float = Field(gt=0.0)  # seconds per request
    max_errors: int = Field(ge=0)  # stop when more requests than this failed
    seed: int

    @model_validator(mode="after")
    def _month(self) -> ReplayParams:
        if self.month is not None:
            check_month(self.month, "replay.month")
        return self


class AlertParams(_Section):
    label: str = Field(min_length=1)  # the one open issue carries this label
    title: str = Field(min_length=1)
    retrain_after: int = Field(ge=1)  # consecutive drifted runs that start retraining
    retrain_months: int = Field(ge=1, le=24)  # how far the training window moves
    retrain_branch: str = Field(min_length=1)  # one PR


class MonitorParams(_Section):
    # prediction logs: a .jsonl file, a folder of *.jsonl[.gz] files, or any fsspec URL
    # (s3://bucket/logs/, gs://..., a DVC remote's path); the service writes serve.prediction_log
    logs: str
    # late labels: JSON lines {"<key>": ..., "<schema.target>": 0/1}; missing file = none yet
    labels: str
    key: str  # joins labels to predictions
    # the last `window` of the log is analysed ("7d", "12h", "30m"; None: all of it), ending at
    # the newest logged prediction; only `version` ("live": the newest logged one, "all", or a
    # version) -- so a load test last month or the previous model does not decide today
    window: str | None = Field(pattern=r"^[1-9][0-9]*[dhm]$")
    version: str = Field(min_length=1)
    history: str  # every run appends its summary (file or fsspec URL): the site's trend
    out: Path  # report.html, summary.json, summary.md (not in git)
    site: Path  # the GitHub Pages site: index.html + latest report
    reference_rows: int = Field(ge=100)  # training-window rows sampled
    current_rows: int = Field(ge=100)  # logged predictions sampled (reservoir)
    min_rows: int = Field(ge=1)  # fewer logged predictions: "insufficient data"
    block_bytes: int = Field(ge=1 << 16)  # bytes parsed per log chunk
    seed: int
    # what turns the verdict to "drift"
    alert_on: list[Literal["data_drift", "prediction_drift", "performance"]]
    drift: DriftParams
    performance: PerformanceParams
    replay: ReplayParams
    alert: AlertParams
