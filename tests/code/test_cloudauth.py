"""OIDC credentials for the DVC remote: which variables turn which cloud on, the token request
GitHub expects, and the files and environment the cloud SDKs read.

A small HTTP server on 127.0.0.1 stands in for GitHub's token endpoint (the real one exists
only inside a GitHub Actions job); it checks the bearer token and records the audience."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from mlops.tooling import cloudauth
from mlops.tooling.cloudauth import AWS_AUDIENCE, AZURE_AUDIENCE, CloudAuthError

BEARER = "request-token-123"
PROVIDER = "projects/123/locations/global/workloadIdentityPools/gh/providers/repo"


@pytest.fixture
def token_server():
    audiences: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.headers.get("Authorization") != f"bearer {BEARER}":
                self.send_response(401)
                self.end_headers()
                return
            audience = parse_qs(urlparse(self.path).query)["audience"][0]
            audiences.append(audience)
            body = json.dumps({"value": f"jwt-for-{audience}"}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/token?api-version=2.0"
    yield url, audiences
    server.shutdown()


def _job_env(tmp_path: Path, url: str, **variables: str) -> dict[str, str]:
    github_env = tmp_path / "github_env"
    github_env.touch()
    return {
        "ACTIONS_ID_TOKEN_REQUEST_URL": url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": BEARER,
        "GITHUB_ENV": str(github_env),
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        **variables,
    }


def _exported(env: dict[str, str]) -> dict[str, str]:
    lines = Path(env["GITHUB_ENV"]).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_nothing_configured_says_which_variables_turn_it_on(tmp_path):
    env = _job_env(tmp_path, "http://127.0.0.1:9/unused", DVC_AWS_ROLE_ARN="")
    message = cloudauth.configure(env)
    assert "DVC_AWS_ROLE_ARN" in message and "DVC_AZURE_CLIENT_ID" in message
    assert Path(env["GITHUB_ENV"]).read_text() == ""


def test_aws_role_exports_web_identity_variables(tmp_path, token_server):
    url, audiences = token_server
    role = "arn:aws:iam::111122223333:role/dvc-read"
    env = _job_env(tmp_path, url, DVC_AWS_ROLE_ARN=role)
    message = cloudauth.configure(env)
    assert "aws" in message
    assert audiences == [AWS_AUDIENCE]
    exported = _exported(env)
    assert exported["AWS_ROLE_ARN"] == role
    token_file = Path(exported["AWS_WEB_IDENTITY_TOKEN_FILE"])
    assert token_file.read_text() == f"jwt-for-{AWS_AUDIENCE}"
    assert token_file.stat().st_mode & 0o077 == 0  # not readable by other users
    assert str(token_file).startswith(env["RUNNER_TEMP"])


def test_gcp_writes_an_external_account_credential_file(tmp_path, token_server):
    url, audiences = token_server
    env = _job_env(
        tmp_path,
        url,
        DVC_GCP_WORKLOAD_PROVIDER=PROVIDER,
        DVC_GCP_SERVICE_ACCOUNT="dvc@proj.iam.gserviceaccount.com",
    )
    cloudauth.configure(env)
    assert audiences == [f"https://iam.googleapis.com/{PROVIDER}"]
    credentials = json.loads(Path(_exported(env)["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())
    assert credentials["type"] == "external_account"
    assert credentials["audience"] == f"//iam.googleapis.com/{PROVIDER}"
    assert (
        "dvc@proj.iam.gserviceaccount.com:generateAccessToken"
        in (credentials["service_account_impersonation_url"])
    )
    token_file = Path(credentials["credential_source"]["file"])
    assert token_file.read_text().startswith("jwt-for-https://iam.googleapis.com/")


def test_azure_and_aws_together(tmp_path, token_server):
    url, audiences = token_server
    env = _job_env(
        tmp_path,
        url,
        DVC_AWS_ROLE_ARN="arn:aws:iam::1:role/r",
        DVC_AZURE_CLIENT_ID="client",
        DVC_AZURE_TENANT_ID="tenant",
    )
    cloudauth.configure(env)
    assert audiences == [AWS_AUDIENCE, AZURE_AUDIENCE]
    exported = _exported(env)
    assert exported["AZURE_CLIENT_ID"] == "client"
    assert exported["AZURE_TENANT_ID"] == "tenant"
    assert Path(exported["AZURE_FEDERATED_TOKEN_FILE"]).read_text() == f"jwt-for-{AZURE_AUDIENCE}"


@pytest.mark.parametrize(
    ("variables", "missing"),
    [
        ({"DVC_GCP_WORKLOAD_PROVIDER": PROVIDER}, "DVC_GCP_SERVICE_ACCOUNT"),
        ({"DVC_AZURE_TENANT_ID": "t"}, "DVC_AZURE_CLIENT_ID"),
    ],
)
def test_half_configured_cloud_names_the_missing_variable(variables, missing):
    with pytest.raises(CloudAuthError, match=missing):
        cloudauth.logins(variables)


def test_no_id_token_is_a_warning_not_a_red_run(tmp_path):
    """A fork's pull request gets no OIDC token: the pipeline recomputes instead."""
    env = _job_env(tmp_path, "", DVC_AWS_ROLE_ARN="arn:aws:iam::1:role/r")
    env.pop("ACTIONS_ID_TOKEN_REQUEST_URL")
    message = cloudauth.configure(env)
    assert message.startswith("warning:") and "id-token: write" in message
    assert Path(env["GITHUB_ENV"]).read_text() == ""


def test_rejected_token_request_is_an_error_not_a_traceback(tmp_path, token_server):
    url, _ = token_server
    env = _job_env(tmp_path, url, DVC_AWS_ROLE_ARN="arn:aws:iam::1:role/r")
    env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "wrong"
    with pytest.raises(CloudAuthError, match="OIDC token request failed"):
        cloudauth.configure(env)
