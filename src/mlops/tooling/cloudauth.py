"""Credentials for a DVC remote in GitHub Actions, through OpenID Connect (no stored keys).

GitHub issues a short-lived identity token to a job with ``permissions: id-token: write``.
Each cloud trades that token for its own short-lived credentials; its SDK (the one DVC's
``s3``/``gs``/``azure`` extras use) does the trade by itself when a few environment
variables point at a file holding the token. This module fetches the token into a file and
writes those variables to ``$GITHUB_ENV`` for the later steps of the job:

- AWS (S3): repository variable ``DVC_AWS_ROLE_ARN`` -> ``AWS_ROLE_ARN`` and
  ``AWS_WEB_IDENTITY_TOKEN_FILE`` (botocore assumes the role with web identity);
- Google Cloud (GCS): ``DVC_GCP_WORKLOAD_PROVIDER`` (the full provider resource name) and
  ``DVC_GCP_SERVICE_ACCOUNT`` -> an ``external_account`` credential file named by
  ``GOOGLE_APPLICATION_CREDENTIALS``;
- Azure (Blob storage): ``DVC_AZURE_CLIENT_ID`` and ``DVC_AZURE_TENANT_ID`` ->
  ``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID`` and ``AZURE_FEDERATED_TOKEN_FILE`` (used by
  azure-identity's ``DefaultAzureCredential``).

With none of these set, nothing happens and the returned message says which variable turns
it on. Static keys (secrets ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AZURE_STORAGE_CONNECTION_STRING``) need no trade: the workflows pass them as env.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mlops.core.errors import UserError

AWS_AUDIENCE = "sts.amazonaws.com"
AZURE_AUDIENCE = "api://AzureADTokenExchange"

HOW_TO = (
    "To let CI read a DVC remote without stored keys, set the repository variable "
    "DVC_AWS_ROLE_ARN (S3), DVC_GCP_WORKLOAD_PROVIDER + DVC_GCP_SERVICE_ACCOUNT (GCS) or "
    "DVC_AZURE_CLIENT_ID + DVC_AZURE_TENANT_ID (Azure); or the secrets AWS_ACCESS_KEY_ID + "
    "AWS_SECRET_ACCESS_KEY / AZURE_STORAGE_CONNECTION_STRING (docs/secrets.md)."
)


class CloudAuthError(UserError, RuntimeError):
    """A cloud is configured but its credentials cannot be set up."""


@dataclass(frozen=True)
class CloudLogin:
    """What one cloud needs: the token's audience and the variables to export."""

    cloud: str
    audience: str
    env: dict[str, str]  # "{token}" in a value is replaced by the token file's path
    credential_file: dict | None = None  # GCP: written next to the token, path exported


def _value(env: dict[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _both(first: tuple[str, str], second: tuple[str, str], message: str) -> bool:
    """Whether a cloud is configured: both variables set (True), neither (False); one
    alone is an error that names the missing one."""
    (first_name, first_value), (second_name, second_value) = first, second
    if not (first_value or second_value):
        return False
    if not (first_value and second_value):
        only = first_name if first_value else second_name
        raise CloudAuthError(f"{message}; only {only} is set")
    return True


def _aws(env: dict[str, str]) -> CloudLogin | None:
    role = _value(env, "DVC_AWS_ROLE_ARN")
    if not role:
        return None
    return CloudLogin(
        "aws",
        AWS_AUDIENCE,
        {
            "AWS_ROLE_ARN": role,
            "AWS_WEB_IDENTITY_TOKEN_FILE": "{token}",
            "AWS_ROLE_SESSION_NAME": "github-actions-dvc",
        },
    )


def _gcp(env: dict[str, str]) -> CloudLogin | None:
    provider = _value(env, "DVC_GCP_WORKLOAD_PROVIDER")
    account = _value(env, "DVC_GCP_SERVICE_ACCOUNT")
    if not _both(
        ("DVC_GCP_WORKLOAD_PROVIDER", provider),
        ("DVC_GCP_SERVICE_ACCOUNT", account),
        "Google Cloud needs both repository variables DVC_GCP_WORKLOAD_PROVIDER "
        "(projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/"
        "<provider>) and DVC_GCP_SERVICE_ACCOUNT (name@project.iam.gserviceaccount.com)",
    ):
        return None
    return CloudLogin(
        "gcp",
        f"https://iam.googleapis.com/{provider}",
        {"GOOGLE_APPLICATION_CREDENTIALS": "{credentials}"},
        credential_file={
            "type": "external_account",
            "audience": f"//iam.googleapis.com/{provider}",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": "https://sts.googleapis.com/v1/token",
            "service_account_impersonation_url": (
                "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
                f"{account}:generateAccessToken"
            ),
            "credential_source": {"file": "{token}"},
        },
    )


def _azure(env: dict[str, str]) -> CloudLogin | None:
    client, tenant = _value(env, "DVC_AZURE_CLIENT_ID"), _value(env, "DVC_AZURE_TENANT_ID")
    if not _both(
        ("DVC_AZURE_CLIENT_ID", client),
        ("DVC_AZURE_TENANT_ID", tenant),
        "Azure needs both repository variables DVC_AZURE_CLIENT_ID and DVC_AZURE_TENANT_ID "
        "(the app registration with a federated credential for this repository)",
    ):
        return None
    return CloudLogin(
        "azure",
        AZURE_AUDIENCE,
        {
            "AZURE_CLIENT_ID": client,
            "AZURE_TENANT_ID": tenant,
            "AZURE_FEDERATED_TOKEN_FILE": "{token}",
        },
    )


def logins(env: dict[str, str]) -> list[CloudLogin]:
    """The clouds the ``DVC_*`` variables in ``env`` configure (empty values count as unset)."""
    return [found for cloud in (_aws, _gcp, _azure) if (found := cloud(env)) is not None]


def request_token(audience: str, env: dict[str, str]) -> str:
    """Ask GitHub for an identity token with ``audience`` (needs ``id-token: write``)."""
    url, bearer = env.get("ACTIONS_ID_TOKEN_REQUEST_URL"), env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url or not bearer:
        raise CloudAuthError(
            "no GitHub OIDC token available (ACTIONS_ID_TOKEN_REQUEST_URL is unset): give the "
            "job `permissions: id-token: write`. Pull requests from forks never get one: "
            "their runs recompute instead of reading the remote."
        )
    sep = "&" if "?" in url else "?"
    request = urllib.request.Request(
        f"{url}{sep}audience={urllib.parse.quote(audience, safe='')}",
        headers={"Authorization": f"bearer {bearer}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.load(response).get("value")
    except (OSError, ValueError) as exc:
        raise CloudAuthError(f"GitHub's OIDC token request failed: {exc}") from None
    if not token:
        raise CloudAuthError("GitHub's OIDC token response has no 'value'")
    return token


def configure(env: dict[str, str] | None = None) -> str:
    """Fetch tokens for the configured clouds and export the SDK variables; return a summary.

    Variables go to ``$GITHUB_ENV`` (the following steps of the job see them); token and
    credential files go to ``$RUNNER_TEMP`` (readable by the job's user only).
    """
    env = dict(os.environ if env is None else env)
    plans = logins(env)
    if not plans:
        return "no cloud configured for the DVC remote. " + HOW_TO
    if not env.get("ACTIONS_ID_TOKEN_REQUEST_URL"):
        # A fork's pull request never gets a token; not an error: the pipeline recomputes.
        return (
            f"warning: {', '.join(p.cloud for p in plans)} configured, but GitHub gave this job "
            "no OIDC token (pull requests from forks never get one; otherwise give the job "
            "`permissions: id-token: write`): the DVC remote is not used."
        )
    github_env = env.get("GITHUB_ENV")
    if not github_env:
        raise CloudAuthError("GITHUB_ENV is unset: `make cloud-auth` runs in GitHub Actions")
    folder = Path(env.get("RUNNER_TEMP") or Path(github_env).parent) / "dvc-oidc"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    exported: list[str] = []
    for p in plans:
        token_file = folder / f"{p.cloud}-token"
        token_file.write_text(request_token(p.audience, env))
        token_file.chmod(0o600)
        paths = {"token": str(token_file)}
        if p.credential_file is not None:
            credentials = folder / f"{p.cloud}-credentials.json"
            text = json.dumps(p.credential_file).replace("{token}", str(token_file))
            credentials.write_text(text)
            credentials.chmod(0o600)
            paths["credentials"] = str(credentials)
        with Path(github_env).open("a") as f:
            for name, value in p.env.items():
                f.write(f"{name}={value.format(**paths)}\n")
        exported.append(f"{p.cloud} ({', '.join(p.env)})")
    return "OIDC credentials for the DVC remote: " + "; ".join(exported)
