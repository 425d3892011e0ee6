"""The Markdown of each part of the report: the verdict line, the metrics, params, data,
confusion matrix, pipeline stages, a pipeline failure and a change to the gate's rules.

Each function takes already-computed values and returns Markdown; :mod:`mlops.report.render`
puts the parts together within GitHub's comment limit.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from mlops.report.diffs import DataDiff
from mlops.report.failure import PipelineFailure
from mlops.report.gate import GateResult, GateRules
from mlops.report.metrics import MetricRow, label

VERDICT_ICONS = {
    "better": "✅",
    "no significant change": "➖",
    "new": "🆕",
    "worse": "⚠️",
    "not comparable": "⚖️",
}
MAX_PROBLEMS = 50  # problems listed in the report; the rest are in the artifacts


def fmt_value(value: Any) -> str:
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


def details(summary: str, body: str, open_: bool = False) -> str:
    return (
        f"<details{' open' if open_ else ''}><summary>{summary}</summary>\n\n{body}\n\n</details>"
    )


def verdict_line(result: GateResult, base_ref: str, failure: PipelineFailure | None = None) -> str:
    """The first line: what happened to the primary metric (or where the pipeline failed),
    and the gate's result."""
    if failure is not None:
        return f"## ❌ Pipeline failed {failure.where}{failure.counted} · quality gate failed"
    name = label(result.metric)
    if not result.ok:
        icon = "❌"
    elif not result.passed:
        icon = "🟠"  # failed but overridden
    else:
        icon = VERDICT_ICONS[result.verdict]
    if result.base is None:
        what = f"New: {name} {result.head:.4f} (no metrics on {base_ref} to compare with)"
    elif result.not_comparable:
        what = f"Not comparable: {name} {result.head:.4f} here, {result.base:.4f} on {base_ref}"
    else:
        what = (
            f"{result.verdict.capitalize()}: {name} {result.head:.4f} vs {result.base:.4f} "
            f"on {base_ref} ({result.delta:+.4f}{_interval_words(result)})"
        )
    return f"## {icon} {what} · {result.message()}"


def _interval_words(result: GateResult) -> str:
    if result.interval is None:
        return ""
    level = f"{result.confidence:.0%} " if result.confidence else ""
    how = {"paired": ", paired", "intervals": ", unpaired"}.get(result.method or "", "")
    return f", {level}interval {_span(result.interval)}{how}"


def _span(interval: list[float] | None, signed: bool = True) -> str:
    if interval is None:
        return "–"
    low, high = interval
    return f"{low:+.4f} to {high:+.4f}" if signed else f"{low:.4f}–{high:.4f}"


def metrics_table(rows: list[MetricRow], base_ref: str, note: str = "") -> str:
    """Every metric of both sides with the delta; with intervals when there are some
    (``note`` says how the interval of the difference was obtained)."""
    arrows = {"better": "▲ better", "worse": "▼ worse", "unchanged": "", "changed": "changed"}
    with_intervals = any(r.interval or r.difference for r in rows)
    if with_intervals:
        return _interval_table(rows, base_ref, arrows, note)
    lines = [
        f"| metric | this branch | {base_ref} | Δ | |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        name, head, delta = _row_cells(row)
        status = arrows.get(row.change, row.change)
        lines.append(f"| {name} | {head} | {fmt_value(row.base)} | {delta} | {status} |")
    lines.append("")
    lines.append(
        "↑ higher is better, ↓ lower is better; bold: a change of at least the "
        "`gate.significant` threshold."
    )
    return "\n".join(lines)


def _row_cells(row: MetricRow) -> tuple[str, str, str]:
    """The metric's name with its direction, this branch's value and the delta; both bold
    when the change is significant."""
    direction = {1: "↑", -1: "↓", 0: ""}[row.direction]
    delta = "–" if row.delta is None else f"{row.delta:+.4f}"
    head = fmt_value(row.head)
    if row.significant and row.direction != 0:
        head, delta = f"**{head}**", f"**{delta}**"
    return f"{label(row.name)} {direction}", head, delta


def _interval_table(rows: list[MetricRow], base_ref: str, arrows: dict[str, str], note: str) -> str:
    lines = [
        f"| metric | this branch | interval | {base_ref} | Δ | interval of Δ | |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        name, head, delta = _row_cells(row)
        cells = [
            name,
            head,
            _span(row.interval, signed=False) if row.interval else "",
            fmt_value(row.base),
            delta,
            _span(row.difference) if row.difference else "",
            arrows.get(row.change, row.change),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"↑ higher is better, ↓ lower is better; bold: a significant change. {note}"]
    return "\n".join(lines)


def confusion_table(head: dict[str, Any], base: dict[str, Any] | None, base_ref: str) -> str:
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


def data_section(diff: DataDiff, threshold: float, base_ref: str) -> str:
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
        f"| labelled rows | {fmt_value(b_rows)} | {fmt_value(h_rows)} |",
        f"| target rate | {fmt_value(b_rate)} | {fmt_value(h_rate)} |",
        "",
    ]
    for title, items in (
        ("Columns added", diff.added_columns),
        ("Columns removed", diff.removed_columns),
    ):
        if items:
            lines.append(f"{title}: {', '.join(f'`{c}`' for c in items)}.")
    for name, old_type, new_type in diff.retyped_columns:
        lines.append(f"Type of `{name}` changed: `{old_type}` → `{new_type}`.")
    return "\n".join(lines + _drift_lines(diff.drift, threshold))


def _drift_lines(drift: list[tuple[str, float | None]], threshold: float) -> list[str]:
    """The features that drifted, then every feature's PSI."""
    drifted = [(n, v) for n, v in drift if v is not None and v > threshold]
    lines = [
        f"Drift (population stability index, > {threshold} counts as drift): "
        + (", ".join(f"**{n}** {v:.3f}" for n, v in drifted) if drifted else "no feature drifted.")
    ]
    lines += ["", "| feature | PSI |", "|---|---:|"]
    lines += [f"| {n} | {'n/a' if v is None else f'{v:.3f}'} |" for n, v in drift]
    return lines


def stages_section(stages: list[dict[str, Any]] | None) -> str:
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


def failure_section(failure: PipelineFailure, base_ref: str, artifact_url: str | None) -> str:
    """Where the pipeline stopped, every validation problem, and the end of the log."""
    lines = _failure_cause(failure)
    lines += [
        "",
        "Nothing after the failure ran, so this branch has no metrics, curves or model: "
        f"they are left out rather than shown from {base_ref} or an earlier run.",
    ]
    if artifact_url:
        lines.append(f"The full log is in the [workflow run]({artifact_url}).")
    if failure.log_tail:
        lines += ["", details("End of the <code>dvc repro</code> log", _fence(failure.log_tail))]
    return "\n".join(lines)


def _failure_cause(failure: PipelineFailure) -> list[str]:
    """The validation problems (at most :data:`MAX_PROBLEMS`), or the stage that failed."""
    if not failure.problems:
        if failure.stage:
            return [f"Stage `{failure.stage}` failed; the end of its log is below."]
        return [
            "The pipeline step failed before `dvc repro` ran any stage (getting the data? "
            "installing the packages?); see the job log."
        ]
    source = f" in `{failure.source}`" if failure.source else ""
    n = len(failure.problems)
    lines = [f"`{failure.stage}` found {n} problem{'s' if n != 1 else ''}{source}:", ""]
    shown = failure.problems[:MAX_PROBLEMS]
    lines += [f"- {_escape(problem)}" for problem in shown]
    if len(failure.problems) > len(shown):
        lines.append(f"- … and {len(failure.problems) - len(shown)} more (see the artifacts)")
    if failure.hint:
        lines += ["", _escape(failure.hint)]
    return lines


def _fence(lines: list[str]) -> str:
    """A code block that the lines cannot close early (a fence longer than any in them)."""
    longest = max([len(run) for line in lines for run in re.findall(r"`+", line)] + [2])
    fence = "`" * (longest + 1)
    return f"{fence}text\n" + "\n".join(lines) + f"\n{fence}"


def _escape(text: str) -> str:
    """Plain text for a Markdown list item: no HTML, no stray table or heading syntax."""
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def rules_section(rules: GateRules, base_ref: str) -> str:
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
        lines += [
            f"| `{key}` | {fmt_value(old)} | {fmt_value(new)} |" for key, old, new in rules.changes
        ]
    return "\n".join(lines)
