"""The monitor's summary as people and machines read it.

- :func:`plain` makes summary.json plain JSON (no numpy types, no NaN);
- :func:`summary_markdown` renders summary.md (job summary, drift issue, Pages site):
  verdict, reasons, drifted features, scores, thresholds;
- :func:`report_html` joins the Evidently snapshots into one self-contained report.html.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def finite(value: Any) -> float | None:
    """``value`` as a float; None when it is not a number or not finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def plain(value: Any) -> Any:
    """JSON-able copy: numpy scalars to plain floats/ints, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return finite(value)
    return value


def report_html(snapshots: list[Any]) -> str:
    """One self-contained HTML page (JS, fonts and data inline) for all snapshots."""
    if len(snapshots) == 1:
        return snapshots[0].get_html_str(as_iframe=False)
    from evidently.core.metric_types import render_widgets
    from evidently.legacy.renderers.html_widgets import group_widget

    widgets = [
        group_widget(title="", widgets=[w for s in snapshots for w in s._widgets]),
        *[w for s in snapshots for w in s._tests_widgets],
    ]
    return render_widgets(widgets, as_iframe=False)


# --------------------------------------------------------------------------- markdown
VERDICT_TEXT = {
    "ok": "✅ **No drift**: production looks like the training window.",
    "drift": "⚠️ **Drift detected**",
    "insufficient_data": "⏸️ **Not enough data** to judge",
}


def _fmt(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_markdown(summary: dict[str, Any], report_link: str | None = None) -> str:
    """A short Markdown summary: verdict, reasons, drifted features, scores, thresholds."""
    lines = _verdict_lines(summary, report_link) + _data_drift_lines(summary["data_drift"])
    lines += _prediction_lines(summary["prediction_drift"])
    lines += _performance_lines(summary["performance"])
    return "\n".join(lines) + "\n"


def _verdict_lines(summary: dict[str, Any], report_link: str | None) -> list[str]:
    log = summary.get("log", {})
    lines = [
        "## Production monitoring",
        "",
        VERDICT_TEXT.get(summary["verdict"], summary["verdict"]),
        "",
    ]
    lines += [f"- {reason}" for reason in summary["reasons"]]
    lines += [
        "",
        f"Logged predictions: {log.get('rows', 0):,} ({log.get('sampled', 0):,} analysed), "
        f"from {log.get('from') or 'n/a'} to {log.get('to') or 'n/a'}; "
        f"live model version `{log.get('live_model_version') or 'unknown'}`.",
        *_selection_lines(log),
        *([f"Registry: {summary['registry']}."] if summary.get("registry") else []),
        f"Reference: {summary['reference']['sampled']:,} rows of the training window.",
    ]
    if report_link:
        lines.append(f"Full report: {report_link}")
    return lines


def _selection_lines(log: dict[str, Any]) -> list[str]:
    """Which window and model version were analysed, and what was left out."""
    chosen = log.get("selection")
    if not chosen:
        return []
    versions = ", ".join(f"`{v}` {n:,}" for v, n in log.get("model_versions", {}).items())
    left = log.get("not_selected") or {}
    left_out = ", ".join(f"`{v}` {n:,}" for v, n in left.items()) or "none"
    return [
        f"Window: {chosen['window']} ({chosen['from'] or 'first'} to {chosen['to'] or 'last'}),"
        f" model version {chosen['version']}: {log.get('rows', 0):,} predictions ({versions});"
        f" left out {sum(left.values()):,} of {log.get('rows_read', 0):,} read ({left_out}).",
    ]


def _data_drift_lines(data: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"### Data drift: {len(data['drifted_features'])} of {len(data['features'])} features "
        f"(alert at {data['share_threshold']:.0%})",
        "",
        "| feature | method | score | threshold | drifted |",
        "|---|---|---:|---:|:---:|",
    ]
    ordered = sorted(data["features"].items(), key=lambda kv: not kv[1]["drifted"])
    for name, row in ordered:
        mark = "⚠️ yes" if row["drifted"] else "no"
        lines.append(
            f"| {name} | {row['method']} | {_fmt(row['score'])} | {_fmt(row['threshold'])} "
            f"| {mark} |"
        )
    return lines


def _prediction_lines(prediction: dict[str, Any]) -> list[str]:
    if not prediction.get("available"):
        return []
    p = prediction["probability"]
    rate = prediction["positive_rate"]
    return [
        "",
        "### Prediction drift",
        "",
        f"- probability: {p['method']} {_fmt(p['score'])} (threshold {_fmt(p['threshold'])})"
        f" {'⚠️ drifted' if p['drifted'] else 'stable'}",
        f"- predicted positive rate: {_fmt(rate['current'])} "
        f"(training window {_fmt(rate['reference'])})",
    ]


def _performance_lines(perf: dict[str, Any]) -> list[str]:
    lines = ["", "### Performance on late labels", ""]
    if perf["status"] == "no_labels":
        lines.append(
            f"Not judged: {perf['labelled']:,} labelled predictions "
            f"(needs {perf['min_labelled']:,})."
        )
        return lines
    lines += [
        f"{perf['labelled']:,} labelled predictions; degraded when a metric falls more "
        f"than {perf['max_drop']} below the model's evaluation.",
        "",
        "| metric | production | evaluated | delta | degraded |",
        "|---|---:|---:|---:|:---:|",
    ]
    for name, row in perf["metrics"].items():
        lines.append(
            f"| {name} | {_fmt(row['current'])} | {_fmt(row['evaluated'])} "
            f"| {_fmt(row['delta'])} | {'⚠️ yes' if row['degraded'] else 'no'} |"
        )
    return lines
