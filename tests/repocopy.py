"""A throwaway copy of this repository for tests that run a tool over the whole tree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def copy_files(dest: Path) -> Path:
    """The repository's files as they are now (tracked and new, not ignored: no data, no
    .venv) copied into ``dest``; no git repository is made."""
    dest.mkdir(parents=True, exist_ok=True)
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def copy_repo(dest: Path) -> Path:
    """The repository's files (see :func:`copy_files`) in ``dest``, committed in a fresh git
    repository, so a tool sees the tree CI sees."""
    copy_files(dest)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "copy of the repository")
    return dest
