"""Command line of production monitoring: monitor, replay, alert.

Registered in ``mlops.cli`` as ``uv run mlops monitor ...``; also runs on its own:
``python -m mlops.monitoring.commands --help``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops.core.cli import ParamsOption, command, new_app
from mlops.core.config import DEFAULT_PARAMS

if TYPE_CHECKING:
    import pandas as pd

app = new_app("Production monitoring: drift report, replayed traffic, the drift alert issue.")


_URL = re.compile(r"https?://[^\s<>\"'`]+")


def _check_url(value: str | None, option: str) -> str | None:
    """``value`` if it is a plain http(s) URL (it is quoted in issues and summaries)."""
    if value is not None and not _URL.fullmatch(value):
        raise ValueError(f"{option} {value!r} is not a URL: expected https://... (no spaces)")
    return value


def _append(env: str, text: str) -> None:
    target = os.environ.get(env)
    if target:
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(text)


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
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Compare the prediction log with the training window: report.html, summary.json/.md."""
    from mlops.core.config import load_params
    from mlops.monitoring import monitor as stage

    _check_url(report_link, "--report-link")
    p = load_params(params)
    m = p.monitor
    summary = stage.main(p, m, logs, labels, out, report_link)
    folder = out or m.out
    markdown = (folder / "summary.md").read_text()
    _append("GITHUB_STEP_SUMMARY", markdown + "\n")
    _append("GITHUB_OUTPUT", f"verdict={summary['verdict']}\n")
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
    from mlops.core.config import check_month, load_params
    from mlops.monitoring import replay as stage

    if month is not None:  # first: it may come from a workflow's dispatch input
        check_month(month, "--month")
    p = load_params(params)
    m = p.monitor
    settings = m.replay.model_copy(
        update={
            k: v
            for k, v in {"month": month, "requests": requests, "rate": rate}.items()
            if v is not None
        }
    )
    table = stage.load_window_source(p)
    when = date.fromisoformat(run_date) if run_date else datetime.now(UTC).date()
    chosen = stage.choose_month(table[p.schema.time], p.prepare.test_start, settings.month, when)
    records = stage.window_records(table, p.schema, chosen, settings.requests, settings.seed)
    del table
    target = labels or Path(m.labels)
    print(
        f"replay: {len(records):,} records of {chosen} -> {serve or url} "
        f"(at most {settings.rate:g} requests/s, {settings.concurrency} in flight)",
        flush=True,
    )
    if serve:
        from contextlib import ExitStack

        if serve == "latest":  # the last bento `make bento` built
            import yaml

            from mlops.core.config import ServeParams

            section = (yaml.safe_load(params.read_text()) or {}).get("serve") or {}
            serve = f"{ServeParams.model_validate(section).name}:latest"

        from mlops.release.localserver import HOST, bentoml_command, free_port, running

        port = free_port()
        log_file = Path(m.logs) / "predictions.jsonl" if "://" not in m.logs else None
        env = {"MLOPS_PREDICTION_LOG": str(log_file.resolve())} if log_file else {}
        with ExitStack() as stack:
            server = stack.enter_context(
                running(
                    bentoml_command(serve, port),
                    f"http://{HOST}:{port}",
                    Path(m.out) / "replay-server.log",
                    timeout=180,
                    env=env,
                )
            )
            print(f"\nreplay: started {serve} on {server.url}, logging to {log_file}", flush=True)
            result = stage.replay(
                server.url, records, settings, target, p.schema.target, month=chosen
            )
    else:
        result = stage.replay(url, records, settings, target, p.schema.target, month=chosen)
    print(
        f"replay: {result.sent:,} predictions, {result.failed} failed, "
        f"{result.seconds:.1f} s; late labels appended to {target}"
    )
    _append(
        "GITHUB_STEP_SUMMARY",
        f"**Traffic:** replayed {result.sent:,} records of {chosen} from the data set (no "
        "production logs read: set the repository variables MONITOR_LOGS and MONITOR_LABELS "
        "to monitor your deployment's prediction logs and late labels)\n",
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
    from mlops.monitoring import monitor as stage

    report_url = _check_url(report_url or None, "--report-url")  # "": no link
    m = load_params(params).monitor
    path = summary or m.out / "summary.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `make monitor` first")
    data = json.loads(path.read_text())
    client = stage.GhClient(gh)
    try:
        existing = None if dry_run else client.open_issue(m.alert.label)
        action = stage.decide(data, existing, m.alert, report_url)
        print(f"alert: {action.describe()}")
        if not dry_run:
            stage.apply(client, action, m.alert)
    except stage.IssuesDisabled as off:
        # GitHub's default for a fork: not a failure of the run. The verdict goes where it
        # can be read, with the setting that brings the issue back.
        verdict = data.get("verdict", "n/a")
        level = "warning" if verdict == "drift" else "notice"
        _append("GITHUB_OUTPUT", "retrain=false\n")
        _append(
            "GITHUB_STEP_SUMMARY",
            f"**Drift alert:** no issue (verdict {verdict}). {stage.ISSUES_OFF}\n\n"
            + stage.summary_markdown(data, report_url)
            + "\n",
        )
        print(f"::{level} title=Issues are off::{stage.ISSUES_OFF}")
        print(f"alert: verdict {verdict}; no drift issue: {off}")
        return
    _append("GITHUB_OUTPUT", f"retrain={'true' if action.retrain else 'false'}\n")
    _append("GITHUB_STEP_SUMMARY", f"**Drift alert:** {action.describe()}\n")


BLOCKED_NOTE = "retrain-blocked.md"  # in monitor.out: why the window could not move


def _data_end(params: Path) -> pd.Timestamp:
    """The latest time with a known label in the raw data (what the split will see)."""
    import pandas as pd

    from mlops.core.config import load_params
    from mlops.yours import dataset

    p = load_params(params)
    table = dataset.load_table(params.resolve().parent / p.paths.raw)
    times = pd.to_datetime(table.loc[table[p.schema.target].notna(), p.schema.time])
    if times.empty:
        raise ValueError(f"{p.paths.raw}: no labelled rows, nothing to retrain on")
    return times.max()


def _push_url() -> str:
    explicit = os.environ.get("RETRAIN_PUSH_URL")
    if explicit:
        return explicit
    token, repo = os.environ.get("GH_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
    if not token or not repo:
        raise ValueError(
            "cannot push the retraining branch: set GH_TOKEN and GITHUB_REPOSITORY (as in the "
            "monitor workflow) or RETRAIN_PUSH_URL (any git URL, e.g. a local bare repository)"
        )
    host = os.environ.get("GITHUB_SERVER_URL", "https://github.com").split("://", 1)[-1]
    return f"https://x-access-token:{token}@{host}/{repo}.git"


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
    import subprocess

    _check_url(report_url, "--report-url")
    from mlops.core.config import load_params
    from mlops.monitoring import monitor as stage

    m = load_params(params).monitor
    root = params.resolve().parent

    def reproduce() -> None:
        done = subprocess.run([sys.executable, "-m", "mlops.cli", "repro"], cwd=root, check=False)
        if done.returncode != 0:
            raise ValueError(
                f"the pipeline failed on the moved window (exit {done.returncode}, see above): "
                "the new window may reach past the data; add data or lower "
                "monitor.alert.retrain_months"
            )

    try:
        url = stage.retrain(
            root,
            m.alert.retrain_months,
            m.alert.retrain_branch,
            base,
            _push_url(),
            stage.GhClient(gh),
            reproduce,
            report_url,
            data_end=_data_end(params),
        )
    except stage.RetrainBlocked as blocked:
        # not a failure of the run: there is nothing to retrain on yet, or GitHub refused
        # the pull request (its default). Say so where people look (job summary, a warning,
        # and the drift issue through `mlops monitor-comment`)
        note = m.out / BLOCKED_NOTE
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(f"{blocked.lead}: {blocked}\n", encoding="utf-8")
        _append("GITHUB_STEP_SUMMARY", f"**{blocked.lead}:** {blocked}\n")
        _append("GITHUB_OUTPUT", "blocked=true\n")
        print(f"::warning title={blocked.title}::{blocked}")
        print(f"retrain: no pull request; the note for the drift issue is in {note}")
        return
    _append("GITHUB_STEP_SUMMARY", f"**Retraining:** pull request {url}\n")
    print(f"retrain: pull request {url}")
    if os.environ.get("RETRAIN_TOKEN_SET") == "false":
        # GitHub starts no workflow for a pull request opened with the job's own token
        message = (
            "the pull request was opened with GITHUB_TOKEN, so its checks (pr.yml) do not "
            "start: set the secret RETRAIN_TOKEN (a fine-grained token with contents and "
            "pull-requests write), or close and reopen the pull request to run them"
        )
        _append("GITHUB_STEP_SUMMARY", f"**Retraining:** {message}\n")
        print(f"::notice title=Retraining PR has no checks yet::{message}")


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
    from mlops.monitoring import monitor as stage

    m = load_params(params).monitor
    path = body_file or m.out / BLOCKED_NOTE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: nothing to comment (run `make retrain`)")
    client = stage.GhClient(gh)
    try:
        issue = client.open_issue(m.alert.label)
    except stage.IssuesDisabled:
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
    from mlops.monitoring import monitor as stage

    m = load_params(params).monitor
    folder = out or m.site
    written = stage.build_site(report or m.out, folder)
    _append(
        "GITHUB_STEP_SUMMARY",
        f"**Pages:** site built in `{folder}` (index.html links the report)\n",
    )
    print(f"site: {len(written)} files -> {folder} (open {folder / 'index.html'})")


@command(app, "monitor-pages-off")
def pages_off() -> None:
    """Say (job summary and notice) that Pages publishing is off and how to turn it on."""
    text = (
        "GitHub Pages publishing is off: the report is in the run's `monitor-report` artifact. "
        "To publish it, set the repository variable `MONITOR_PAGES` to `true` and choose "
        "Settings → Pages → Source: GitHub Actions."
    )
    _append("GITHUB_STEP_SUMMARY", f"**Pages:** {text}\n")
    print(f"::notice title=Pages off::{text}")


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
