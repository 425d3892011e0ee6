"""The one place that talks to git and GitHub: git queries, the `gh` CLI, and the files a
GitHub Actions step writes to ($GITHUB_STEP_SUMMARY, $GITHUB_OUTPUT).

Outside Actions the two files are unset and :func:`step_summary` / :func:`set_output` do
nothing, so every command runs the same locally and in CI.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from mlops.core.errors import UserError


class GitError(UserError, RuntimeError):
    """git could not answer: not a repository, or the base revision is not fetched."""


class GhError(UserError, RuntimeError):
    """A `gh` call failed; the message says which call and what GitHub answered."""


# ------------------------------------------------------------------------------------ git
def git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run git; the caller decides what a non-zero exit means."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def git_out(*args: str, cwd: Path | None = None) -> str:
    """git's stdout, or a :class:`GitError` naming the command and git's message."""
    done = git(*args, cwd=cwd)
    if done.returncode != 0:
        said = done.stderr.strip() or done.stdout.strip()
        raise GitError(f"`git {' '.join(args[:2])}` failed (exit {done.returncode}): {said}")
    return done.stdout


def resolve(ref: str, cwd: Path | None = None) -> str:
    """The commit of ``ref``, preferring the remote-tracking branch ``origin/<ref>``.

    In CI the base branch exists only as ``origin/main``; locally ``main`` may be ahead of it
    or be the only one.
    """
    candidates = [ref] if ref.startswith("origin/") else [f"origin/{ref}", ref]
    for candidate in candidates:
        result = git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", cwd=cwd)
        if result.returncode == 0:
            return result.stdout.strip()
    raise GitError(
        f"base revision '{ref}' not found (tried {', '.join(candidates)}). Fetch it first: "
        "`git fetch origin main`, or in a workflow `actions/checkout` with `fetch-depth: 0`."
    )


def head(cwd: Path | None = None) -> str:
    result = git("rev-parse", "HEAD", cwd=cwd)
    if result.returncode != 0:
        raise GitError(f"not a git repository with a commit: {result.stderr.strip()}")
    return result.stdout.strip()


def dirty(cwd: Path | None = None) -> bool:
    """Whether tracked files have uncommitted changes."""
    return bool(git("status", "--porcelain", "--untracked-files=no", cwd=cwd).stdout.strip())


def commit(cwd: Path | None = None) -> str:
    """The commit being built: GITHUB_SHA in CI, else HEAD (+ '-dirty'); 'unknown' outside
    a repository."""
    if sha := os.environ.get("GITHUB_SHA"):
        return sha
    try:
        return head(cwd) + ("-dirty" if dirty(cwd) else "")
    except (OSError, GitError):
        return "unknown"


def read_at(revision: str, path: Path | str, cwd: Path | None = None) -> str | None:
    """The text of ``path`` at ``revision``; None if it does not exist there."""
    result = git("show", f"{revision}:{Path(path).as_posix()}", cwd=cwd)
    return result.stdout if result.returncode == 0 else None


def describe_head(cwd: Path | None = None) -> str:
    """The current branch name (or short commit), marked when the working tree has changes."""
    name = git("rev-parse", "--abbrev-ref", "HEAD", cwd=cwd).stdout.strip()
    if not name or name == "HEAD":
        name = head(cwd)[:7]
    return f"{name} + uncommitted changes" if dirty(cwd) else name


# ------------------------------------------------------------------------------------- gh
def gh(*args: str, stdin: str | None = None, executable: str = "gh") -> str:
    """Run the GitHub CLI (GH_TOKEN and GH_REPO come from the environment); its stdout, or a
    :class:`GhError` with the call and GitHub's answer."""
    try:
        done = subprocess.run(
            [executable, *args], input=stdin, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise GhError(
            f"`{executable}` not found: install the GitHub CLI (https://cli.github.com)"
        ) from None
    if done.returncode != 0:
        said = done.stderr.strip() or done.stdout.strip()
        raise GhError(f"`gh {' '.join(args[:3])}` failed (exit {done.returncode}): {said}.")
    return done.stdout


# ------------------------------------------------------------------ GitHub Actions step files
def _append(variable: str, text: str) -> bool:
    target = os.environ.get(variable)
    if not target:
        return False
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(text)
    return True


def step_summary(markdown: str) -> bool:
    """Append ``markdown`` (a paragraph) to the job's summary page; False outside Actions."""
    return _append("GITHUB_STEP_SUMMARY", markdown.rstrip("\n") + "\n\n")


def set_output(name: str, value: str | bool | int) -> bool:
    """Set the step output ``name`` (booleans as true/false); False outside Actions.

    Multi-line values use the heredoc form with a random delimiter, so a value cannot end the
    block early and inject other outputs."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if "\n" in text:
        delimiter = f"EOF_{uuid.uuid4().hex}"
        return _append("GITHUB_OUTPUT", f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
    return _append("GITHUB_OUTPUT", f"{name}={text}\n")
