"""The release gate on dvc.lock: the pipeline's outputs match it and it is committed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mlops.core.github import git
from mlops.release.tools import ReleaseError


def check_lock(lock: Path) -> None:
    """Raise unless `dvc status` is clean and ``lock`` is as committed."""
    dvc = str(Path(sys.executable).parent / "dvc")
    if subprocess.run([dvc, "status", "--quiet"], check=False).returncode != 0:
        raise ReleaseError(
            "`dvc status` reports changes: the pipeline's outputs do not match dvc.lock. "
            "Run `make repro` and commit dvc.lock."
        )
    if not lock_committed(lock):
        raise ReleaseError(
            f"reproducing the pipeline changed {lock}: the committed lock is stale. "
            "Run `make repro` locally and commit the new dvc.lock."
        )


def lock_committed(lock: Path, cwd: Path | None = None) -> bool:
    """Whether ``lock`` is the same as in HEAD. Compared with HEAD, not the index: DVC's
    ``core.autostage`` (on in .dvc/config) stages the dvc.lock that `dvc repro` rewrites."""
    return git("diff", "--quiet", "HEAD", "--", str(lock), cwd=cwd).returncode == 0
