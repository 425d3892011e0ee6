"""Read files as they are on another git revision (the pull request's base branch)."""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitError(RuntimeError):
    """git could not answer: not a repository, or the base revision is not fetched."""


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def resolve(ref: str, cwd: Path | None = None) -> str:
    """The commit of ``ref``, preferring the remote-tracking branch ``origin/<ref>``.

    In CI the base branch exists only as ``origin/main``; locally ``main`` may be ahead of it
    or be the only one.
    """
    candidates = [ref] if ref.startswith("origin/") else [f"origin/{ref}", ref]
    for candidate in candidates:
        result = _git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", cwd=cwd)
        if result.returncode == 0:
            return result.stdout.strip()
    raise GitError(
        f"base revision '{ref}' not found (tried {', '.join(candidates)}). Fetch it first: "
        "`git fetch origin main`, or in a workflow `actions/checkout` with `fetch-depth: 0`."
    )


def head(cwd: Path | None = None) -> str:
    result = _git("rev-parse", "HEAD", cwd=cwd)
    if result.returncode != 0:
        raise GitError(f"not a git repository with a commit: {result.stderr.strip()}")
    return result.stdout.strip()


def read_at(commit: str, path: Path | str, cwd: Path | None = None) -> str | None:
    """The text of ``path`` at ``commit``; None if it does not exist there."""
    result = _git("show", f"{commit}:{Path(path).as_posix()}", cwd=cwd)
    return result.stdout if result.returncode == 0 else None


def changed_files(base: str, cwd: Path | None = None) -> list[str]:
    """Files that differ between ``base`` and the working tree."""
    result = _git("diff", "--name-only", base, cwd=cwd)
    return result.stdout.split() if result.returncode == 0 else []


def describe_head(cwd: Path | None = None) -> str:
    """The current branch name (or short commit), marked when the working tree has changes."""
    name = _git("rev-parse", "--abbrev-ref", "HEAD", cwd=cwd).stdout.strip()
    if not name or name == "HEAD":
        name = head(cwd)[:7]
    dirty = _git("status", "--porcelain", "--untracked-files=no", cwd=cwd).stdout.strip()
    return f"{name} + uncommitted changes" if dirty else name
