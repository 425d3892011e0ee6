"""The one drift issue: what to do with it (:func:`decide`, pure) and doing it (:func:`apply`).

One open issue carries the drift label: created on the first drifted run, updated (body
and a comment) on the next ones, closed when a run is clean. The count of consecutive
drifted runs lives in the issue body (a hidden marker), so no other state is needed; every
``monitor.alert.retrain_after`` drifted runs in a row, retraining starts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mlops.monitoring.ghclient import GhClient
from mlops.monitoring.summary import summary_markdown

MARKER = "mlops-drift-alert"
_COUNT = re.compile(rf"<!-- {MARKER} consecutive=(\d+) -->")


@dataclass(frozen=True)
class Issue:
    number: int
    body: str = ""

    @property
    def consecutive(self) -> int:
        found = _COUNT.search(self.body or "")
        return int(found.group(1)) if found else 0


@dataclass(frozen=True)
class AlertAction:
    kind: str  # create | update | close | none
    number: int | None = None
    body: str = ""
    comment: str = ""
    consecutive: int = 0
    retrain: bool = False
    reason: str = ""

    def describe(self) -> str:
        where = f" #{self.number}" if self.number else ""
        retrain = "; retraining starts" if self.retrain else ""
        return f"{self.kind}{where}: {self.reason}{retrain}"


def _report_line(report_url: str | None) -> str:
    if not report_url:
        return "see the monitor workflow run (artifact monitor-report)"
    if "/actions/runs/" in report_url:  # no Pages site: the report is the run's artifact
        return f"artifact `monitor-report` of {report_url}"
    return report_url


def version_lines(summary: dict[str, Any]) -> list[str]:
    """The issue's lines about model versions: the one analysed and the live one. (The place
    for more: the version in each stage of the model registry goes here.)"""
    log = summary.get("log", {})
    chosen = log.get("selection") or {}
    lines = [f"- live model version: `{log.get('live_model_version') or 'unknown'}`"]
    if chosen:
        lines.append(
            f"- analysed: model version {chosen.get('version')}, window {chosen.get('window')} "
            f"({chosen.get('from') or 'first'} to {chosen.get('to') or 'last'}), "
            f"{log.get('rows', 0):,} predictions"
        )
    return lines


def _since_line(summary: dict[str, Any]) -> list[str]:
    """Since when drift lasts, from the monitor's history (none without a history)."""
    kept = summary.get("history") or {}
    if not kept.get("drifting_since"):
        return []
    return [
        f"- drifting since: {kept['drifting_since']} ({kept['drifted_runs']} drifted run(s) in a "
        f"row of {kept['runs']} in the history; trend over runs on the report's site)"
    ]


def issue_body(
    summary: dict[str, Any], consecutive: int, retrain_after: int, report_url: str | None
) -> str:
    lines = [
        f"<!-- {MARKER} consecutive={consecutive} -->",
        f"The scheduled monitor found drift in production for **{consecutive} consecutive "
        f"run(s)** (retraining starts after {retrain_after}).",
        "",
        *version_lines(summary),
        *([f"- {summary['registry']}"] if summary.get("registry") else []),  # stage: version
        *_since_line(summary),
        f"- report: {_report_line(report_url)}",
        f"- last run: {summary.get('generated_at', 'n/a')}",
        "",
        summary_markdown(summary, report_url),
        "",
        "This issue is updated by every drifted run and closed by the first clean one.",
    ]
    return "\n".join(lines)


def decide(
    summary: dict[str, Any],
    existing: Issue | None,
    alert: Any,
    report_url: str | None = None,
) -> AlertAction:
    """What to do with the one drift issue, given the monitor's verdict (pure)."""
    verdict = summary.get("verdict")
    if verdict == "drift":
        return _drifted(summary, existing, alert, report_url)
    if verdict == "ok":
        if existing is None:
            return AlertAction("none", reason="no drift, no open issue")
        version = summary.get("log", {}).get("live_model_version") or "unknown"
        comment = f"The latest monitor run found no drift (model `{version}`): closing." + (
            f"\n\nReport: {report_url}" if report_url else ""
        )
        return AlertAction("close", existing.number, comment=comment, reason="drift cleared")
    return AlertAction(
        "none",
        existing.number if existing else None,
        consecutive=existing.consecutive if existing else 0,
        reason=f"verdict {verdict}: nothing changed",
    )


def _drifted(
    summary: dict[str, Any], existing: Issue | None, alert: Any, report_url: str | None
) -> AlertAction:
    """Drift: a new issue, or one more consecutive run on the open one."""
    version = summary.get("log", {}).get("live_model_version") or "unknown"
    consecutive = (existing.consecutive if existing else 0) + 1
    retrain = consecutive % alert.retrain_after == 0
    body = issue_body(summary, consecutive, alert.retrain_after, report_url)
    if existing is None:
        return AlertAction("create", None, body, "", consecutive, retrain, "drift found")
    reasons = "; ".join(summary.get("reasons", []))
    comment = (
        f"Drift again (run {consecutive} in a row, model `{version}`): {reasons}"
        + (f"\n\nReport: {report_url}" if report_url else "")
        + (
            "\n\nRetraining starts now: the next job opens a pull request, or says here "
            "why it cannot."
            if retrain
            else ""
        )
    )
    return AlertAction(
        "update", existing.number, body, comment, consecutive, retrain, "drift persists"
    )


def open_issue(client: GhClient, label: str) -> Issue | None:
    """The oldest open issue with ``label``, if any."""
    out = client.run(
        "issue", "list", "--state", "open", "--label", label,
        "--json", "number,body", "--limit", "20",
    )  # fmt: skip
    issues = sorted(json.loads(out or "[]"), key=lambda i: i["number"])
    if not issues:
        return None
    return Issue(int(issues[0]["number"]), issues[0].get("body") or "")


def apply(client: GhClient, action: AlertAction, alert: Any) -> int | None:
    """Carry out ``action`` with ``client``; return the issue number."""
    if action.kind == "create":
        client.run(
            "label", "create", alert.label, "--color", "D93F0B",
            "--description", "Production drift found by the scheduled monitor", "--force",
        )  # fmt: skip
        url = client.run(
            "issue", "create", "--title", alert.title, "--label", alert.label,
            "--body-file", "-", stdin=action.body,
        ).strip()  # fmt: skip
        tail = url.rstrip("/").rsplit("/", 1)[-1]
        return int(tail) if tail.isdigit() else None
    if action.kind == "update":
        number = str(action.number)
        client.run("issue", "edit", number, "--body-file", "-", stdin=action.body)
        client.run("issue", "comment", number, "--body-file", "-", stdin=action.comment)
        return action.number
    if action.kind == "close":
        client.run("issue", "close", str(action.number), "--comment", action.comment)
        return action.number
    return action.number
