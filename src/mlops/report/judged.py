"""The report's parts about what the gate weighs beyond the headline metric: the slices that
moved most (with the interval of each change), why base and branch are not comparable (and
what a reviewer confirms), and the params, with the schema's changes summed up in one line."""

from __future__ import annotations

from typing import Any

from mlops.core.config import GateParams
from mlops.report.comparable import schema_summary
from mlops.report.sections import details, fmt_value
from mlops.report.significance import WORSE, SliceChange

SHOWN_SLICES = 8  # the slices that moved most; the rest are in metrics.json


def slices_section(changes: list[SliceChange], rules: GateParams, base_ref: str) -> str:
    """The slices that moved most against the base, with their intervals and whether the
    gate holds them against ``gate.max_slice_drop``."""
    if not changes:
        return (
            f"No slice to compare: none of `schema.slices` has `gate.min_slice_rows` "
            f"({rules.min_slice_rows}) test rows and an ROC AUC on both this branch and "
            f"{base_ref}."
        )
    lines = [
        f"ROC AUC per slice of `schema.slices`, the {min(SHOWN_SLICES, len(changes))} that "
        f"moved most of {len(changes)} (slices under {rules.min_slice_rows} rows are not "
        f"judged). A slice fails the gate when it drops by more than "
        f"{rules.max_slice_drop:g} (`gate.max_slice_drop`) and the interval of its change "
        "lies below zero.",
        "",
        f"| slice | rows | this branch | {base_ref} | Δ | interval of Δ | |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for change in changes[:SHOWN_SLICES]:
        failing = change.verdict == WORSE and -change.delta > rules.max_slice_drop
        mark = "❌ beyond max_slice_drop" if failing else _word(change.verdict)
        interval = (
            "–"
            if change.interval is None
            else (f"{change.interval[0]:+.4f} to {change.interval[1]:+.4f}")
        )
        lines.append(
            f"| `{change.name}` | {change.rows:,} | {change.head:.4f} | {change.base:.4f} | "
            f"{change.delta:+.4f} | {interval} | {mark} |"
        )
    lines += [
        "",
        "Slice intervals are combined from each side's own (a slice's rows are not paired).",
    ]
    return "\n".join(lines)


def _word(verdict: str) -> str:
    return {"better": "▲ better", "worse": "▼ worse"}.get(verdict, "")


def comparability_section(why: list[str], label: str, base_ref: str) -> str:
    """Why the metrics of the two sides measure different things, and what unblocks it."""
    lines = [
        f"**The metrics of this branch and of `{base_ref}` are not comparable**, so this "
        "report says neither better nor worse:",
        "",
        *(f"- {reason}" for reason in why),
        "",
        f"A reviewer who confirms that this change of task is intended adds the PR label "
        f"`{label}`; the metrics below are this branch's, with {base_ref}'s for reference "
        "only.",
    ]
    return "\n".join(lines)


def params_with_schema(changes: list[tuple[str, Any, Any]], base_ref: str) -> str:
    """The params table, with every change inside ``schema`` summed up in one line and its
    details folded."""
    if not changes:
        return f"No params changed against {base_ref}."
    line, inside = schema_summary(changes)
    rest = [c for c in changes if c not in inside]
    blocks = []
    if line:
        table = _table(inside, base_ref)
        blocks += [line, details(f"{len(inside)} schema keys changed", table)]
    if rest:
        blocks.append(_table(rest, base_ref))
    return "\n\n".join(blocks)


def _table(changes: list[tuple[str, Any, Any]], base_ref: str) -> str:
    lines = [f"| param | {base_ref} | this branch |", "|---|---|---|"]
    lines += [f"| `{key}` | {fmt_value(old)} | {fmt_value(new)} |" for key, old, new in changes]
    return "\n".join(lines)
