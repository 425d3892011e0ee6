"""Deploy an image to Kubernetes with kubectl: deploy/'s manifests with the image set, the
rollout awaited, the smoke test through a port-forward, and a rollback when any of it fails.

Also what a deploy needs around that: the cluster's kubeconfig from a secret, kept private
to the deploy (:func:`kubeconfig_from`), and the image pull secret a private registry needs
(:func:`apply_pull_secret`).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from mlops.release.localserver import HOST, ServerError, free_port, running
from mlops.release.smoke import Expected, SmokeError, check_service
from mlops.release.tools import ReleaseError, run

DEPLOYMENT = "model-service"  # metadata.name of the Deployment and Service in deploy/

# New GHCR packages are private: a cluster pulls the image with the image pull secret that
# deploy/deployment.yaml names (imagePullSecrets), or the package is made public.
PRIVATE_IMAGE_HINT = (
    "New GHCR packages are private: set the secret GHCR_PULL_TOKEN (a token with "
    "read:packages) in the `production` environment, so `make deploy` creates the image pull "
    "secret {secret!r}, or make the package public (the package's Settings → Change "
    "visibility)."
)


# --------------------------------------------------------------------------- manifests
def _documents(manifests: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(manifests.glob("*.yaml")):
        yield from (doc for doc in yaml.safe_load_all(path.read_text()) if doc)


IMAGE_CONTAINERS = ("service", "log-shipper")  # run the image deployed (deploy/deployment.yaml)


def render_manifests(manifests: Path, image: str) -> str:
    """The manifests of ``manifests`` with the image of the service and its log shipper set
    to ``image``."""
    documents = []
    for doc in _documents(manifests):
        if doc.get("kind") == "Kustomization":
            continue
        if doc.get("kind") == "Deployment":
            pod = doc["spec"]["template"]["spec"]
            for container in [*pod["containers"], *pod.get("initContainers", [])]:
                if container["name"] in IMAGE_CONTAINERS:
                    container["image"] = image
        documents.append(doc)
    if not documents:
        raise FileNotFoundError(f"no Kubernetes manifests (*.yaml) in {manifests}/")
    return yaml.safe_dump_all(documents, sort_keys=False)


def pull_secret_name(manifests: Path) -> str | None:
    """The image pull secret the Deployment in ``manifests`` names (imagePullSecrets)."""
    for doc in _documents(manifests):
        if doc.get("kind") == "Deployment":
            names = doc["spec"]["template"]["spec"].get("imagePullSecrets") or []
            return names[0]["name"] if names else None
    return None


# --------------------------------------------------------------------------- pull secret
def registry_of(image: str) -> str:
    first = image.split("/", 1)[0]
    return first if "/" in image and ("." in first or ":" in first) else "docker.io"


def pull_secret_manifest(name: str, registry: str, user: str, token: str) -> str:
    """A kubernetes.io/dockerconfigjson Secret: what `kubectl create secret docker-registry
    NAME --docker-server ... --dry-run=client -o yaml` prints, without the token on a
    command line."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    config = {"auths": {registry: {"username": user, "password": token,
                                   "auth": b64(f"{user}:{token}")}}}  # fmt: skip
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": b64(json.dumps(config))},
    }
    return yaml.safe_dump(secret, sort_keys=False)


def _kubectl(args: list[str], what: str, **kwargs: Any) -> str:
    return run(["kubectl", *args], what, capture_output=True, **kwargs).stdout


def apply_pull_secret(
    image: str, namespace: str, manifests: Path, variable: str, user: str
) -> None:
    """Create or update the image pull secret deploy/ names from the token in ``$variable``;
    without one, say that only a public package or an existing secret lets the pull work."""
    name = pull_secret_name(manifests)
    if name is None:
        raise ReleaseError(
            f"no imagePullSecrets in the Deployment of {manifests}/: name the secret to create"
        )
    token = os.environ.get(variable, "").strip()
    if not token:
        message = (
            f"{variable} is not set: no image pull secret made. The cluster pulls {image} "
            f"with the secret {name!r} if it exists, else without credentials. "
            + PRIVATE_IMAGE_HINT.format(secret=name)
        )
        print(f"::notice title=Image pull secret::{message}", flush=True)
        return
    manifest = pull_secret_manifest(name, registry_of(image), user, token)
    _kubectl(["apply", "--namespace", namespace, "-f", "-"], "pull secret", input=manifest)
    print(f"deploy: image pull secret {name!r} for {registry_of(image)} applied", flush=True)


@contextmanager
def kubeconfig_from(variable: str | None) -> Iterator[None]:
    """While deploying: KUBECONFIG points at a private file holding ``$variable``'s content
    (a secret). Afterwards the file is deleted and KUBECONFIG is what it was, so a caller in
    the same process (a test, a script) does not inherit the cluster."""
    if not variable:
        yield
        return
    content = os.environ.get(variable, "")
    if not content.strip():
        raise ReleaseError(f"{variable} is empty: set the kubeconfig secret")
    handle, path = tempfile.mkstemp(prefix="kubeconfig-")
    with os.fdopen(handle, "w") as out:
        out.write(content)
    before = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = path  # inherited by every kubectl call
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = before
        Path(path).unlink(missing_ok=True)


# --------------------------------------------------------------------------- rollout
def _live_image(namespace: str) -> str:
    """The image the Deployment runs now; '' on a first deploy."""
    return subprocess.run(
        ["kubectl", "get", f"deployment/{DEPLOYMENT}", "--namespace", namespace, "-o",
         "jsonpath={.spec.template.spec.containers[0].image}"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip


def _rollout_status(namespace: str, timeout: int, what: str) -> None:
    deployment = [f"deployment/{DEPLOYMENT}", "--namespace", namespace]
    _kubectl(["rollout", "status", *deployment, f"--timeout={timeout}s"], what)


def _smoke_through_port_forward(namespace: str, want: Expected) -> None:
    port = free_port()
    command = [
        "kubectl", "port-forward", "--namespace", namespace,
        f"service/{DEPLOYMENT}", f"{port}:80", "--address", HOST,
    ]  # fmt: skip
    with running(command, f"http://{HOST}:{port}", Path(tempfile.gettempdir()) / "pf.log", 60):
        check_service(f"http://{HOST}:{port}", want)


def _roll_back(failure: Exception, previous: str, namespace: str, timeout: int) -> ReleaseError:
    """Put ``previous`` back; the error to raise, saying what failed and what is live."""
    if not previous:
        return ReleaseError(f"{failure}\nNothing to roll back to (first deploy).")
    print(f"deploy failed, rolling back to {previous}", file=sys.stderr, flush=True)
    _kubectl(["rollout", "undo", f"deployment/{DEPLOYMENT}", "--namespace", namespace], "rollback")
    _rollout_status(namespace, timeout, "rollback")
    return ReleaseError(f"{failure}\nRolled back to {previous}.")


def deploy(
    image: str,
    namespace: str,
    manifests: Path,
    timeout: int,
    want: Expected,
    kind_cluster: str | None = None,
) -> None:
    """Apply ``manifests`` with ``image``, wait for the rollout and smoke-test the service
    (``want``); on any failure roll back to the image that was live. With ``kind_cluster``,
    the image is loaded into that kind cluster first (it is in no registry it can reach)."""
    if kind_cluster:
        run(["kind", "load", "docker-image", image, "--name", kind_cluster], "kind load")
    previous = _live_image(namespace)
    print(f"deploy: {image} (previous: {previous or 'none'})", flush=True)
    _kubectl(
        ["apply", "--namespace", namespace, "-f", "-"],
        "apply",
        input=render_manifests(manifests, image),
    )
    try:
        _rollout_status(namespace, timeout, "rollout")
        _smoke_through_port_forward(namespace, want)
    except (ReleaseError, SmokeError, ServerError) as exc:
        failure: Exception = exc
        if "ErrImagePull" in str(exc) or "ImagePullBackOff" in str(exc):
            name = pull_secret_name(manifests) or "named in imagePullSecrets"
            failure = ReleaseError(f"{exc}\n{PRIVATE_IMAGE_HINT.format(secret=name)}")
        raise _roll_back(failure, previous, namespace, timeout) from None
    print(f"deploy: {image} is live")
