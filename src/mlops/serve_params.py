"""Typed settings of the prediction service (the ``serve`` section of ``params.yaml``).

Kept apart from :mod:`mlops.params` so that module can import it without a cycle: the
``Params`` model gains ``serve: ServeParams = Field(default_factory=ServeParams)`` and the
section becomes optional. Every value has a default, so a fork only writes what it changes.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")


class ServeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "model-service"  # BentoML model, service and bento name
    lock: Path = Path("dvc.lock")  # where the model's hash is recorded (stages.*.outs)
    max_batch_records: int = Field(default=1000, ge=1, le=100_000)  # records per request
    workers: int = Field(default=1, ge=1, le=64)  # server processes
    batching: bool = True  # merge concurrent single-record requests into one model call
    max_batch_size: int = Field(default=64, ge=1, le=10_000)  # rows per merged model call
    model_threads: int = Field(default=1, ge=1, le=64)  # OpenMP threads per worker's model
    access_log: bool = True  # one log line per request (probes and /metrics never logged)
    timeout: int = Field(default=30, ge=1)  # seconds per request
    max_concurrency: int = Field(default=256, ge=1)  # requests in flight per worker
    prediction_log: Path = Path("logs/predictions.jsonl")  # JSON lines, one per prediction
    port: int = Field(default=3000, ge=1, le=65535)

    @field_validator("name")
    @classmethod
    def _tag_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid BentoML name: use lowercase letters, digits, "
                "'.', '_' and '-' (at most 63 characters)"
            )
        return value
