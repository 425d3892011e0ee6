"""The pull-request report: this branch against the base branch, and the quality gate.

Pure core: every function here takes already-loaded data (metrics, params, plot data, data
profiles, stage timings) and returns values or Markdown. :func:`collect` and :func:`main`
are the thin part that reads files from the workspace and from git.

The report answers "is this change better, and why?" at a glance:

1. a verdict line (better / worse / unchanged on the primary metric, and the gate's result;
   or the stage where the pipeline failed);
2. when the pipeline failed: why (the validation problems, the end of the log); when the
   branch changes the gate's own rules: that change;
3. metrics with base value, delta and direction, significant changes in bold;
4. params that changed, and what changed in the data when ``data.dvc`` changed;
5. plots that GitHub renders itself (Mermaid), base and branch on one chart;
6. which stages ran and which were reused, with durations;

and it stays under GitHub's comment limit by collapsing, then dropping, the least important
parts.

A pull request cannot loosen its own gate: the rules (``gate`` in params.yaml) are read from
the base branch, and a branch that changes them fails the gate unless it carries the base's
override label. A failed pipeline is never reported as "unchanged": its metrics, plots and
data profile in the workspace are not the branch's, so they are left out and said so.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from mlops.core import github
from mlops.core.config import DEFAULT_PARAMS, GateParams, Params, ReportParams
from mlops.pipeline.profile import psi
from mlops.pipeline.repro import RECORD_FILE

# +1: higher is better, -1: lower is better, 0: context only (not judged)
DIRECTIONS = {
    "roc_auc": 1,
    "pr_auc": 1,
    "f1": 1,
    "precision": 1,
    "recall": 1,
    "accuracy": 1,
    "log_loss": -1,
    "brier": -1,
}
LABELS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "f1": "F1",
    "log_loss": "log loss",
    "brier": "Brier score",
    "positive_rate": "positive rate",
    "predicted_positive_rate": "predicted positive rate",
}
GITHUB_COMMENT_LIMIT = 65_536
VALIDATE_STAGE = "validate"  # the dvc.yaml stage that writes the data profile (paths.validation)
BASE_COLOUR, HEAD_COLOUR = "#9e9e9e", "#1f77b4"


def label(metric: str) -> str:
    return LABELS.get(metric, metric.replace("_", " "))


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class MetricRow:
    name: str
    head: float | None
    base: float | None
    direction: int
    significant: bool

    @property
    def delta(self) -> float | None:
        if self.head is None or self.base is None:
            return None
        return self.head - self.base

    @property
    def change(self) -> str:
        """better / worse / unchanged / changed (context metric) / new / removed."""
        if self.base is None:
            return "new"
        if self.head is None:
            return "removed"
        if not self.significant:
            return "unchanged"
        if self.direction == 0:
            return "changed"
        return "better" if (self.delta or 0) * self.direction > 0 else "worse"


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def compare_metrics(
    head: dict[str, Any], base: dict[str, Any] | None, significant: float
) -> list[MetricRow]:
    """One row per scalar metric, judged metrics first."""
    head_values, base_values = _scalars(head), _scalars(base or {})
    names = list(dict.fromkeys([*head_values, *base_values]))
    names.sort(key=lambda n: (DIRECTIONS.get(n, 0) == 0, n not in DIRECTIONS))
    rows = []
    for name in names:
        h, b = head_values.get(name), base_values.get(name)
        moved = h is not None and b is not None and abs(h - b) >= significant
        rows.append(MetricRow(name, h, b, DIRECTIONS.get(name, 0), moved))
    return rows


# --------------------------------------------------------------------------- gate


@dataclass(frozen=True)
class GateRules:
    """The rules the gate applies, where they come from, and what this branch changes."""

    rules: GateParams
    source: str  # for messages: "params.yaml on main", or "params.yaml" (the branch's)
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)  # (key, base, branch)
    warning: str | None = None


def gate_rules(head: GateParams, base_params: dict[str, Any] | None, base_ref: str) -> GateRules:
    """The base branch's gate rules, so that a pull request cannot loosen its own gate.

    ``base_params`` is the base's params.yaml. Without a ``gate`` section there (the pull
    request that introduces the gate) or with one this code cannot read, the branch's rules
    apply, with a warning. ``changes`` lists every gate key the branch changes.
    """
    section = (base_params or {}).get("gate")
    if section is None:
        warning = (
            f"`{base_ref}` has no `gate` section in params.yaml: this branch's rules apply "
            f"(from the next pull request on, the rules of `{base_ref}` do)."
        )
        return GateRules(head, "params.yaml", [], warning)
    try:
        base = GateParams.model_validate(section)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'gate'}: {e['msg']}" for e in exc.errors()
        )
        warning = (
            f"the `gate` section of params.yaml on `{base_ref}` is not valid ({problems}): "
            "this branch's rules apply."
        )
        raw = section if isinstance(section, dict) else {}
        return GateRules(head, "params.yaml", _gate_changes(raw, head.model_dump()), warning)
    changes = _gate_changes(base.model_dump(), head.model_dump())
    return GateRules(base, f"params.yaml on {base_ref}", changes)


def _gate_changes(base: dict[str, Any], head: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    return [(f"gate.{key}", old, new) for key, old, new in params_diff(head, base)]


@dataclass(frozen=True)
class PipelineFailure:
    """Where the pipeline stopped and why: the stage, the validation problems, the log's end."""

    stage: str | None  # None: before any stage ran (or the run left no record)
    problems: list[str] = field(default_factory=list)
    source: str | None = None  # what was validated, e.g. "data (modelling table)"
    hint: str | None = None
    log_tail: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"at stage `{self.stage}`" if self.stage else "before any stage ran"

    def summary(self) -> str:
        """E.g. "the pipeline failed at stage `validate`: 7 data problems"."""
        text = f"the pipeline failed {self.where}"
        if self.problems:
            n = len(self.problems)
            text += f": {n} data problem{'s' if n != 1 else ''}"
        return text


def pipeline_failure(
    run: dict[str, Any] | list[Any] | None,
    validation: dict[str, Any] | None,
    outcome: str | None = None,
) -> PipelineFailure | None:
    """Whether the pipeline of this branch failed, and where; None when it succeeded.

    ``run`` is the record `make repro` writes (``repro.record``); ``validation`` the
    validate stage's report, which holds the problems when the data failed; ``outcome``
    the CI step's outcome (``success``, ``failure``, ...; None outside CI). A run counts as
    failed when any of the three says so: the record, a validation report with problems (it
    is rewritten by every validate run), or the CI step.
    """
    record = run if isinstance(run, dict) else {}
    failed_validation = bool(validation) and validation.get("passed") is False
    recorded = record.get("exit_code", 0) != 0
    ci_failed = outcome not in (None, "", "success")
    if not (recorded or failed_validation or ci_failed):
        return None
    stage = record.get("failed_stage") if recorded else None
    if failed_validation and stage in (None, "validate"):
        problems = [str(p.get("message", p)) for p in validation.get("problems") or []]
        stage = "validate"
    else:
        problems = []
    return PipelineFailure(
        stage=stage,
        problems=problems,
        source=validation.get("source") if problems and validation else None,
        hint=validation.get("hint") if problems and validation else None,
        log_tail=list(record.get("log_tail") or []),
    )


@dataclass(frozen=True)
class GateResult:
    metric: str
    head: float | None  # None when the pipeline failed: no metric of this branch
    base: float | None
    verdict: str  # better / worse / unchanged / new / failed (the pipeline did)
    passed: bool
    overridden: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def delta(self) -> float | None:
        return None if self.base is None or self.head is None else self.head - self.base

    @property
    def ok(self) -> bool:
        """Whether the check passes: the gate passed, or a person overrode it."""
        return self.passed or self.overridden

    def message(self) -> str:
        if self.passed:
            return "quality gate passed"
        text = "quality gate failed: " + "; ".join(self.reasons)
        if self.overridden:
            text += " (overridden by label)"
        return text


def gate(
    head: dict[str, Any],
    base: dict[str, Any] | None,
    rules: GateParams,
    overridden: bool,
    *,
    source: str = "params.yaml",
    changes: list[tuple[str, Any, Any]] | None = None,
    failure: PipelineFailure | None = None,
) -> GateResult:
    """Judge the primary metric: no worse than base by more than ``max_drop``, above the floor.

    ``rules`` are the base branch's (see :func:`gate_rules`; ``source`` says where they are
    written, for the messages); ``changes`` are the branch's changes to them, which fail the
    gate unless ``overridden`` (the PR carries the override label). A ``failure`` of the
    pipeline fails the gate, and no label overrides it: there is nothing to judge.
    """
    metric = rules.metric
    base_value = _scalars(base or {}).get(metric)
    change_reason = []
    if changes:
        listed = ", ".join(f"{key} {_plain(old)} → {_plain(new)}" for key, old, new in changes)
        change_reason.append(
            f"this branch changes the quality gate's rules ({listed}); the rules in {source} "
            f"apply, and a change to them needs the PR label '{rules.override_label}'"
        )
    if failure is not None:
        return GateResult(
            metric, None, base_value, "failed", False, False, [failure.summary(), *change_reason]
        )
    head_values = _scalars(head)
    if metric not in head_values:
        raise ValueError(
            f"gate.metric in {source} is '{metric}', which is not in the metrics "
            f"({', '.join(head_values)})"
        )
    direction = DIRECTIONS.get(metric, 1)
    value = head_values[metric]
    reasons = []
    if base_value is None:
        verdict = "new"
    else:
        gain = (value - base_value) * direction
        verdict = (
            "unchanged"
            if abs(value - base_value) < rules.significant
            else ("better" if gain > 0 else "worse")
        )
        if -gain > rules.max_drop:
            word = "dropped" if direction > 0 else "rose"
            reasons.append(
                f"{label(metric)} {word} from {base_value:.4f} to {value:.4f} "
                f"({value - base_value:+.4f}); the most allowed is {rules.max_drop:.4f} "
                f"(gate.max_drop in {source})"
            )
    if rules.floor is not None and (value - rules.floor) * direction < 0:
        side = "below the floor" if direction > 0 else "above the ceiling"
        reasons.append(
            f"{label(metric)} {value:.4f} is {side} of {rules.floor:.4f} (gate.floor in {source})"
        )
    reasons += change_reason
    return GateResult(metric, value, base_value, verdict, not reasons, overridden, reasons)


def _plain(value: Any) -> str:
    return "(none)" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def override_requested(rules: GateParams, environ: dict[str, str] | None = None) -> bool:
    """True when the PR carries the override label (PR_LABELS: the labels as a JSON list)."""
    environ = dict(os.environ) if environ is None else environ
    try:
        labels = json.loads(environ.get("PR_LABELS") or "[]")
    except json.JSONDecodeError:
        labels = []
    return isinstance(labels, list) and rules.override_label in labels


# --------------------------------------------------------------------------- params / data


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
    head_profile = (head_validation or {}).get("profile")
    base_profile = (base_validation or {}).get("profile")
    missing = []
    loc = f" (`{where}`)" if where else ""
    if failure is not None and failure.stage == VALIDATE_STAGE:
        head_profile = None
        missing.append(
            f"This branch has no data profile: its `{VALIDATE_STAGE}` stage failed "
            "(the problems are listed above)."
        )
    elif failure is not None and failure.stage is None:
        head_profile = None
        missing.append(
            f"This branch has no data profile: the pipeline stopped before `{VALIDATE_STAGE}` "
            f"ran, so the profile in the workspace{loc} is not this branch's."
        )
    elif not head_profile:
        missing.append(f"This branch has no data profile{loc}: run `make repro`.")
    if not base_profile:
        missing.append(f"`{base_ref}` has no data profile{loc} to compare with.")
    if not changed or not head_profile or not base_profile:
        return DataDiff(changed, head_hash, base_hash, missing=missing)
    head_cols, base_cols = head_profile["columns"], base_profile["columns"]
    drift = []
    for name, feature in head_profile["features"].items():
        if name in base_profile["features"]:
            drift.append((name, psi(base_profile["features"][name], feature)))
    drift.sort(key=lambda item: -1.0 if item[1] is None else item[1], reverse=True)
    return DataDiff(
        changed=True,
        head_hash=head_hash,
        base_hash=base_hash,
        rows=(base_profile["rows"], head_profile["rows"]),
        target_rate=(base_profile["target_rate"], head_profile["target_rate"]),
        added_columns=sorted(set(head_cols) - set(base_cols)),
        removed_columns=sorted(set(base_cols) - set(head_cols)),
        retyped_columns=[
            (c, base_cols[c], head_cols[c])
            for c in sorted(set(head_cols) & set(base_cols))
            if head_cols[c] != base_cols[c]
        ],
        drift=drift,
    )


# --------------------------------------------------------------------------- charts


def _grid_line(curve: list[dict[str, float]], x: str, y: str, grid: np.ndarray) -> list[float]:
    frame = pd.DataFrame(curve).sort_values([x, y], kind="stable")
    return np.interp(grid, frame[x].to_numpy(), frame[y].to_numpy()).round(3).tolist()


def xychart(
    title: str,
    x_label: str,
    y_label: str,
    grid: np.ndarray,
    lines: list[list[float]],
    y_range: tuple[float, float] = (0.0, 1.0),
) -> str:
    """A Mermaid xychart (GitHub renders it in comments): base grey, this branch blue."""
    colours = [BASE_COLOUR, HEAD_COLOUR] if len(lines) == 2 else [HEAD_COLOUR]
    init = {"themeVariables": {"xyChart": {"plotColorPalette": ", ".join(colours)}}}
    body = [
        f"%%{{init: {json.dumps(init)}}}%%",
        "xychart-beta",
        f'  title "{title}"',
        f'  x-axis "{x_label}" {grid[0]:g} --> {grid[-1]:g}',
        f'  y-axis "{y_label}" {y_range[0]:g} --> {y_range[1]:g}',
        *(f"  line [{', '.join(f'{v:g}' for v in line)}]" for line in lines),
    ]
    return "```mermaid\n" + "\n".join(body) + "\n```"


def curve_chart(
    title: str,
    head: list[dict[str, float]] | None,
    base: list[dict[str, float]] | None,
    x: str,
    y: str,
    x_label: str,
    y_label: str,
    points: int = 21,
    fit: bool = False,
) -> str | None:
    """Base and head curves resampled on one x grid (Mermaid lines share their x values).

    ``fit``: the grid and y axis span only the observed range, rounded up to a tenth
    (calibration curves rarely reach 1), instead of [0, 1].
    """
    if not head:
        return None
    curves = [c for c in (base, head) if c]
    top = 1.0
    if fit:
        seen = [float(p[k]) for c in curves for p in c for k in (x, y)]
        top = min(1.0, math.ceil(max([*seen, 0.1]) * 10) / 10)
    grid = np.linspace(0.0, top, points)
    lines = [_grid_line(c, x, y, grid) for c in curves]
    legend = "grey: base, blue: this branch" if base else "this branch"
    return xychart(f"{title} ({legend})", x_label, y_label, grid, lines, (0.0, top))


def importance_chart(head: list[dict[str, Any]] | None, top: int = 10) -> str | None:
    if not head:
        return None
    rows = head[:top]
    names = ", ".join(f'"{r["feature"]}"' for r in rows)
    values = ", ".join(f"{max(float(r['importance']), 0.0):.4f}" for r in rows)
    high = max([float(r["importance"]) for r in rows] + [0.001])
    body = [
        "xychart-beta horizontal",
        f'  title "Permutation importance, top {len(rows)} (drop in ROC AUC)"',
        f"  x-axis [{names}]",
        f'  y-axis "drop in ROC AUC" 0 --> {high * 1.1:.3f}',
        f"  bar [{values}]",
    ]
    return "```mermaid\n" + "\n".join(body) + "\n```"


# --------------------------------------------------------------------------- rendering


@dataclass
class ReportInputs:
    head_ref: str
    base_ref: str
    head_sha: str
    base_sha: str
    head_metrics: dict[str, Any]
    base_metrics: dict[str, Any] | None
    head_params: dict[str, Any]
    base_params: dict[str, Any] | None
    data: DataDiff
    head_plots: dict[str, Any]
    base_plots: dict[str, Any]
    stages: list[dict[str, Any]] | None
    gate: GateResult
    gate_rules: GateRules
    settings: ReportParams
    artifact_url: str | None = None
    failure: PipelineFailure | None = None


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    text = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return f"`{text}`"


VERDICT_ICONS = {"better": "✅", "unchanged": "➖", "new": "🆕", "worse": "⚠️"}


def verdict_line(result: GateResult, base_ref: str, failure: PipelineFailure | None = None) -> str:
    """The first line: what happened to the primary metric (or where the pipeline failed),
    and the gate's result."""
    if failure is not None:
        what = f"Pipeline failed {failure.where}"
        if failure.problems:
            n = len(failure.problems)
            what += f": {n} data problem{'s' if n != 1 else ''}"
        return f"## ❌ {what} · quality gate failed"
    name = label(result.metric)
    if not result.ok:
        icon = "❌"
    elif not result.passed:
        icon = "🟠"  # failed but overridden
    else:
        icon = VERDICT_ICONS[result.verdict]
    if result.base is None:
        what = f"New: {name} {result.head:.4f} (no metrics on {base_ref} to compare with)"
    else:
        what = (
            f"{result.verdict.capitalize()}: {name} {result.head:.4f} vs {result.base:.4f} "
            f"on {base_ref} ({result.delta:+.4f})"
        )
    return f"## {icon} {what} · {result.message()}"


def _metrics_table(rows: list[MetricRow], base_ref: str) -> str:
    arrows = {"better": "▲ better", "worse": "▼ worse", "unchanged": "", "changed": "changed"}
    lines = [
        f"| metric | this branch | {base_ref} | Δ | |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        direction = {1: "↑", -1: "↓", 0: ""}[row.direction]
        delta = "–" if row.delta is None else f"{row.delta:+.4f}"
        head = _fmt(row.head)
        if row.significant and row.direction != 0:
            head, delta = f"**{head}**", f"**{delta}**"
        status = arrows.get(row.change, row.change)
        lines.append(
            f"| {label(row.name)} {direction} | {head} | {_fmt(row.base)} | {delta} | {status} |"
        )
    lines.append("")
    lines.append(
        "↑ higher is better, ↓ lower is better; bold: a change of at least the "
        "`gate.significant` threshold."
    )
    return "\n".join(lines)


def _confusion_table(head: dict[str, Any], base: dict[str, Any] | None, base_ref: str) -> str:
    keys = {"tn", "fp", "fn", "tp"}
    h = head.get("confusion") or {}
    b = (base or {}).get("confusion") or {}
    if not keys <= set(h):
        return ""
    if not keys <= set(b):
        b = {}

    def cell(key: str) -> str:
        if key not in b:
            return f"{h[key]:,}"
        return f"{h[key]:,} ({h[key] - b[key]:+,})"

    threshold = head.get("threshold")
    return "\n".join(
        [
            f"Confusion matrix at threshold {threshold} (this branch, Δ vs {base_ref}):",
            "",
            "| | predicted 0 | predicted 1 |",
            "|---|---:|---:|",
            f"| **actual 0** | {cell('tn')} | {cell('fp')} |",
            f"| **actual 1** | {cell('fn')} | {cell('tp')} |",
        ]
    )


def _params_section(changes: list[tuple[str, Any, Any]], base_ref: str) -> str:
    if not changes:
        return f"No params changed against {base_ref}."
    lines = [f"| param | {base_ref} | this branch |", "|---|---|---|"]
    lines += [f"| `{key}` | {_fmt(old)} | {_fmt(new)} |" for key, old, new in changes]
    return "\n".join(lines)


def _data_section(diff: DataDiff, threshold: float, base_ref: str) -> str:
    if not diff.changed:
        short = (diff.head_hash or "?")[:12]
        return f"Data unchanged (`data.dvc` md5 `{short}` on both sides)."
    old, new = (diff.base_hash or "–")[:12], (diff.head_hash or "–")[:12]
    lines = [f"`data.dvc` changed: `{old}` → `{new}`."]
    if diff.rows == (None, None):
        lines += diff.missing or ["No data profiles to compare."]
        return " ".join(lines)
    (b_rows, h_rows), (b_rate, h_rate) = diff.rows, diff.target_rate
    lines += [
        "",
        f"| | {base_ref} | this branch |",
        "|---|---:|---:|",
        f"| labelled rows | {_fmt(b_rows)} | {_fmt(h_rows)} |",
        f"| target rate | {_fmt(b_rate)} | {_fmt(h_rate)} |",
        "",
    ]
    for title, items in (
        ("Columns added", diff.added_columns),
        ("Columns removed", diff.removed_columns),
    ):
        if items:
            lines.append(f"{title}: {', '.join(f'`{c}`' for c in items)}.")
    for name, old, new in diff.retyped_columns:
        lines.append(f"Type of `{name}` changed: `{old}` → `{new}`.")
    drifted = [(n, v) for n, v in diff.drift if v is not None and v > threshold]
    lines.append(
        f"Drift (population stability index, > {threshold} counts as drift): "
        + (", ".join(f"**{n}** {v:.3f}" for n, v in drifted) if drifted else "no feature drifted.")
    )
    lines += ["", "| feature | PSI |", "|---|---:|"]
    lines += [f"| {n} | {'n/a' if v is None else f'{v:.3f}'} |" for n, v in diff.drift]
    return "\n".join(lines)


def _fence(lines: list[str]) -> str:
    """A code block that the lines cannot close early (a fence longer than any in them)."""
    longest = max([len(run) for line in lines for run in re.findall(r"`+", line)] + [2])
    fence = "`" * (longest + 1)
    return f"{fence}text\n" + "\n".join(lines) + f"\n{fence}"


MAX_PROBLEMS = 50  # problems listed in the report; the rest are in the artifacts


def _failure_section(failure: PipelineFailure, inputs: ReportInputs) -> str:
    """Where the pipeline stopped, every validation problem, and the end of the log."""
    lines = []
    if failure.problems:
        source = f" in `{failure.source}`" if failure.source else ""
        n = len(failure.problems)
        lines.append(f"`{failure.stage}` found {n} problem{'s' if n != 1 else ''}{source}:")
        lines.append("")
        shown = failure.problems[:MAX_PROBLEMS]
        lines += [f"- {_escape(problem)}" for problem in shown]
        if len(failure.problems) > len(shown):
            lines.append(f"- … and {len(failure.problems) - len(shown)} more (see the artifacts)")
        if failure.hint:
            lines += ["", _escape(failure.hint)]
    elif failure.stage:
        lines.append(f"Stage `{failure.stage}` failed; the end of its log is below.")
    else:
        lines.append(
            "The pipeline step failed before `dvc repro` ran any stage (getting the data? "
            "installing the packages?); see the job log."
        )
    lines += [
        "",
        "Nothing after the failure ran, so this branch has no metrics, curves or model: "
        f"they are left out rather than shown from {inputs.base_ref} or an earlier run.",
    ]
    if inputs.artifact_url:
        lines.append(f"The full log is in the [workflow run]({inputs.artifact_url}).")
    if failure.log_tail:
        lines += ["", _details("End of the <code>dvc repro</code> log", _fence(failure.log_tail))]
    return "\n".join(lines)


def _escape(text: str) -> str:
    """Plain text for a Markdown list item: no HTML, no stray table or heading syntax."""
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def _rules_section(rules: GateRules, base_ref: str) -> str:
    """A change to the gate's own rules, shown above everything else; or the warning that
    the base has no rules."""
    lines = []
    if rules.warning:
        lines.append(f"⚠️ {rules.warning}")
    if rules.changes:
        if lines:
            lines.append("")
        lines += [
            f"**This branch changes the quality gate.** The rules in {rules.source} apply to "
            f"this pull request; the change takes effect once merged, and merging it needs the "
            f"PR label `{rules.rules.override_label}`.",
            "",
            f"| rule | {base_ref} | this branch |",
            "|---|---|---|",
        ]
        lines += [f"| `{key}` | {_fmt(old)} | {_fmt(new)} |" for key, old, new in rules.changes]
    return "\n".join(lines)


def _stages_section(stages: list[dict[str, Any]] | None) -> str:
    if not stages:
        return "No pipeline run was recorded (run `make repro` before `make report`)."
    words = {
        "ran": "ran",
        "cached": "reused from run-cache",
        "skipped": "unchanged, skipped",
        "failed": "❌ **failed**",
    }
    lines = ["| stage | status | duration |", "|---|---|---:|"]
    for stage in stages:
        seconds = stage.get("seconds")
        duration = "–" if seconds is None else f"{seconds:.1f} s"
        lines.append(
            f"| `{stage['stage']}` | {words.get(stage['status'], stage['status'])} | {duration} |"
        )
    return "\n".join(lines)


def _details(summary: str, body: str, open_: bool = False) -> str:
    return (
        f"<details{' open' if open_ else ''}><summary>{summary}</summary>\n\n{body}\n\n</details>"
    )


@dataclass
class Section:
    title: str
    body: str
    priority: int  # lower survives longer when the report is too long
    collapsed: bool = False


def sections(inputs: ReportInputs) -> list[Section]:
    s = inputs.settings
    rules = inputs.gate_rules
    shown_above = {key for key, _, _ in rules.changes}  # the gate's own changes: own section
    changes = [
        c for c in params_diff(inputs.head_params, inputs.base_params) if c[0] not in shown_above
    ]
    links = ""
    if inputs.artifact_url:
        links = (
            f"Full-resolution plots (PNG and the interactive DVC plots page), metrics and this "
            f"report: [workflow run artifacts]({inputs.artifact_url})."
        )
    rules_text = _rules_section(rules, inputs.base_ref)
    top = [
        Section("Quality gate rules", rules_text, 0) if rules_text else None,
    ]
    if inputs.failure is not None:
        if inputs.artifact_url:
            links = (
                "This report, the validation report and what the pipeline wrote before it "
                f"stopped: [workflow run artifacts]({inputs.artifact_url})."
            )
        base_value = inputs.gate.base
        reference = (
            ""
            if base_value is None
            else f" For reference, {label(inputs.gate.metric)} on {inputs.base_ref}: "
            f"{base_value:.4f}."
        )
        return [
            Section(
                f"Pipeline failed {inputs.failure.where}",
                _failure_section(inputs.failure, inputs),
                0,
            ),
            *top,
            Section(
                "Metrics",
                f"Not computed: the pipeline failed {inputs.failure.where}.{reference}",
                1,
            ),
            Section(
                f"Params changed ({len(changes)})", _params_section(changes, inputs.base_ref), 1
            ),
            Section("Data", _data_section(inputs.data, s.psi_threshold, inputs.base_ref), 2),
            Section("Pipeline stages", _stages_section(inputs.stages), 3),
            Section("Artifacts", links, 2) if links else None,
        ]
    rows = compare_metrics(inputs.head_metrics, inputs.base_metrics, rules.rules.significant)
    hp, bp = inputs.head_plots, inputs.base_plots
    charts = [
        curve_chart(
            "ROC",
            hp.get("roc"),
            bp.get("roc"),
            "fpr",
            "tpr",
            "false positive rate",
            "true positive rate",
        ),
        curve_chart(
            "Precision-recall",
            hp.get("prc"),
            bp.get("prc"),
            "recall",
            "precision",
            "recall",
            "precision",
        ),
    ]
    extra = [
        curve_chart(
            "Calibration",
            hp.get("calibration"),
            bp.get("calibration"),
            "mean_predicted",
            "observed_rate",
            "mean predicted probability",
            "observed rate",
            points=11,
            fit=True,
        ),
        importance_chart(hp.get("importance")),
    ]
    confusion = _confusion_table(inputs.head_metrics, inputs.base_metrics, inputs.base_ref)
    return [
        *top,
        Section("Metrics", _metrics_table(rows, inputs.base_ref), 0),
        Section(f"Params changed ({len(changes)})", _params_section(changes, inputs.base_ref), 1),
        Section("Data", _data_section(inputs.data, s.psi_threshold, inputs.base_ref), 2),
        Section("Curves", "\n\n".join(c for c in charts if c) + "\n\n" + confusion, 3),
        Section("More plots", "\n\n".join(c for c in extra if c), 5, collapsed=True),
        Section("Pipeline stages", _stages_section(inputs.stages), 4, collapsed=True),
        Section("Artifacts", links, 2) if links else None,
    ]


def render(inputs: ReportInputs, limit: int | None = None) -> str:
    """The Markdown report; never longer than ``limit`` (GitHub's comment limit by default).

    Over budget, the least important sections are first collapsed (never the metrics), then
    the biggest ones are left out with a line pointing at the artifacts, and as a last
    resort the text is cut.
    """
    limit = limit or inputs.settings.max_chars
    rules = inputs.gate_rules.rules
    floor = "" if rules.floor is None else f" and must stay beyond {rules.floor:g}"
    header = [
        verdict_line(inputs.gate, inputs.base_ref, inputs.failure),
        "",
        f"`{inputs.head_ref}` ({inputs.head_sha[:7]}) compared with `{inputs.base_ref}` "
        f"({inputs.base_sha[:7]}). Gate (rules from {inputs.gate_rules.source}): "
        f"{label(rules.metric)} may not get worse by more than {rules.max_drop:g}{floor}; "
        f"the PR label `{rules.override_label}` overrides it.",
    ]
    parts = [p for p in sections(inputs) if p is not None]

    def assemble(items: list[Section], dropped: list[str]) -> str:
        blocks = ["\n".join(header)]
        for item in items:
            body = item.body.strip()
            if not body:
                continue
            if item.collapsed:
                blocks.append(_details(f"<b>{item.title}</b>", body))
            else:
                blocks.append(f"### {item.title}\n\n{body}")
        if dropped:
            blocks.append(
                f"_Left out to fit GitHub's comment limit: {', '.join(dropped)}; "
                "see the workflow artifacts._"
            )
        return "\n\n".join(blocks) + "\n"

    text = assemble(parts, [])
    for item in sorted(parts, key=lambda p: -p.priority):  # collapse, least important first
        if len(text) <= limit:
            break
        if item.priority > 0:  # the metrics table always stays open
            item.collapsed = True
            text = assemble(parts, [])
    dropped: list[str] = []
    while len(text) > limit and any(p.priority > 0 for p in parts):  # then drop the biggest
        victim = max((p for p in parts if p.priority > 0), key=lambda p: len(p.body))
        parts.remove(victim)
        dropped.append(victim.title)
        text = assemble(parts, dropped)
    if len(text) > limit:
        note = "\n\n_Report cut to fit GitHub's comment limit; see the workflow artifacts._\n"
        text = text[: limit - len(note)] + note
    return text


# --------------------------------------------------------------------------- I/O


def _json_at(commit: str, path: Path) -> Any:
    text = github.read_at(commit, path)
    return json.loads(text) if text else None


def _plots(read: Any, plots_dir: Path) -> dict[str, Any]:
    from mlops.pipeline.evaluate import PLOT_FILES

    found = {}
    for name, filename in PLOT_FILES.items():
        if filename.endswith(".json"):
            data = read(plots_dir / filename)
            if data:
                found[name] = data.get(name)
    return found


def _json_file(path: Path | None) -> Any:
    return json.loads(path.read_text()) if path and path.exists() else None


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
    if failure is None and not paths.metrics.exists():
        raise FileNotFoundError(f"{paths.metrics} not found: run `make repro` first")
    # after a failure, the workspace's metrics and plots are not this branch's
    head_metrics = {} if failure else json.loads(paths.metrics.read_text())
    base_metrics = _json_at(base_sha, paths.metrics)
    base_params_text = github.read_at(base_sha, params_file)
    base_params = yaml.safe_load(base_params_text) if base_params_text else None
    data = data_diff(
        Path("data.dvc").read_text() if Path("data.dvc").exists() else None,
        github.read_at(base_sha, "data.dvc"),
        head_validation,
        _json_at(base_sha, paths.validation),
        base_ref=base,
        failure=failure,
        where=paths.validation.as_posix(),
    )
    stages = run.get("stages") if isinstance(run, dict) else run
    rules = gate_rules(params.gate, base_params, base)
    result = gate(
        head_metrics,
        base_metrics,
        rules.rules,
        override_requested(rules.rules),
        source=rules.source,
        changes=rules.changes,
        failure=failure,
    )
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
        stages=stages,
        gate=result,
        gate_rules=rules,
        settings=params.report,
        artifact_url=os.environ.get("ARTIFACT_URL") or None,
        failure=failure,
    )


def render_plots_page(base_sha: str, out_dir: Path) -> Path | None:
    """`dvc plots diff` against the base: the interactive page uploaded with the artifacts.

    The page loads Vega from a CDN, so it renders in a browser with network access; the
    PNG figures in the artifact need nothing.
    """
    import subprocess
    import sys

    target = out_dir / "plots"
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "plots", "diff", base_sha, "--out", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        print(f"report: warning: `dvc plots diff` failed, no plots page:\n{result.stderr}")
        return None
    return target / "index.html"


def main(
    params: Params,
    raw_params: dict[str, Any],
    base: str,
    outcome: str | None = None,
    params_file: Path = DEFAULT_PARAMS,
) -> GateResult:
    """Write report.md and gate.json to ``paths.report``; also after a failed pipeline run
    (``outcome``: the CI step's), which the report then describes."""
    out_dir = params.paths.report
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = collect(params, raw_params, base, out_dir / RECORD_FILE, outcome, params_file)
    if inputs.failure is None:  # after a failure there are no plots of this branch to diff
        render_plots_page(inputs.base_sha, out_dir)
    text = render(inputs)
    (out_dir / "report.md").write_text(text)
    (out_dir / "gate.json").write_text(json.dumps(asdict(inputs.gate), indent=2) + "\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a") as f:
            f.write(text)
    print(text.splitlines()[0].lstrip("# "))
    print(f"report: {out_dir / 'report.md'} ({len(text):,} characters)")
    return inputs.gate
