"""The PATH of a new machine or a GitHub-hosted runner, for tests that run a command the way
a newcomer or a workflow would: the system's own programs only (tools/system-path), none of
the tools installed by hand or by this project (uv, act, pre-commit, dvc, ...)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def system_path(where: Path) -> str:
    """Fill ``where`` with links to the system's programs and return it as a PATH."""
    done = subprocess.run(
        ["bash", str(ROOT / "tools" / "system-path"), str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"tools/system-path failed: {done.stderr}")
    return done.stdout.strip()


def fresh_env(environ: dict[str, str], where: Path, **extra: str) -> dict[str, str]:
    """``environ`` as a new machine would have it: a system PATH (see :func:`system_path`),
    no project virtual environment, no uv settings (`uv run` sets UV
    to its own path, which the Makefile would take); ``extra`` on top."""
    env = {
        key: value
        for key, value in environ.items()
        if key not in {"UV", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH"}
    }
    env["PATH"] = system_path(where)
    return {**env, **extra}
