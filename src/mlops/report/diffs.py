"""What the branch changes besides the model: its params (params.yaml), and its data
(``data.dvc`` and the profiles the validate stage writes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from mlops.pipeline.profile import psi
from mlops.report.failure import VALIDATE_STAGE, PipelineFailure


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): tree}


def params_diff(head: dict[str, Any], base: dict[str, Any] | None) -> list[tuple[str, Any, Any]]:
    """(key, base value, head value) for every param that differs; paths are left out."""
    head_flat = {k: v for k, v in flatten(head).items() if not k.startswith("paths.")}
    base_flat = {k: v for k, v in flatten(base or {}).items() if not k.startswith("paths.")}
    keys = sorted(set(head_flat) | set(base_flat))
    missing = object()
    return [
        (k, base_flat.get(k), head_flat.get(k))
        for k in keys
        if base_flat.get(k, missing) != head_flat.get(k, missing)
    ]


@dataclass(frozen=True)
class DataDiff:
    changed: bool  # data.dvc differs
    head_hash: str | None
    base_hash: str | None
    rows: tuple[int | None, int | None] = (None, None)  # base, head
    target_rate: tuple[float | None, float | None] = (None, None)
    added_columns: list[str] = field(default_factory=list)
    removed_columns: list[str] = field(default_factory=list)
    retyped_columns: list[tuple[str, str, str]] = field(default_factory=list)
    drift: list[tuple[str, float | None]] = field(default_factory=list)  # (feature, PSI)
    missing: list[str] = field(default_factory=list)  # why a profile is missing, per side


def _dvc_hash(text: str | None) -> str | None:
    if not text:
        return None
    outs = (yaml.safe_load(text) or {}).get("outs") or [{}]
    return outs[0].get("md5")


def data_diff(
    head_dvc: str | None,
    base_dvc: str | None,
    head_validation: dict[str, Any] | None,
    base_validation: dict[str, Any] | None,
    base_ref: str = "main",
    failure: PipelineFailure | None = None,
    where: str | None = None,
) -> DataDiff:
    """What changed in the data: from data.dvc and the profiles in validation.json.

    ``where`` is the validation report's path (for messages). When the pipeline ``failure``
    came at or before ``validate``, the workspace's profile is not this branch's and is not
    used; ``missing`` says, per side, why a profile is absent.
    """
    head_hash, base_hash = _dvc_hash(head_dvc), _dvc_hash(base_dvc)
    changed = head_hash != base_hash
    loc = f" (`{where}`)" if where else ""
    head_profile, missing = _head_profile(head_validation, failure, loc)
    base_profile = (base_validation or {}).get("profile")
    if not base_profile:
        missing.append(f"`{base_ref}` has no data profile{loc} to compare with.")
    if not changed or not head_profile or not base_profile:
        return DataDiff(changed, head_hash, base_hash, missing=missing)
    return DataDiff(True, head_hash, base_hash, **_profile_changes(head_profile, base_profile))


def _head_profile(
    validation: dict[str, Any] | None, failure: PipelineFailure | None, loc: str
) -> tuple[dict[str, Any] | None, list[str]]:
    """This branch's data profile if it is this branch's, else None and why it is missing."""
    if failure is not None and failure.stage == VALIDATE_STAGE:
        return None, [
            f"This branch has no data profile: its `{VALIDATE_STAGE}` stage failed "
            "(the problems are listed above)."
        ]
    if failure is not None and failure.stage is None:
        return None, [
            f"This branch has no data profile: the pipeline stopped before `{VALIDATE_STAGE}` "
            f"ran, so the profile in the workspace{loc} is not this branch's."
        ]
    profile = (validation or {}).get("profile")
    if not profile:
        return profile, [f"This branch has no data profile{loc}: run `make repro`."]
    return profile, []


def _profile_changes(head: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Rows, target rate, columns and per-feature drift (largest PSI first) of two profiles."""
    head_cols, base_cols = head["columns"], base["columns"]
    drift = [
        (name, psi(base["features"][name], feature))
        for name, feature in head["features"].items()
        if name in base["features"]
    ]
    drift.sort(key=lambda item: -1.0 if item[1] is None else item[1], reverse=True)
    return {
        "rows": (base["rows"], head["rows"]),
        "target_rate": (base["target_rate"], head["target_rate"]),
        "added_columns": sorted(set(head_cols) - set(base_cols)),
        "removed_columns": sorted(set(base_cols) - set(head_cols)),
        "retyped_columns": [
            (c, base_cols[c], head_cols[c])
            for c in sorted(set(head_cols) & set(base_cols))
            if head_cols[c] != base_cols[c]
        ],
        "drift": drift,
    }
