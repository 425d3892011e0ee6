"""The one way to read ``params.yaml``: a typed loader with clear errors.

Nothing here touches the file system at import time; call :func:`load_params`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlops.monitor_params import MonitorParams
from mlops.serve_params import ServeParams

DEFAULT_PARAMS = Path("params.yaml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureSpec(_Section):
    """One input column of the model, as declared in ``schema.features``."""

    type: Literal["category", "float", "int"]
    values: list[str] | None = None
    min: float | None = None
    max: float | None = None
    nullable: bool = False
    max_missing: float = Field(default=0.0, ge=0.0, le=1.0)
    example: str | float | None = None  # shown in the service's API docs (OpenAPI)

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        if self.values is not None and self.type != "category":
            raise ValueError("'values' is only allowed for type 'category'")
        if self.type == "category" and (self.min is not None or self.max is not None):
            raise ValueError("'min'/'max' are not allowed for type 'category'")
        if self.max_missing > 0 and not self.nullable:
            raise ValueError("'max_missing' > 0 needs 'nullable: true'")
        if self.example is not None and self.type != "category":
            low, high = self.min, self.max
            if isinstance(self.example, str):
                raise ValueError(f"'example' must be a number for type '{self.type}'")
            if (low is not None and self.example < low) or (
                high is not None and self.example > high
            ):
                raise ValueError(f"'example' {self.example} is outside [{low}, {high}]")
        return self


class SchemaParams(_Section):
    target: str
    time: str
    positive_label: str = "positive"
    negative_label: str = "negative"
    features: dict[str, FeatureSpec]

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


class ValidateParams(_Section):
    min_rows: int = Field(ge=1)
    max_unlabelled: float = Field(ge=0.0, le=1.0)
    min_target_rate: float = Field(ge=0.0, le=1.0)
    max_target_rate: float = Field(ge=0.0, le=1.0)


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


class GateParams(_Section):
    metric: str
    max_drop: float = Field(ge=0.0)
    floor: float | None = None
    significant: float = Field(ge=0.0)
    override_label: str = Field(min_length=1)


class ReportParams(_Section):
    psi_threshold: float = Field(gt=0.0)
    max_chars: int = Field(ge=1000, le=65_536)


class Params(_Section):
    paths: PathsParams
    schema_: SchemaParams = Field(alias="schema")
    validate_: ValidateParams = Field(alias="validate")
    prepare: PrepareParams
    train: TrainParams
    evaluate: EvaluateParams
    gate: GateParams
    report: ReportParams
    serve: ServeParams = Field(default_factory=ServeParams)
    monitor: MonitorParams = Field(default_factory=MonitorParams)

    @property
    def schema(self) -> SchemaParams:  # type: ignore[override]
        return self.schema_

    @property
    def validation(self) -> ValidateParams:
        return self.validate_


class ParamsError(ValueError):
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
