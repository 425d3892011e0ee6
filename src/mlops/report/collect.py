"""The report's inputs, read from the workspace (this branch) and from git (the base
revision): the thin part in front of the pure :func:`mlops.report.render.render`."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mlops.core import github
from mlops.core.config import DEFAULT_PARAMS, Params
from mlops.pipeline.bootstrap import Resampling
from mlops.release.registry import report_line
from mlops.report.comparable import not_comparable
from mlops.report.diffs import DataDiff, data_diff
from mlops.report.failure import PipelineFailure, pipeline_failure
from mlops.report.gate import (
    Evidence,
    GateResult,
    GateRules,
    gate,
    gate_rules,
    override_requested,
)
from mlops.report.render import ReportInputs
from mlops.report.significance import compare, slice_changes


def collect(
    params: Params,
    raw_params: dict[str, Any],
    base: str,
    stages_file: Path | None = None,
    outcome: str | None = None,
    params_file: Path = DEFAULT_PARAMS,
) -> ReportInputs:
    """Gather everything the report needs from the workspace and from the base revision.

    ``stages_file`` is the record of the last `make repro`; ``outcome`` the CI step's outcome
    of that run (None outside CI). The gate's rules come from the base's ``params_file``.
    """
    paths = params.paths
    base_sha = github.resolve(base)
    head_sha = github.head()
    run = _json_file(stages_file)
    head_validation = _json_file(paths.validation)
    failure = pipeline_failure(run, head_validation, outcome)
    head_metrics = _head_metrics(paths.metrics, failure)
    base_metrics = _json_at(base_sha, paths.metrics)
    base_params = yaml_at(base_sha, params_file)
    data = _data_diff(paths.validation, base, base_sha, head_validation, failure)
    rules = gate_rules(params.gate, base_params, base)
    evidence = None
    if failure is None and base_metrics:
        sides = (head_metrics, base_metrics)
        evidence = _evidence(params, raw_params, base_sha, sides, base_params, rules)
    result = _judge(head_metrics, base_metrics, rules, failure, evidence)
    return ReportInputs(
        head_ref=os.environ.get("GITHUB_HEAD_REF") or github.describe_head(),
        base_ref=base,
        head_sha=head_sha,
        base_sha=base_sha,
        head_metrics=head_metrics,
        base_metrics=base_metrics,
        head_params=raw_params,
        base_params=base_params,
        data=data,
        head_plots={} if failure else _plots(_json_file, paths.plots),
        base_plots=_plots(lambda p: _json_at(base_sha, p), paths.plots),
        stages=run.get("stages") if isinstance(run, dict) else run,
        gate=result,
        gate_rules=rules,
        evidence=evidence,
        settings=params.report,
        artifact_url=os.environ.get("ARTIFACT_URL") or None,
        failure=failure,
        registry=None if failure else report_line(params),
    )


def _head_metrics(path: Path, failure: PipelineFailure | None) -> dict[str, Any]:
    """This branch's metrics; none after a failure (the workspace's are not this branch's)."""
    if failure is not None:
        return {}
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `make repro` first")
    return json.loads(path.read_text())


def _data_diff(
    validation: Path,
    base: str,
    base_sha: str,
    head_validation: dict[str, Any] | None,
    failure: PipelineFailure | None,
) -> DataDiff:
    return data_diff(
        Path("data.dvc").read_text() if Path("data.dvc").exists() else None,
        github.read_at(base_sha, "data.dvc"),
        head_validation,
        _json_at(base_sha, validation),
        base_ref=base,
        failure=failure,
        where=validation.as_posix(),
    )


def _judge(
    head_metrics: dict[str, Any],
    base_metrics: dict[str, Any] | None,
    rules: GateRules,
    failure: PipelineFailure | None,
    evidence: Evidence | None,
) -> GateResult:
    """The gate under the base's rules; the PR's labels (PR_LABELS) say if it is overridden."""
    return gate(
        head_metrics,
        base_metrics,
        rules.rules,
        override_requested(rules.rules),
        source=rules.source,
        changes=rules.changes,
        failure=failure,
        evidence=evidence,
    )


def _evidence(
    params: Params,
    raw_params: dict[str, Any],
    base_sha: str,
    metrics: tuple[dict[str, Any], dict[str, Any]],
    base_params: dict[str, Any] | None,
    rules: GateRules,
) -> Evidence:
    """How significant the change is (paired on the base's predictions when they can be
    had), how each slice moved, and whether the two sides are comparable at all."""
    head_metrics, base_metrics = metrics
    path = params.paths.predictions
    print("report: comparing with the base's predictions (bootstrap) ...", flush=True)
    base_rows, where = base_predictions(base_sha, path)
    comparison = compare(
        head_metrics,
        base_metrics,
        (head_predictions(path), base_rows, where),
        Resampling(params.evaluate.bootstrap, params.evaluate.confidence, params.train.seed),
        rules.rules.significant,
    )
    slices = slice_changes(
        head_metrics, base_metrics, rules.rules.min_slice_rows, rules.rules.significant
    )
    return Evidence(comparison, slices, not_comparable(raw_params, base_params))


def _json_at(commit: str, path: Path) -> Any:
    text = github.read_at(commit, path)
    return json.loads(text) if text else None


def yaml_at(commit: str, path: Path) -> Any:
    """The YAML file ``path`` at ``commit``, parsed; None if it does not exist there."""
    text = github.read_at(commit, path)
    return yaml.safe_load(text) if text else None


def _json_file(path: Path | None) -> Any:
    return json.loads(path.read_text()) if path and path.exists() else None


def _plots(read: Callable[[Path], Any], plots_dir: Path) -> dict[str, Any]:
    """The plot data evaluate writes as JSON (paths.plots), by plot name, as ``read`` finds it."""
    from mlops.pipeline.evaluate import PLOT_FILES

    found = {}
    for name, filename in PLOT_FILES.items():
        if filename.endswith(".json"):
            data = read(plots_dir / filename)
            if data:
                found[name] = data.get(name)
    return found


# ------------------------------------------------------------ the per-row test predictions


def head_predictions(path: Path) -> pd.DataFrame | None:
    """This branch's per-row test predictions (paths.predictions), if the pipeline wrote them."""
    return pd.read_parquet(path) if path.exists() else None


def base_predictions(base_sha: str, path: Path) -> tuple[pd.DataFrame | None, str]:
    """The base revision's per-row test predictions and where they came from (or why they
    are missing): the MD5 its dvc.lock records for ``path``, found in the local DVC cache
    (CI restores the base branch's), else fetched by DVC from the remote, if one has it."""
    lock = yaml.safe_load(github.read_at(base_sha, "dvc.lock") or "{}") or {}
    md5 = next(
        (
            out.get("md5")
            for stage in (lock.get("stages") or {}).values()
            for out in stage.get("outs") or []
            if out.get("path") == path.as_posix()
        ),
        None,
    )
    if md5 is None:
        return None, f"the base's dvc.lock records no `{path.as_posix()}`"
    from dvc.repo import Repo

    with Repo(".") as repo:
        cached = Path(repo.cache.local.oid_to_path(md5))
    if cached.exists():
        return pd.read_parquet(cached), "the DVC cache"
    import dvc.api

    try:
        with dvc.api.open(path.as_posix(), rev=base_sha, mode="rb") as handle:
            return pd.read_parquet(io.BytesIO(handle.read())), "the DVC remote"
    except Exception as exc:  # any failure means "not available", and the report says why
        return None, (
            f"`{path.as_posix()}` (md5 {md5[:8]}) is neither in the DVC cache nor on a DVC "
            f"remote: {type(exc).__name__}"
        )
