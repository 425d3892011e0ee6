"""The quality gate: may this branch merge?

It fails when the primary metric drops by more than ``gate.max_drop`` and the drop is
significant (the interval of the difference, :mod:`mlops.report.significance`, excludes
zero), when a slice drops by more than ``gate.max_slice_drop`` significantly, when the metric
falls beyond the floor, or when the base's metrics measure something else (another target,
positive label, test window or feature set: :mod:`mlops.report.comparable`), which a reviewer
confirms with the override label. A pull request cannot loosen its own gate: the rules
(``gate`` in params.yaml) are read from the base branch, and a branch that changes them fails
the gate unless it carries the base's override label. A failed pipeline fails the gate, and
no label overrides that.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from mlops.core.config import GateParams
from mlops.report.diffs import params_diff
from mlops.report.failure import PipelineFailure
from mlops.report.metrics import DIRECTIONS, label, scalars
from mlops.report.significance import (
    WORSE,
    Comparison,
    Difference,
    SliceChange,
    judge,
)

NOT_COMPARABLE = "not comparable"

# --------------------------------------------------------------------------- the rules


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


def override_requested(rules: GateParams, environ: dict[str, str] | None = None) -> bool:
    """True when the PR carries the override label (PR_LABELS: the labels as a JSON list)."""
    environ = dict(os.environ) if environ is None else environ
    try:
        labels = json.loads(environ.get("PR_LABELS") or "[]")
    except json.JSONDecodeError:
        labels = []
    return isinstance(labels, list) and rules.override_label in labels


# --------------------------------------------------------------------------- the verdict


@dataclass(frozen=True)
class GateResult:
    metric: str
    head: float | None  # None when the pipeline failed: no metric of this branch
    base: float | None
    verdict: str  # better / worse / no significant change / new / not comparable / failed
    passed: bool
    overridden: bool
    reasons: list[str] = field(default_factory=list)
    interval: list[float] | None = None  # of head - base on the metric
    how: str | None = None  # how the interval was obtained, in words
    method: str | None = None  # paired / intervals / threshold
    confidence: float | None = None
    not_comparable: list[str] = field(default_factory=list)  # why, when not comparable

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


@dataclass(frozen=True)
class Evidence:
    """What the gate weighs besides the two metrics files: how significant the change is,
    the slices' changes, and why the two sides may not be comparable."""

    comparison: Comparison | None = None
    slices: list[SliceChange] = field(default_factory=list)
    not_comparable: list[str] = field(default_factory=list)


def gate(
    head: dict[str, Any],
    base: dict[str, Any] | None,
    rules: GateParams,
    overridden: bool,
    *,
    source: str = "params.yaml",
    changes: list[tuple[str, Any, Any]] | None = None,
    failure: PipelineFailure | None = None,
    evidence: Evidence | None = None,
) -> GateResult:
    """Judge the primary metric: no significant drop larger than ``max_drop`` against the
    base, no slice's significant drop larger than ``max_slice_drop``, beyond the floor, and
    comparable with the base at all (``evidence``; without it, a change of
    ``gate.significant`` or more counts as significant).

    ``rules`` are the base branch's (see :func:`gate_rules`; ``source`` says where they are
    written, for the messages); ``changes`` are the branch's changes to them, which fail the
    gate unless ``overridden`` (the PR carries the override label). A ``failure`` of the
    pipeline fails the gate, and no label overrides it: there is nothing to judge.
    """
    metric = rules.metric
    base_value = scalars(base or {}).get(metric)
    change_reasons = _rule_change_reasons(changes, rules, source)
    if failure is not None:
        reasons = [failure.summary(), *change_reasons]
        return GateResult(metric, None, base_value, "failed", False, False, reasons)
    head_values = scalars(head)
    if metric not in head_values:
        raise ValueError(
            f"gate.metric in {source} is '{metric}', which is not in the metrics "
            f"({', '.join(head_values)})"
        )
    value, evidence = head_values[metric], evidence or Evidence()
    diff = _difference(metric, value, base_value, rules, evidence.comparison)
    if evidence.not_comparable and diff is not None:
        judged = [_comparability_reason(evidence.not_comparable, rules)]
    else:
        judged = [*_drop_reasons(diff, base_value, rules, source, evidence.comparison)]
        judged += _slice_reasons(evidence.slices, rules, source)
    reasons = [*judged, *_floor_reasons(value, rules, source), *change_reasons]
    comparison = evidence.comparison
    return GateResult(
        metric,
        value,
        base_value,
        _verdict(diff, evidence.not_comparable),
        not reasons,
        overridden,
        reasons,
        interval=diff.interval if diff else None,
        how=comparison.how if comparison and diff else None,
        method=comparison.method if comparison and diff else None,
        confidence=comparison.confidence if comparison else None,
        not_comparable=evidence.not_comparable if diff else [],
    )


def _difference(
    metric: str,
    value: float,
    base: float | None,
    rules: GateParams,
    comparison: Comparison | None,
) -> Difference | None:
    """The change of ``metric`` against the base with its interval (None without a base);
    without a comparison, judged by the ``gate.significant`` threshold."""
    if base is None:
        return None
    if comparison is not None and metric in comparison.differences:
        return comparison.differences[metric]
    delta = value - base
    return Difference(metric, delta, None, judge(metric, delta, None, rules.significant))


def _verdict(diff: Difference | None, not_comparable: list[str]) -> str:
    """new (nothing to compare with), not comparable, or the difference's verdict."""
    if diff is None:
        return "new"
    return NOT_COMPARABLE if not_comparable else diff.verdict


def _comparability_reason(why: list[str], rules: GateParams) -> str:
    return (
        f"the metrics are not comparable with the base's: {'; '.join(why)}. A reviewer "
        f"confirms that this change of task is intended with the PR label "
        f"'{rules.override_label}'"
    )


def _slice_reasons(slices: list[SliceChange], rules: GateParams, source: str) -> list[str]:
    """The worst slice whose ROC AUC dropped significantly by more than max_slice_drop."""
    failing = [c for c in slices if c.verdict == WORSE and -c.delta > rules.max_slice_drop]
    if not failing:
        return []
    worst = min(failing, key=lambda c: c.delta)
    more = f" (and {len(failing) - 1} more slices)" if len(failing) > 1 else ""
    interval = (
        ""
        if worst.interval is None
        else (f", interval of the difference {worst.interval[0]:+.4f} to {worst.interval[1]:+.4f}")
    )
    return [
        f"slice {worst.name}: ROC AUC dropped from {worst.base:.4f} to {worst.head:.4f} "
        f"({worst.delta:+.4f}{interval}), more than gate.max_slice_drop "
        f"{rules.max_slice_drop:g} in {source}{more}"
    ]


def _drop_reasons(
    diff: Difference | None,
    base: float | None,
    rules: GateParams,
    source: str,
    comparison: Comparison | None,
) -> list[str]:
    """The primary metric's drop, when larger than max_drop and significant."""
    if diff is None or base is None:
        return []
    direction = DIRECTIONS.get(rules.metric, 1)
    if -(diff.delta * direction) <= rules.max_drop or diff.verdict != WORSE:
        return []
    word = "dropped" if direction > 0 else "rose"
    interval, noise = "", "with no interval to judge noise, the drop alone decides"
    if diff.interval is not None and comparison is not None:
        level = f"{comparison.confidence:.0%} " if comparison.confidence else ""
        interval = f"; {level}interval {diff.interval_text()}, {comparison.method}"
        noise = "the drop is larger than noise"
    return [
        f"{label(rules.metric)} {word} from {base:.4f} to {base + diff.delta:.4f} "
        f"({diff.delta:+.4f}{interval}); the most allowed is {rules.max_drop:.4f} "
        f"(gate.max_drop in {source}); {noise}"
    ]


def _floor_reasons(value: float, rules: GateParams, source: str) -> list[str]:
    direction = DIRECTIONS.get(rules.metric, 1)
    if rules.floor is not None and (value - rules.floor) * direction < 0:
        side = "below the floor" if direction > 0 else "above the ceiling"
        return [
            f"{label(rules.metric)} {value:.4f} is {side} of {rules.floor:.4f} "
            f"(gate.floor in {source})"
        ]
    return []


def _rule_change_reasons(
    changes: list[tuple[str, Any, Any]] | None, rules: GateParams, source: str
) -> list[str]:
    if not changes:
        return []
    listed = ", ".join(f"{key} {_plain(old)} → {_plain(new)}" for key, old, new in changes)
    return [
        f"this branch changes the quality gate's rules ({listed}); the rules in {source} "
        f"apply, and a change to them needs the PR label '{rules.override_label}'"
    ]


def _plain(value: Any) -> str:
    return "(none)" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------- the command's text


@dataclass(frozen=True)
class GateDecision:
    """What the `gate` command prints (to stdout and to stderr) and whether it exits 0."""

    passes: bool
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)


def decision(result: GateResult, rules: GateRules, failure: PipelineFailure | None) -> GateDecision:
    """The gate's verdict in words: why it passed, or why it failed and what unblocks it
    (fixing the pipeline, or a reviewer's override label)."""
    warning = [f"gate: warning: {rules.warning}"] if rules.warning else []
    if result.passed:
        said = f"gate: {result.message()}: {result.metric} {result.head:.4f} ({result.verdict}"
        if result.interval is not None:
            level = f"{result.confidence:.0%} " if result.confidence else ""
            low, high = result.interval
            said += f"; {level}interval of the difference {low:+.4f} to {high:+.4f}"
        return GateDecision(True, [said + ")"], warning)
    if result.overridden:
        said = f"gate: {result.message()}; passing because the PR has the override label"
        return GateDecision(True, [said], warning)
    if failure is not None:
        unblock = "gate: fix the pipeline (see the report): no label overrides a failed run"
    else:
        unblock = f"gate: to merge anyway, a reviewer adds the label '{rules.rules.override_label}'"
    return GateDecision(False, [], [*warning, f"gate: {result.message()}", unblock])
