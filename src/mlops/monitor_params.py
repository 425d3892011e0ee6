"""Typed settings of production monitoring (the ``monitor`` section of ``params.yaml``).

Kept apart from :mod:`mlops.params` (like :mod:`mlops.serve_params`) so that module can
import it without a cycle (this module imports ``mlops.params`` only inside functions):
``Params`` gains
``monitor: MonitorParams = Field(default_factory=MonitorParams)``. Every key has a default,
so a fork only writes what it changes. Until then :func:`load_monitor_params` reads the
section on its own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:
    from mlops.params import Params


# Evidently 0.7 drift methods this template documents (any name Evidently knows works).
# Distance methods (wasserstein, jensenshannon, psi, hellinger, ...) flag drift when the
# score is >= threshold; p-value tests (ks, chisquare, z, ...) when it is < threshold.


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriftParams(_Section):
    num_method: str = "wasserstein"  # numeric features: normed Wasserstein distance
    cat_method: str = "jensenshannon"  # categorical features: Jensen-Shannon distance
    num_threshold: float = Field(default=0.1, gt=0.0)
    cat_threshold: float = Field(default=0.1, gt=0.0)
    per_feature_threshold: dict[str, float] = Field(default_factory=dict)
    # data drift = at least this share of the features drifted
    share: float = Field(default=0.3, gt=0.0, le=1.0)
    # prediction drift: distribution of the predicted probability (and of the labels)
    prediction_method: str = "wasserstein"
    prediction_threshold: float = Field(default=0.1, gt=0.0)


class PerformanceParams(_Section):
    # metrics compared with the model's evaluation (paths.metrics), once late labels exist
    metrics: list[Literal["roc_auc", "f1", "precision", "recall", "accuracy"]] = Field(
        default_factory=lambda: ["roc_auc", "f1"]
    )
    max_drop: float = Field(default=0.05, ge=0.0)  # degraded = current < evaluated - max_drop
    min_labelled: int = Field(default=200, ge=1)  # fewer labelled predictions: not judged


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
    month: str | None = None
    requests: int = Field(default=2000, ge=1, le=1_000_000)  # records sent (sampled)
    rate: float = Field(default=100.0, gt=0.0)  # requests per second, at most
    concurrency: int = Field(default=4, ge=1, le=64)  # requests in flight
    timeout: float = Field(default=30.0, gt=0.0)  # seconds per request
    max_errors: int = Field(default=20, ge=0)  # stop when more requests than this failed
    seed: int = 42

    @model_validator(mode="after")
    def _month(self) -> ReplayParams:
        if self.month is not None:
            check_month(self.month, "replay.month")
        return self


class AlertParams(_Section):
    label: str = Field(default="drift", min_length=1)  # the one open issue carries this label
    title: str = Field(default="Drift detected in production", min_length=1)
    retrain_after: int = Field(default=3, ge=1)  # consecutive drifted runs that start retraining
    retrain_months: int = Field(default=1, ge=1, le=24)  # how far the training window moves
    retrain_branch: str = Field(default="retrain/training-window", min_length=1)  # one PR


class MonitorParams(_Section):
    # prediction logs: a .jsonl file, a folder of *.jsonl[.gz] files, or any fsspec URL
    # (s3://bucket/logs/, gs://..., a DVC remote's path); the service writes serve.prediction_log
    logs: str = "logs"
    # late labels: JSON lines {"<key>": ..., "<schema.target>": 0/1}; missing file = none yet
    labels: str = "logs/labels.jsonl"
    key: str = "request_id"  # joins labels to predictions
    out: Path = Path("monitor-report")  # report.html, summary.json, summary.md (not in git)
    site: Path = Path("monitor-site")  # the GitHub Pages site: index.html + latest report
    reference_rows: int = Field(default=50_000, ge=100)  # training-window rows sampled
    current_rows: int = Field(default=50_000, ge=100)  # logged predictions sampled (reservoir)
    min_rows: int = Field(default=200, ge=1)  # fewer logged predictions: "insufficient data"
    block_bytes: int = Field(default=32 << 20, ge=1 << 16)  # bytes parsed per log chunk
    seed: int = 42
    # what turns the verdict to "drift"
    alert_on: list[Literal["data_drift", "prediction_drift", "performance"]] = Field(
        default_factory=lambda: ["data_drift", "prediction_drift", "performance"]
    )
    drift: DriftParams = Field(default_factory=DriftParams)
    performance: PerformanceParams = Field(default_factory=PerformanceParams)
    replay: ReplayParams = Field(default_factory=ReplayParams)
    alert: AlertParams = Field(default_factory=AlertParams)


DEFAULT_PARAMS = Path("params.yaml")


def parse_monitor_params(section: object, source: str = "params.yaml") -> MonitorParams:
    """Validate the ``monitor`` mapping; a clear :class:`ParamsError` names every bad key."""
    from mlops.params import params_error

    try:
        return MonitorParams.model_validate(section or {})
    except ValidationError as exc:
        raise params_error(exc, source, prefix="monitor.") from None


def load_config(path: Path | str = DEFAULT_PARAMS) -> tuple[Params, MonitorParams]:
    """The pipeline's params and the monitor's settings (section ``monitor``), read by the
    one typed loader."""
    from mlops.params import load_params

    params = load_params(path)
    return params, params.monitor


def load_monitor_params(path: Path | str = DEFAULT_PARAMS) -> MonitorParams:
    """The ``monitor`` section of ``params.yaml`` (defaults when it is absent)."""
    return load_config(path)[1]
