"""The base of every typed section of ``params.yaml``: frozen, and a key it does not know is
an error (a typo in params.yaml fails loudly instead of being ignored)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ParamsSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
