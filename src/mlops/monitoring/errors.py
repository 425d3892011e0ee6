"""What stops the monitor, and GitHub's two default refusals.

:class:`MonitorError` is anything wrong with the logs, labels, reference, the monitor's
output or params.yaml. The refusals are GitHub's defaults, not errors of the run: a fork
starts with Issues turned off, and no repository lets GitHub Actions open pull requests
until its owner allows it. :class:`mlops.monitoring.ghclient.GhClient` recognises each from
what gh says, and the message names the setting that changes it.
"""

from __future__ import annotations

from mlops.core.errors import UserError


class MonitorError(UserError, ValueError):
    """The logs, labels or reference cannot be analysed; the message says what to fix."""


class AlertError(UserError, RuntimeError):
    """The GitHub CLI failed; the message has its output and what to check."""


ISSUES_OFF = (
    "Issues are turned off in this repository (GitHub's default for a fork), so there is no "
    "drift issue: the verdict is in this job summary and the run's `monitor-report` artifact, "
    "and retraining, which counts drifted runs in the drift issue, does not start. To turn "
    "Issues on: Settings → General → Features → Issues."
)
PRS_REFUSED = (
    "GitHub Actions may not create pull requests in this repository (GitHub's default). "
    'Turn on Settings → Actions → General → Workflow permissions → "Allow GitHub Actions to '
    'create and approve pull requests", or set the secret RETRAIN_TOKEN (a fine-grained token '
    "with Contents and Pull requests write; its pull requests also start their checks)."
)


class IssuesDisabled(AlertError):
    """gh: "the '<repo>' repository has disabled issues"."""


class PullRequestsRefused(AlertError):
    """gh: "GitHub Actions is not permitted to create or approve pull requests"."""
