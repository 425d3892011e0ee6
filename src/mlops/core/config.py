"""The one way to read ``params.yaml``: every section typed, one loader, clear errors.

``params.yaml`` holds the only set of values: no setting has a default in code (a
``FeatureSpec``'s optional keys aside), so what the file says is what runs, for the
pipeline, the service and the monitor alike. Nothing here touches the file system at import
time; call :func:`load_params`.
"""

from __future__ import annotations

import re
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mlops.core.errors import UserError
from mlops.core.monitor_config import MonitorParams
from mlops.core.section import ParamsSection as _Section

DEFAULT_PARAMS = Path("params.yaml")


class FeatureSpec(_Section):
    """One input column of the model, as declared in ``schema.features``."""

    type: Literal["category", "float", "int"]
    values: list[str] | None = None
    min: float | None = None
    max: float | None = None
    nullable: bool = False
    max_missing: float = Field(default=0.0, ge=0.0, le=1.0)
    example: str | float | None = None  # shown in the service's API docs (OpenAPI)
    # why the model keeps a feature whose permutation importance is not above zero by two
    # standard deviations (tests/model fails on such a feature that gives no reason)
    weak: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        if self.values is not None and self.type != "category":
            raise ValueError("'values' is only allowed for type 'category'")
        if self.type == "category" and (self.min is not None or self.max is not None):
            raise ValueError("'min'/'max' are not allowed for type 'category'")
        if self.max_missing > 0 and not self.nullable:
            raise ValueError("'max_missing' > 0 needs 'nullable: true'")
        if self.weak is not None and not self.weak.strip():
            raise ValueError("'weak' must say why the feature is kept (a non-empty reason)")
        if self.example is not None and self.type != "category":
            low, high = self.min, self.max
            if isinstance(self.example, str):
                raise ValueError(f"'example' must be a number for type '{self.type}'")
            if (low is not None and self.example < low) or (
                high is not None and self.example > high
            ):
                raise ValueError(f"'example' {self.example} is outside [{low}, {high}]")
        return self


def _slice_problem(name: str, spec: str | list[float], feature: FeatureSpec | None) -> str:
    """What is wrong with slicing feature ``name`` by ``spec`` ('' if nothing)."""
    if feature is None:
        return f"'{name}' is not in schema.features: slice by features only"
    if spec == "values":
        return "" if feature.type != "float" else "a float has no values to slice by: give bands"
    if feature.type == "category":
        return "a category has no bands: slice it by 'values'"
    if len(spec) < 2 or any(b <= a for a, b in pairwise(spec)):
        return f"bands need two or more increasing edges, e.g. [0, 6, 12], got {spec}"
    return ""


class SchemaParams(_Section):
    target: str
    time: str
    positive_label: str = "positive"
    negative_label: str = "negative"
    features: dict[str, FeatureSpec]
    # columns that must never be features: outcomes known only afterwards, identifiers
    forbidden: list[str]
    # named slices of the test window the model must do well on (ML Test Score M6): a
    # feature's every value ("values") or its bands between edges ([0, 6, 12] -> [0, 6), [6, 12))
    slices: dict[str, Literal["values"] | list[float]]

    @model_validator(mode="after")
    def _no_forbidden_feature(self) -> SchemaParams:
        leaks = [name for name in self.features if name in self.forbidden]
        if leaks:
            raise ValueError(
                f"features {leaks} are listed in schema.forbidden (outcomes or identifiers "
                "that must never be features): remove them from schema.features"
            )
        roles = [name for name in (self.target, self.time) if name in self.forbidden]
        if roles:
            raise ValueError(
                f"schema.forbidden lists {roles}, the target or time column: they are never "
                "features anyway; list only other columns of the raw data"
            )
        return self

    @model_validator(mode="after")
    def _slices_of_features(self) -> SchemaParams:
        for name, spec in self.slices.items():
            problem = _slice_problem(name, spec, self.features.get(name))
            if problem:
                raise ValueError(f"slices.{name}: {problem}")
        return self

    @property
    def categorical(self) -> list[str]:
        return [name for name, spec in self.features.items() if spec.type == "category"]

    @property
    def numeric(self) -> list[str]:
        return [name for name, spec in self.features.items() if spec.type != "category"]

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)


class PathsParams(_Section):
    raw: Path
    dataset: Path
    split: Path
    model: Path
    validation: Path
    metrics: Path
    plots: Path
    figures: Path
    report: Path
    predictions: Path  # the test window's per-row predictions (DVC output, not in git)
    card: Path  # the model card (make model-card)


class ValidateParams(_Section):
    min_rows: int = Field(ge=1)
    max_unlabelled: float = Field(ge=0.0, le=1.0)
    min_target_rate: float = Field(ge=0.0, le=1.0)
    max_target_rate: float = Field(ge=0.0, le=1.0)
    # a feature that alone ranks the labelled rows this well (ROC AUC) copies the target
    leak_auc: float = Field(gt=0.5, le=1.0)


class PrepareParams(_Section):
    train_start: date
    test_start: date
    production_start: date

    @model_validator(mode="after")
    def _ordered(self) -> PrepareParams:
        if not self.train_start < self.test_start <= self.production_start:
            raise ValueError(
                "windows must be ordered: train_start < test_start <= production_start, got "
                f"{self.train_start} / {self.test_start} / {self.production_start}"
            )
        return self


class TrainParams(_Section):
    model_config = ConfigDict(extra="allow", frozen=True)  # one mapping per estimator

    seed: int
    estimator: str
    threads: int = Field(ge=1, le=256)  # OpenMP threads of the fit, whatever the host has

    def hyperparameters(self, estimator: str | None = None) -> dict[str, Any]:
        """Hyper-parameters of ``estimator`` (default: the selected one); {} if none given."""
        name = estimator or self.estimator
        value = (self.model_extra or {}).get(name) or {}
        if not isinstance(value, dict):
            raise ParamsError(f"train.{name} must be a mapping of hyper-parameters, got {value!r}")
        return dict(value)


class EvaluateParams(_Section):
    threshold: float = Field(gt=0.0, lt=1.0)
    calibration_bins: int = Field(ge=2)
    importance_repeats: int = Field(ge=1)
    importance_sample: int = Field(ge=100)
    curve_points: int = Field(ge=10)
    # the staleness curve (ML Test Score M4): production rows scored per period; the model
    # must stay within gate.max_drop of its test ROC AUC for max_age_periods periods
    staleness_period: Literal["day", "week", "month", "quarter", "year"]
    max_age_periods: int = Field(ge=0)
    baseline: str = Field(min_length=1)  # the simple estimator the model must beat
    baseline_margin: float = Field(ge=0.0, lt=1.0)  # ROC AUC points it must beat it by
    min_slice_rows: int = Field(ge=2)  # a smaller slice (schema.slices) gets no AUC
    max_slice_drop: float = Field(ge=0.0, lt=1.0)  # a slice's ROC AUC below the overall by more
    bootstrap: int = Field(ge=50, le=100_000)  # resamples of every metric's confidence interval
    confidence: float = Field(gt=0.5, lt=1.0)  # the intervals' level (train.seed seeds them)


class GateParams(_Section):
    metric: str
    max_drop: float = Field(ge=0.0)
    floor: float | None = None
    significant: float = Field(ge=0.0)
    override_label: str = Field(min_length=1)
    min_slice_rows: int = Field(ge=2)  # smaller slices (schema.slices) are not judged
    max_slice_drop: float = Field(ge=0.0, lt=1.0)  # a slice's significant drop vs the base


class CardParams(_Section):  # what the model card says that the pipeline cannot know
    intended_use: str = Field(min_length=1)
    limitations: list[str]


class ReportParams(_Section):
    psi_threshold: float = Field(gt=0.0)
    max_chars: int = Field(ge=1000, le=65_536)


_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")


class ServeParams(_Section):
    name: str  # BentoML model, service and bento name
    lock: Path  # where the model's hash is recorded (stages.*.outs)
    max_batch_records: int = Field(ge=1, le=100_000)  # records per request
    workers: int = Field(ge=1, le=64)  # server processes
    batching: bool  # merge concurrent single-record requests into one model call
    max_batch_size: int = Field(ge=1, le=10_000)  # rows per merged model call
    model_threads: int = Field(ge=1, le=64)  # OpenMP threads per worker's model
    model_calls: int = Field(ge=1, le=64)  # model calls a worker runs at once
    access_log: bool  # one log line per request (probes and /metrics never logged)
    trace_predictions: bool  # OpenTelemetry spans for the prediction routes
    timeout: int = Field(ge=1)  # seconds per request
    max_concurrency: int = Field(ge=1)  # requests in flight per worker
    prediction_log: Path  # folder of JSON-lines segments, one line per prediction
    log_segment_bytes: int = Field(ge=1024)  # a segment closes at this size ...
    log_segment_seconds: float = Field(gt=0)  # ... or this long after it opened
    log_flush_seconds: float = Field(gt=0, le=60)  # buffered lines reach the disk this often
    log_max_local_bytes: int = Field(ge=1024)  # closed segments waiting beyond this: ERROR
    log_store: str | None  # fsspec URL the shipper uploads closed segments to
    log_ship_seconds: float = Field(gt=0)  # the shipper's poll interval
    log_drain_seconds: float = Field(ge=0)  # after SIGTERM: wait this long for the last segments
    port: int = Field(ge=1, le=65535)

    @field_validator("name")
    @classmethod
    def _tag_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid BentoML name: use lowercase letters, digits, "
                "'.', '_' and '-' (at most 63 characters)"
            )
        return value


class Params(_Section):
    paths: PathsParams
    schema_: SchemaParams = Field(alias="schema")
    validate_: ValidateParams = Field(alias="validate")
    prepare: PrepareParams
    train: TrainParams
    evaluate: EvaluateParams
    gate: GateParams
    report: ReportParams
    card: CardParams
    serve: ServeParams
    monitor: MonitorParams

    @property
    def schema(self) -> SchemaParams:  # type: ignore[override]
        return self.schema_

    @property
    def validation(self) -> ValidateParams:
        return self.validate_


class ParamsError(UserError, ValueError):
    """params.yaml is missing, unreadable or does not match what the pipeline expects."""


def params_error(exc: ValidationError, source: str, prefix: str = "") -> ParamsError:
    """One ParamsError naming every bad key (``prefix``: the section a sub-model reads)."""
    problems = "\n".join(
        f"  - {prefix}{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
        for err in exc.errors()
    )
    return ParamsError(
        f"{source} does not match the expected parameters:\n{problems}\n"
        "Fix these keys (see the comments in params.yaml for what each one means)."
    )


def parse_params(raw: dict[str, Any], source: str = "params.yaml") -> Params:
    """Build typed params from an already-parsed mapping."""
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise params_error(exc, source) from None


def load_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    """Read and check ``params.yaml``."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(
            f"{path} not found: run from the repository root or pass --params PATH"
        ) from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path} must hold a mapping of sections, got {type(raw).__name__}")
    return parse_params(raw, source=str(path))
