"""Command line of production monitoring: monitor, replay, alert, retrain, and the steps of
the monitor workflow around them (monitor-comment, monitor-site, monitor-pages-off).

Registered in ``mlops.cli`` as ``uv run mlops monitor ...``; also runs on its own:
``python -m mlops.monitoring.commands --help``.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlops.core.cli import ParamsOption, command, new_app
from mlops.core.config import DEFAULT_PARAMS
from mlops.core.github import set_output, step_summary

if TYPE_CHECKING:
    from mlops.monitoring.retrain import RetrainBlocked

app = new_app("Production monitoring: drift report, replayed traffic, the drift alert issue.")


_URL = re.compile(r"https?://[^\s<>\"'`]+")


def _check_url(value: str | None, option: str) -> str | None:
    """``value`` if it is a plain http(s) URL (it is quoted in issues and summaries)."""
    if value is not None and not _URL.fullmatch(value):
        raise ValueError(f"{option} {value!r} is not a URL: expected https://... (no spaces)")
    return value


@command(app)
def monitor(
    logs: Annotated[
        str | None, typer.Option(help="log file, folder or fsspec URL [default: monitor.logs]")
    ] = None,
    labels: Annotated[
        str | None, typer.Option(help="late labels (JSON lines) [default: monitor.labels]")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="output folder [default: monitor.out]")] = None,
    report_link: Annotated[
        str | None, typer.Option(help="URL of the published report, quoted in summary.md")
    ] = None,
    fail_on_drift: Annotated[bool, typer.Option(help="exit 2 when the verdict is drift")] = False,
    window: Annotated[
        str | None, typer.Option(help="7d, 12h, 30m or all [default: monitor.window]")
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="live, all or a model version [default: monitor.version]")
    ] = None,
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Compare the prediction log with the training window: report.html, summary.json/.md."""
    from mlops.core.config import load_params
    from mlops.monitoring import run

    _check_url(report_link, "--report-link")
    p = load_params(params)
    m = run.settings(p.monitor, window, version)
    summary = run.main(p, m, logs, labels, out, report_link)
    folder = out or p.monitor.out
    markdown = (folder / "summary.md").read_text()
    step_summary(markdown)
    set_output("verdict", summary["verdict"])
    print(markdown)
    print(f"monitor: verdict {summary['verdict']}; report {folder / 'report.html'}")
    if fail_on_drift and summary["verdict"] == "drift":
        raise typer.Exit(2)


@command(app)
def replay(
    url: Annotated[str, typer.Option(help="base URL of the running service")] = (
        "http://127.0.0.1:3000"
    ),
    month: Annotated[
        str | None, typer.Option(help="month to replay, YYYY-MM [default: monitor.replay.month]")
    ] = None,
    run_date: Annotated[
        str | None, typer.Option(help="date choosing the month when none is set [default: today]")
    ] = None,
    requests: Annotated[
        int | None, typer.Option(help="records to send [default: monitor.replay.requests]")
    ] = None,
    rate: Annotated[
        float | None, typer.Option(help="requests per second [default: monitor.replay.rate]")
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="late labels file to append [default: monitor.labels]")
    ] = None,
    serve: Annotated[
        str | None,
        typer.Option(
            help="start this bento (e.g. <serve.name>:latest) on 127.0.0.1 for the replay, "
            "logging to monitor.logs, and stop it after; default: use the service at --url"
        ),
    ] = None,
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Replay a later month of the data against the service; write late labels."""
    from mlops.core.config import load_params
    from mlops.core.monitor_config import check_month
    from mlops.monitoring import replay as stage

    if month is not None:  # first: it may come from a workflow's dispatch input
        check_month(month, "--month")
    p = load_params(params)
    given = {"month": month, "requests": requests, "rate": rate}
    settings = p.monitor.replay.model_copy(update={k: v for k, v in given.items() if v is not None})
    when = date.fromisoformat(run_date) if run_date else datetime.now(UTC).date()
    chosen, records = stage.month_requests(p, settings, when)
    target = labels or Path(p.monitor.labels)
    print(
        f"replay: {len(records):,} records of {chosen} -> {serve or url} "
        f"(at most {settings.rate:g} requests/s, {settings.concurrency} in flight)",
        flush=True,
    )
    if serve:
        bento = f"{p.serve.name}:latest" if serve == "latest" else serve  # `make bento`'s last
        with stage.bento_server(bento, p.monitor) as served:
            result = stage.replay(served, records, settings, target, p.schema.target, month=chosen)
    else:
        result = stage.replay(url, records, settings, target, p.schema.target, month=chosen)
    print(
        f"replay: {result.sent:,} predictions, {result.failed} failed, "
        f"{result.seconds:.1f} s; late labels appended to {target}"
    )
    step_summary(
        f"**Traffic:** replayed {result.sent:,} records of {chosen} from the data set (no "
        "production logs read: set the repository variables MONITOR_LOGS and MONITOR_LABELS "
        "to monitor your deployment's prediction logs and late labels)"
    )


@command(app)
def alert(
    summary: Annotated[
        Path | None, typer.Option(help="monitor summary JSON [default: monitor.out/summary.json]")
    ] = None,
    report_url: Annotated[
        str | None, typer.Option(help="link to the published report (Pages or the run)")
    ] = None,
    gh: Annotated[str, typer.Option(help="the GitHub CLI executable")] = "gh",
    dry_run: Annotated[bool, typer.Option(help="print the decision, call nothing")] = False,
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Open, update or close the one drift issue; say whether retraining should start."""
    from mlops.core.config import load_params
    from mlops.monitoring import issue
    from mlops.monitoring.errors import IssuesDisabled
    from mlops.monitoring.ghclient import GhClient

    report_url = _check_url(report_url or None, "--report-url")  # "": no link
    m = load_params(params).monitor
    path = summary or m.out / "summary.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `make monitor` first")
    data = json.loads(path.read_text())
    client = GhClient(gh)
    try:
        existing = None if dry_run else issue.open_issue(client, m.alert.label)
        action = issue.decide(data, existing, m.alert, report_url)
        print(f"alert: {action.describe()}")
        if not dry_run:
            issue.apply(client, action, m.alert)
    except IssuesDisabled as off:
        _issues_off(data, report_url, off)
        return
    set_output("retrain", action.retrain)
    step_summary(f"**Drift alert:** {action.describe()}")


def _issues_off(data: dict[str, Any], report_url: str | None, off: Exception) -> None:
    """GitHub's default for a fork: not a failure of the run. The verdict goes where it can
    be read, with the setting that brings the issue back."""
    from mlops.monitoring.errors import ISSUES_OFF
    from mlops.monitoring.summary import summary_markdown

    verdict = data.get("verdict", "n/a")
    level = "warning" if verdict == "drift" else "notice"
    set_output("retrain", False)
    step_summary(
        f"**Drift alert:** no issue (verdict {verdict}). {ISSUES_OFF}\n\n"
        + summary_markdown(data, report_url)
    )
    print(f"::{level} title=Issues are off::{ISSUES_OFF}")
    print(f"alert: verdict {verdict}; no drift issue: {off}")


BLOCKED_NOTE = "retrain-blocked.md"  # in monitor.out: why the window could not move


@command(app)
def retrain(
    base: Annotated[str, typer.Option(help="branch the pull request targets")] = "main",
    report_url: Annotated[
        str | None, typer.Option(help="link to the drift report, quoted in the PR")
    ] = None,
    gh: Annotated[str, typer.Option(help="the GitHub CLI executable")] = "gh",
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Move the training window forward, reproduce the pipeline, open (or update) one PR."""
    _check_url(report_url, "--report-url")
    from mlops.core.config import load_params
    from mlops.monitoring import retrain as stage
    from mlops.monitoring.ghclient import GhClient

    m = load_params(params).monitor
    root = params.resolve().parent
    try:
        url = stage.retrain(
            root,
            m.alert.retrain_months,
            m.alert.retrain_branch,
            base,
            stage.push_url(),
            GhClient(gh),
            stage.reproduce_in(root),
            report_url,
            data_end=stage.data_end(params),
        )
    except stage.RetrainBlocked as blocked:
        _retrain_blocked(blocked, m.out / BLOCKED_NOTE)
        return
    step_summary(f"**Retraining:** pull request {url}")
    print(f"retrain: pull request {url}")
    if os.environ.get("RETRAIN_TOKEN_SET") == "false":
        # GitHub starts no workflow for a pull request opened with the job's own token
        message = (
            "the pull request was opened with GITHUB_TOKEN, so its checks (pr.yml) do not "
            "start: set the secret RETRAIN_TOKEN (a fine-grained token with contents and "
            "pull-requests write), or close and reopen the pull request to run them"
        )
        step_summary(f"**Retraining:** {message}")
        print(f"::notice title=Retraining PR has no checks yet::{message}")


def _retrain_blocked(blocked: RetrainBlocked, note: Path) -> None:
    """Not a failure of the run: there is nothing to retrain on yet, or GitHub refused the
    pull request (its default). Say so where people look (job summary, a warning, and the
    drift issue through `mlops monitor-comment`, which posts ``note``)."""
    note.parent.mkdir(parents=True, exist_ok=True)
    note.write_text(f"{blocked.lead}: {blocked}\n", encoding="utf-8")
    step_summary(f"**{blocked.lead}:** {blocked}")
    set_output("blocked", True)
    print(f"::warning title={blocked.title}::{blocked}")
    print(f"retrain: no pull request; the note for the drift issue is in {note}")


@command(app, "monitor-comment")
def comment(
    body_file: Annotated[
        Path | None,
        typer.Option(help="Markdown to post [default: monitor.out/retrain-blocked.md]"),
    ] = None,
    gh: Annotated[str, typer.Option(help="the GitHub CLI executable")] = "gh",
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Comment on the one open drift issue (by default: why retraining did not start)."""
    from mlops.core.config import load_params
    from mlops.monitoring.errors import IssuesDisabled
    from mlops.monitoring.ghclient import GhClient
    from mlops.monitoring.issue import open_issue

    m = load_params(params).monitor
    path = body_file or m.out / BLOCKED_NOTE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: nothing to comment (run `make retrain`)")
    client = GhClient(gh)
    try:
        issue = open_issue(client, m.alert.label)
    except IssuesDisabled:
        print(f"comment: Issues are off; not posted:\n{path.read_text()}")
        return
    if issue is None:
        print(f"comment: no open issue labelled {m.alert.label!r}; not posted:\n{path.read_text()}")
        return
    client.run("issue", "comment", str(issue.number), "--body-file", "-", stdin=path.read_text())
    print(f"comment: posted {path} on issue #{issue.number}")


@command(app, "monitor-site")
def site(
    out: Annotated[Path | None, typer.Option(help="site folder [default: monitor.site]")] = None,
    report: Annotated[
        Path | None, typer.Option(help="monitor output folder [default: monitor.out]")
    ] = None,
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Build the GitHub Pages site: index.html (summary, link) and the latest report."""
    from mlops.core.config import load_params
    from mlops.monitoring.site import build_site

    m = load_params(params).monitor
    folder = out or m.site
    written = build_site(report or m.out, folder)
    step_summary(f"**Pages:** site built in `{folder}` (index.html links the report)")
    print(f"site: {len(written)} files -> {folder} (open {folder / 'index.html'})")


@command(app, "monitor-pages-off")
def pages_off() -> None:
    """Say (job summary and notice) that Pages publishing is off and how to turn it on."""
    text = (
        "GitHub Pages publishing is off: the report is in the run's `monitor-report` artifact. "
        "To publish it, set the repository variable `MONITOR_PAGES` to `true` and choose "
        "Settings → Pages → Source: GitHub Actions."
    )
    step_summary(f"**Pages:** {text}")
    print(f"::notice title=Pages off::{text}")


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
