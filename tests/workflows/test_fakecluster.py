"""The fake docker/kind/kubectl of the deploy workflow's act test refuse what the real tools
refuse; otherwise that test could pass on a workflow that would fail on GitHub."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from tests.workflows.act import HERE

SHIMS = HERE / "shims"


@pytest.fixture
def tool(tmp_path):
    env = {"FAKE_CLUSTER_DIR": str(tmp_path), "FAKE_CLUSTER_PYTHON": sys.executable}

    def run(name: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SHIMS / name, *args], input=stdin, capture_output=True, text=True, env=env
        )

    return run


@pytest.fixture
def built(tool, tmp_path):
    """A build context as BentoML writes it: Dockerfile, bento.yaml, the model."""
    context = tmp_path / "context"
    (context / "env" / "docker").mkdir(parents=True)
    (context / "env" / "docker" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (context / "bento.yaml").write_text("name: svc\nversion: v1\n")
    (context / "models" / "svc" / "abc").mkdir(parents=True)
    (context / "models" / "svc" / "abc" / "model.skops").write_bytes(b"model")
    done = tool("docker", "build", "--tag", "ghcr.io/o/r:1", "--file",
                str(context / "env" / "docker" / "Dockerfile"), str(context))  # fmt: skip
    assert done.returncode == 0, done.stderr
    return "ghcr.io/o/r:1"


def test_build_records_the_bento_and_the_model_hash(built, tmp_path):
    image = json.loads((tmp_path / "state.json").read_text())["images"][built]
    assert image["bento"] == "svc:v1"
    assert image["models"] == {"models/svc/abc/model.skops": hashlib.md5(b"model").hexdigest()}


def test_push_needs_a_login_and_a_built_image(tool, built):
    refused = tool("docker", "push", built)
    assert refused.returncode == 1 and "not logged in to ghcr.io" in refused.stderr
    assert tool("docker", "login", "ghcr.io", "-u", "ci", "--password-stdin").returncode == 1
    assert (
        tool("docker", "login", "ghcr.io", "-u", "ci", "--password-stdin", stdin="t").returncode
        == 0
    )
    assert tool("docker", "push", built).returncode == 0
    assert "does not exist locally" in tool("docker", "push", "ghcr.io/o/r:2").stderr


def test_kind_load_needs_the_cluster_and_the_image(tool, built):
    assert "no nodes found" in tool("kind", "load", "docker-image", built, "--name", "c").stderr
    assert tool("kind", "create", "cluster", "--name", "c").returncode == 0
    assert (
        "not present locally" in tool("kind", "load", "docker-image", "x:1", "--name", "c").stderr
    )
    assert tool("kind", "load", "docker-image", built, "--name", "c").returncode == 0


def test_rollout_fails_for_an_image_the_cluster_cannot_get(tool, built):
    assert "connection to the server" in tool("kubectl", "get", "deployment/model-service").stderr
    tool("kind", "create", "cluster", "--name", "c")
    manifest = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: model-service}\n"
        "spec: {template: {spec: {containers: [{name: service, image: 'ghcr.io/o/r:1'}]}}}\n"
    )
    assert tool("kubectl", "apply", "-f", "-", stdin=manifest).returncode == 0
    stuck = tool("kubectl", "rollout", "status", "deployment/model-service")
    assert stuck.returncode == 1 and "ErrImagePull" in stuck.stderr
    tool("kind", "load", "docker-image", built, "--name", "c")
    assert tool("kubectl", "rollout", "status", "deployment/model-service").returncode == 0
    assert (
        "no rollout history"
        in tool("kubectl", "rollout", "undo", "deployment/model-service").stderr
    )
    assert "unsupported command" in tool("kubectl", "delete", "pod", "x").stderr


DEPLOYMENT = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: model-service}\n"
    "spec: {template: {spec: {imagePullSecrets: [{name: ghcr-pull}], "
    "containers: [{name: service, image: 'ghcr.io/o/r:1'}]}}}\n"
)


def test_apply_refuses_what_the_api_server_refuses(tool):
    tool("kind", "create", "cluster", "--name", "c")
    no_kind = tool("kubectl", "apply", "-f", "-", stdin="apiVersion: v1\nmetadata: {name: x}\n")
    assert no_kind.returncode == 1 and "kind not set" in no_kind.stderr
    broken = tool("kubectl", "apply", "-f", "-", stdin=(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: ghcr-pull}\n"
        "type: kubernetes.io/dockerconfigjson\ndata: {.dockerconfigjson: bm90IGpzb24=}\n"
    ))  # fmt: skip
    assert broken.returncode == 1 and "data[.dockerconfigjson]: Invalid value" in broken.stderr


def test_a_pushed_private_image_needs_the_pull_secret_the_deployment_names(tool, built, tmp_path):
    """New GHCR packages are private: a real cluster pulls them only with credentials."""
    from mlops.release.deploy import pull_secret_manifest

    tool("docker", "login", "ghcr.io", "-u", "ci", "--password-stdin", stdin="t")
    tool("docker", "push", built)
    tool("kind", "create", "cluster", "--name", "c")  # not loaded into kind: pulled
    assert tool("kubectl", "apply", "-f", "-", stdin=DEPLOYMENT).returncode == 0
    private = tool("kubectl", "rollout", "status", "deployment/model-service")
    assert private.returncode == 1 and "is private" in private.stderr
    other = pull_secret_manifest("ghcr-pull", "docker.io", "u", "t")  # the wrong registry
    assert tool("kubectl", "apply", "-f", "-", stdin=other).returncode == 0
    assert tool("kubectl", "rollout", "status", "deployment/model-service").returncode == 1
    secret = pull_secret_manifest("ghcr-pull", "ghcr.io", "u", "t")
    assert tool("kubectl", "apply", "-f", "-", stdin=secret).returncode == 0
    assert tool("kubectl", "rollout", "status", "deployment/model-service").returncode == 0
    # or the package is public
    state = json.loads((tmp_path / "state.json").read_text())
    del state["contexts"]["kind-c"]["secrets"]
    state["public"] = [built]
    (tmp_path / "state.json").write_text(json.dumps(state))
    assert tool("kubectl", "rollout", "status", "deployment/model-service").returncode == 0
