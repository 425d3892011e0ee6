"""Running the tools a release calls (bentoml, docker, kind, kubectl): the command echoed as
a shell would trace it, and a :class:`ReleaseError` that names the tool and what it said."""

from __future__ import annotations

import subprocess
from typing import Any

from mlops.core.errors import UserError


class ReleaseError(UserError, RuntimeError):
    """A release step failed: a tool missing or failing, a rollout, a stale dvc.lock."""


def run(command: list[str], what: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``command`` for the step ``what``; its output goes to ours unless captured."""
    print("+ " + " ".join(command), flush=True)
    try:
        return subprocess.run(command, check=True, text=True, **kwargs)
    except FileNotFoundError:
        raise ReleaseError(f"{what}: `{command[0]}` is not installed or not on PATH") from None
    except subprocess.CalledProcessError as exc:
        output = (exc.stderr or exc.stdout or "").strip()
        raise ReleaseError(
            f"{what}: `{' '.join(command)}` exited {exc.returncode}\n{output}"
        ) from None
