"""Retraining when drift persists: one pull request that moves the training window.

The training window moves forward by whole months (the prepare section of params.yaml,
edited in place so its comments stay), the pipeline is reproduced and the change comes back
as one pull request (branch ``monitor.alert.retrain_branch``), which gets the normal PR
report and quality gate. Nothing is deployed without a merge.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from mlops.core.github import git_out
from mlops.monitoring.errors import PRS_REFUSED, MonitorError, PullRequestsRefused
from mlops.monitoring.ghclient import GhClient

_WINDOW_KEYS = ("train_start", "test_start", "production_start")
_DATE_LINE = re.compile(r"^(\s+)(\w+):(\s*)([\"']?)(\d{4}-\d{2}-\d{2})([\"']?)(.*)$", re.S)


class RetrainBlocked(MonitorError):
    """Retraining did not end in a pull request, for a reason the run cannot fix: the job
    stays green and says why (job summary, a warning, a comment on the drift issue)."""

    title = "Retraining blocked"
    lead = "Retraining did not start"


class WindowBlocked(RetrainBlocked):
    """The training window cannot move: the data ends before the moved windows."""

    title = "Retraining needs new data"


class PullRequestRefused(RetrainBlocked):
    """GitHub refused the pull request; the pushed branch was deleted again."""

    title = "Retraining pull request refused"
    lead = "Retraining did not open its pull request"


def move_window(text: str, months: int) -> tuple[str, dict[str, tuple[str, str]]]:
    """params.yaml text with prepare.* dates moved by ``months``; and what changed."""
    changes: dict[str, tuple[str, str]] = {}
    lines = text.splitlines(keepends=True)
    inside = False
    for i, line in enumerate(lines):
        if re.match(r"^\S", line):
            inside = line.startswith("prepare:")
            continue
        found = _DATE_LINE.match(line)
        if inside and found and found.group(2) in _WINDOW_KEYS:
            old = found.group(5)
            new = (pd.Timestamp(old) + pd.DateOffset(months=months)).date().isoformat()
            indent, key, space, q1, _, q2, rest = found.groups()
            lines[i] = f"{indent}{key}:{space}{q1}{new}{q2}{rest}"
            changes[key] = (old, new)
    missing = [k for k in _WINDOW_KEYS if k not in changes]
    if missing:
        raise MonitorError(
            f"params.yaml: prepare.{', prepare.'.join(missing)} not found as YYYY-MM-DD dates; "
            "the retraining moves the training window by editing them"
        )
    return "".join(lines), changes


def check_window_fits(changes: dict[str, tuple[str, str]], last: pd.Timestamp) -> None:
    """Raise :class:`WindowBlocked` unless the data reaches the moved production window.

    ``last`` is the latest labelled time in the data. Moving the window is retraining on
    newer data; with no row on or after the new ``production_start`` there is no newer data
    yet (and nothing left held back for monitoring), so new data must come first.
    """
    old, new = changes["production_start"]
    if pd.Timestamp(new) > last:
        raise WindowBlocked(
            f"retraining needs new data: moving the training window would put "
            f"prepare.production_start at {new}, but the data ends at {last} (it was {old}). "
            "Add the newer rows to the raw data (data/), record them with `dvc add data` "
            "(then `dvc push` when a remote is set), commit data.dvc and push; the next "
            "drifted monitor run retrains on them. Or move the prepare dates by hand."
        )


def data_end(params: Path) -> pd.Timestamp:
    """The latest time with a known label in the raw data (what the split will see)."""
    from mlops.core.config import load_params
    from mlops.yours import dataset

    p = load_params(params)
    table = dataset.load_table(params.resolve().parent / p.paths.raw)
    times = pd.to_datetime(table.loc[table[p.schema.target].notna(), p.schema.time])
    if times.empty:
        raise ValueError(f"{p.paths.raw}: no labelled rows, nothing to retrain on")
    return times.max()


def push_url() -> str:
    """Where the retraining branch is pushed: RETRAIN_PUSH_URL, else the workflow's
    repository with its token."""
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


def reproduce_in(root: Path) -> Callable[[], None]:
    """Reproduces the pipeline of the project at ``root`` (`mlops repro`) when called."""

    def reproduce() -> None:
        done = subprocess.run([sys.executable, "-m", "mlops.cli", "repro"], cwd=root, check=False)
        if done.returncode != 0:
            raise ValueError(
                f"the pipeline failed on the moved window (exit {done.returncode}, see above): "
                "the new window may reach past the data; add data or lower "
                "monitor.alert.retrain_months"
            )

    return reproduce


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def retrain(
    root: Path,
    months: int,
    branch: str,
    base: str,
    push_url: str,
    client: GhClient,
    reproduce: Callable[[], None],
    report_url: str | None = None,
    say: Callable[[str], None] = _say,
    data_end: pd.Timestamp | None = None,
) -> str:
    """Move the window, reproduce, push ``branch`` and open (or update) its one PR.

    With ``data_end`` (the latest labelled time), a move past the data raises
    :class:`WindowBlocked` before anything is changed.
    """
    params_file = root / "params.yaml"
    text, changes = move_window(params_file.read_text(), months)
    if data_end is not None:
        check_window_fits(changes, data_end)
    git_out("switch", "-C", branch, cwd=root)
    params_file.write_text(text)
    moved = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changes.items())
    say(f"retrain: {moved}; reproducing the pipeline ...")
    reproduce()
    title = f"Retrain: move the training window forward {months} month(s)"
    _commit_and_push(root, f"{title}\n\n{moved}", push_url, branch)
    body = _pull_request_body(months, changes, report_url)
    url = _open_pull_request(client, base, branch, title, body, say)
    if url is None:
        # no pull request, so no branch either: nothing is left for anyone to clean up
        git_out("push", push_url, "--delete", branch, cwd=root)
        raise PullRequestRefused(
            f"the branch {branch} was pushed ({moved}) but GitHub refused to open its pull "
            f"request, so the branch was deleted again. {PRS_REFUSED}"
        )
    return url


def _commit_and_push(root: Path, message: str, push_url: str, branch: str) -> None:
    git_out("add", "params.yaml", "dvc.lock", cwd=root)
    author = ("-c", "user.name=mlops-monitor", "-c", "user.email=mlops-monitor@users.noreply")
    git_out(*author, "commit", "-q", "-m", message, cwd=root)
    git_out("push", "--force", push_url, f"HEAD:refs/heads/{branch}", cwd=root)


def _pull_request_body(
    months: int, changes: dict[str, tuple[str, str]], report_url: str | None
) -> str:
    return (
        f"Drift persisted in production, so the scheduled monitor moved the training window "
        f"forward {months} month(s) and reproduced the pipeline:\n\n"
        + "\n".join(f"- `prepare.{k}`: {a} → {b}" for k, (a, b) in changes.items())
        + (f"\n\nDrift report: {report_url}" if report_url else "")
        + "\n\nThis pull request gets the normal report and quality gate; nothing is deployed "
        "until it is merged."
    )


def _open_pull_request(
    client: GhClient, base: str, branch: str, title: str, body: str, say: Callable[[str], None]
) -> str | None:
    """The URL of the updated or opened pull request of ``branch``; None if GitHub refused."""
    existing = json.loads(
        client.run("pr", "list", "--head", branch, "--state", "open", "--json", "number,url")
        or "[]"
    )
    if existing:
        number = str(existing[0]["number"])
        client.run("pr", "edit", number, "--title", title, "--body-file", "-", stdin=body)
        say(f"retrain: updated pull request #{number}")
        return str(existing[0].get("url") or number)
    try:
        url = client.run(
            "pr", "create", "--base", base, "--head", branch, "--title", title,
            "--body-file", "-", stdin=body,
        ).strip()  # fmt: skip
    except PullRequestsRefused:
        return None
    say(f"retrain: opened {url}")
    return url
