"""The pull-request report as one Markdown text: this branch against the base branch.

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
parts. Pure: :class:`ReportInputs` holds everything, :mod:`mlops.report.collect` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlops.core.config import ReportParams
from mlops.report import charts
from mlops.report.diffs import DataDiff, params_diff
from mlops.report.failure import PipelineFailure
from mlops.report.gate import Evidence, GateResult, GateRules
from mlops.report.judged import comparability_section, params_with_schema, slices_section
from mlops.report.metrics import MetricRow, compare_metrics, label
from mlops.report.sections import (
    confusion_table,
    data_section,
    details,
    failure_section,
    metrics_table,
    rules_section,
    stages_section,
    verdict_line,
)
from mlops.report.significance import NO_CHANGE


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
    evidence: Evidence | None = None  # significance, slices, comparability (None: no base)
    card: Path | None = None  # this branch's model card, written beside the report
    registry: str | None = None  # which version merging registers (release.registry)


@dataclass
class Section:
    title: str
    body: str
    priority: int  # lower survives longer when the report is too long
    collapsed: bool = False


# --------------------------------------------------------------------------- the sections


def sections(inputs: ReportInputs) -> list[Section]:
    """The report's sections in order: a failure first, then a change to the gate's rules,
    then the metrics (or why there are none), params, data, plots, stages, artifacts."""
    shown_above = {key for key, _, _ in inputs.gate_rules.changes}  # the gate's: own section
    changes = [
        c for c in params_diff(inputs.head_params, inputs.base_params) if c[0] not in shown_above
    ]
    rules_text = rules_section(inputs.gate_rules, inputs.base_ref)
    top = [Section("Quality gate rules", rules_text, 0)] if rules_text else []
    params = Section(
        f"Params changed ({len(changes)})", params_with_schema(changes, inputs.base_ref), 1
    )
    data = Section(
        "Data", data_section(inputs.data, inputs.settings.psi_threshold, inputs.base_ref), 2
    )
    if inputs.failure is not None:
        return _failed_run(inputs, inputs.failure, top, params, data)
    confusion = confusion_table(inputs.head_metrics, inputs.base_metrics, inputs.base_ref)
    hp, bp = inputs.head_plots, inputs.base_plots
    return [
        *top,
        *_judged(inputs),
        params,
        data,
        Section("Curves", "\n\n".join(charts.curves(hp, bp)) + "\n\n" + confusion, 3),
        Section("More plots", "\n\n".join(charts.more_plots(hp, bp)), 5, collapsed=True),
        Section("Pipeline stages", stages_section(inputs.stages), 4, collapsed=True),
        *_card(inputs.card, inputs.artifact_url),
        *_artifacts(
            inputs.artifact_url,
            "Full-resolution plots (PNG and the interactive DVC plots page), metrics, the "
            "model card and this report",
        ),
    ]


def _card(card: Path | None, url: str | None) -> list[Section]:
    """Where this branch's model card is (the release of a merge attaches the same card)."""
    if card is None:
        return []
    where = f"in the [workflow run artifacts]({url})" if url else "beside this report"
    text = (
        f"This branch's model card (data, windows, features, metrics with intervals, slices, "
        f"calibration, limitations, intended use): `{card.name}` {where}."
    )
    return [Section("Model card", text, 4)]


def _judged(inputs: ReportInputs) -> list[Section]:
    """Why the two sides are not comparable (if so), the metrics with their intervals, and
    the slices that moved most."""
    rules, evidence = inputs.gate_rules.rules, inputs.evidence
    rows = compare_metrics(inputs.head_metrics, inputs.base_metrics, rules.significant)
    rows, note = _with_intervals(rows, inputs)
    parts = [Section("Metrics", metrics_table(rows, inputs.base_ref, note), 0)]
    if evidence is None:
        return parts
    if evidence.not_comparable:
        body = comparability_section(evidence.not_comparable, rules.override_label, inputs.base_ref)
        parts.insert(0, Section("Not comparable", body, 0))
    slices = slices_section(evidence.slices, rules, inputs.base_ref)
    parts.append(Section("Slices", slices, 2))
    return parts


def _with_intervals(rows: list[MetricRow], inputs: ReportInputs) -> tuple[list[MetricRow], str]:
    """The rows with this branch's intervals and the interval of each difference (bold when
    it excludes zero), and the sentence saying how the differences were judged."""
    own = inputs.head_metrics.get("intervals") or {}
    comparison = inputs.evidence.comparison if inputs.evidence else None
    differences = comparison.differences if comparison else {}
    judged = []
    for row in rows:
        diff = differences.get(row.name)
        significant = row.significant if diff is None else diff.verdict != NO_CHANGE
        judged.append(
            replace(
                row,
                interval=own.get(row.name),
                difference=diff.interval if diff else None,
                significant=significant,
            )
        )
    if not own:
        return judged, ""
    level = f"{own['confidence']:.0%}" if "confidence" in own else ""
    note = f"Intervals: {level} bootstrap ({own.get('resamples', 0):,} resamples of the test rows)"
    if comparison is not None:
        note += f"; the differences are judged {comparison.how}"
    return judged, note + "."


def _failed_run(
    inputs: ReportInputs,
    failure: PipelineFailure,
    top: list[Section],
    params: Section,
    data: Section,
) -> list[Section]:
    """A failed run's report: why it failed, and no metrics or plots (they are not this
    branch's)."""
    base_value = inputs.gate.base
    reference = (
        ""
        if base_value is None
        else f" For reference, {label(inputs.gate.metric)} on {inputs.base_ref}: {base_value:.4f}."
    )
    return [
        Section(
            f"Pipeline failed {failure.where}",
            failure_section(failure, inputs.base_ref, inputs.artifact_url),
            0,
        ),
        *top,
        Section("Metrics", f"Not computed: the pipeline failed {failure.where}.{reference}", 1),
        params,
        data,
        Section("Pipeline stages", stages_section(inputs.stages), 3),
        *_artifacts(
            inputs.artifact_url,
            "This report, the validation report and what the pipeline wrote before it stopped",
        ),
    ]


def _artifacts(url: str | None, what: str) -> list[Section]:
    return [Section("Artifacts", f"{what}: [workflow run artifacts]({url}).", 2)] if url else []


# --------------------------------------------------------------------------- the text


def header(inputs: ReportInputs) -> str:
    """The verdict line, and which revisions were compared under which rules."""
    rules = inputs.gate_rules.rules
    floor = "" if rules.floor is None else f" and must stay beyond {rules.floor:g}"
    return "\n".join(
        [
            verdict_line(inputs.gate, inputs.base_ref, inputs.failure),
            "",
            f"`{inputs.head_ref}` ({inputs.head_sha[:7]}) compared with `{inputs.base_ref}` "
            f"({inputs.base_sha[:7]}). Gate (rules from {inputs.gate_rules.source}): "
            f"{label(rules.metric)} may not get significantly worse by more than "
            f"{rules.max_drop:g}{floor}, nor any slice by more than {rules.max_slice_drop:g}; "
            f"the PR label `{rules.override_label}` overrides it.",
            *(["", inputs.registry] if inputs.registry else []),
        ]
    )


def render(inputs: ReportInputs, limit: int | None = None) -> str:
    """The Markdown report; never longer than ``limit`` (``report.max_chars`` by default).

    Over budget, the least important sections are first collapsed (never the metrics), then
    the biggest ones are left out with a line pointing at the artifacts, and as a last
    resort the text is cut.
    """
    limit = limit or inputs.settings.max_chars
    top, parts = header(inputs), sections(inputs)
    _collapse_to_fit(top, parts, limit)
    text = _drop_to_fit(top, parts, limit)
    if len(text) > limit:
        note = "\n\n_Report cut to fit GitHub's comment limit; see the workflow artifacts._\n"
        text = text[: limit - len(note)] + note
    return text


def _assemble(top: str, parts: list[Section], dropped: list[str]) -> str:
    blocks = [top]
    for part in parts:
        body = part.body.strip()
        if not body:
            continue
        if part.collapsed:
            blocks.append(details(f"<b>{part.title}</b>", body))
        else:
            blocks.append(f"### {part.title}\n\n{body}")
    if dropped:
        blocks.append(
            f"_Left out to fit GitHub's comment limit: {', '.join(dropped)}; "
            "see the workflow artifacts._"
        )
    return "\n\n".join(blocks) + "\n"


def _collapse_to_fit(top: str, parts: list[Section], limit: int) -> None:
    """Collapse sections, least important first, until the text fits; the metrics (priority
    0) always stay open."""
    text = _assemble(top, parts, [])
    for part in sorted(parts, key=lambda p: -p.priority):
        if len(text) <= limit:
            return
        if part.priority > 0:
            part.collapsed = True
            text = _assemble(top, parts, [])


def _drop_to_fit(top: str, parts: list[Section], limit: int) -> str:
    """Leave out the biggest sections (never priority 0) until the text fits; the text."""
    dropped: list[str] = []
    text = _assemble(top, parts, dropped)
    while len(text) > limit and any(p.priority > 0 for p in parts):
        victim = max((p for p in parts if p.priority > 0), key=lambda p: len(p.body))
        parts.remove(victim)
        dropped.append(victim.title)
        text = _assemble(top, parts, dropped)
    return text
