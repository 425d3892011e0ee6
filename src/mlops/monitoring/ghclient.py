"""The `gh` calls of the drift issue and the retraining pull request.

:func:`mlops.core.github.gh` runs the GitHub CLI; :class:`GhClient` adds what the monitor
needs on top: GitHub's two default refusals told as :class:`IssuesDisabled` /
:class:`PullRequestsRefused` (with the setting that changes each), and every other failure
as an :class:`AlertError` saying which permission to check.
"""

from __future__ import annotations

from mlops.core.github import GhError, gh
from mlops.monitoring.errors import (
    ISSUES_OFF,
    PRS_REFUSED,
    AlertError,
    IssuesDisabled,
    PullRequestsRefused,
)


class GhClient:
    """The few `gh` calls the alert and the retraining need (GH_TOKEN and GH_REPO come from
    the environment); ``gh`` is the executable, a test's shim in the tests."""

    def __init__(self, gh: str = "gh") -> None:
        self.gh = gh

    def run(self, *args: str, stdin: str | None = None) -> str:
        try:
            return gh(*args, stdin=stdin, executable=self.gh)
        except GhError as exc:
            failed = str(exc)
        if "repository has disabled issues" in failed:
            raise IssuesDisabled(f"{ISSUES_OFF} ({failed})")
        if "not permitted to create or approve pull requests" in failed:
            raise PullRequestsRefused(f"{PRS_REFUSED} ({failed})")
        if failed.startswith(f"`{self.gh}` not found"):  # says how to install the GitHub CLI
            raise AlertError(failed)
        raise AlertError(
            f"{failed} Check that GH_TOKEN can write issues (workflow permission "
            "`issues: write`) and GH_REPO is set."
        )
