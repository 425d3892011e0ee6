"""Commands that set the repository up: cloud credentials for the DVC remote in CI, and
``fork rename`` (``make rename``) that makes the template a fork's own project."""

from __future__ import annotations

from mlops.core.cli import command, new_app
from mlops.core.github import step_summary
from mlops.tooling.fork import app as fork_app

app = new_app("Repository set-up.")
app.add_typer(fork_app)


@command(app, "cloud-auth")
def cloud_auth() -> None:
    """In GitHub Actions: OIDC credentials for the DVC remote's cloud (DVC_* variables)."""
    from mlops.tooling.cloudauth import configure

    message = configure()
    print(f"cloud-auth: {message}")
    step_summary(f"**DVC remote credentials:** {message}")
