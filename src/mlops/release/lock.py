"""The release gate on dvc.lock: the pipeline's outputs match it and it is committed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mlops.core.github import git
from mlops.release.tools import ReleaseError


def check_lock(lock: Path) -> None:
    """Raise unless `dvc status` is clean and ``lock`` has no uncommitted change."""
    dvc = str(Path(sys.executable).parent / "dvc")
    if subprocess.run([dvc, "status", "--quiet"], check=False).returncode != 0:
        raise ReleaseError(
            "`dvc status` reports changes: the pipeline's outputs do not match dvc.lock. "
            "Run `make repro` and commit dvc.lock."
        )
    if git("diff", "--quiet", "--", str(lock)).returncode != 0:
        raise ReleaseError(
            f"reproducing the pipeline changed {lock}: the committed lock is stale. "
            "Run `make repro` locally and commit the new dvc.lock."
        )
