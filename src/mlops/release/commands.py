"""`mlops service ...`: build, run, smoke-test, containerize, deploy and record the service.

Each command is what one Makefile target (and one workflow step) runs, so a failure in CI
reproduces locally with the same command. Registered in ``mlops.cli`` as the ``service``
group.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from mlops.core.cli import ParamsOption, command, new_app
from mlops.core.config import DEFAULT_PARAMS, load_params
from mlops.core.errors import UserError
from mlops.core.github import step_summary

# mlops.serving.runtime (pandas) and mlops.release.localserver (httpx) are imported where
# used, so that
# `mlops --help` and the pipeline's commands stay fast.
HOST = "127.0.0.1"

app = new_app("Build, serve, smoke-test and deploy the model; record the release.", group="service")

DEPLOYMENT = "model-service"  # metadata.name of the Deployment and Service in deploy/


class SmokeError(UserError, RuntimeError):
    """A check of the smoke test failed."""


class DeployError(UserError, RuntimeError):
    """kubectl could not apply, roll out or verify the service."""


def _bento_tag(params_path: Path) -> str:
    serve = load_params(params_path).serve
    return f"{serve.name}:latest"


# --------------------------------------------------------------------------- build
@command(app, "import-model")
def import_model(params: ParamsOption = DEFAULT_PARAMS) -> None:
    """Put the model dvc.lock records into the BentoML store (MD5 checked, labelled)."""
    from mlops.serving.bento import import_model as run_import

    p = load_params(params)

    serve = p.serve
    tag, new = run_import(p, serve)
    print(f"service: model {tag} {'imported into' if new else 'already in'} the BentoML store")


@command(app)
def build(
    bentofile: Annotated[Path, typer.Option(help="BentoML build file")] = Path("bentofile.yaml"),
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Import the locked model and build the bento (source, params, model, pinned packages)."""
    import bentoml

    from mlops.serving.bento import import_model as run_import

    p = load_params(params)

    serve = p.serve
    tag, _ = run_import(p, serve)
    print(f"service: building the bento from {bentofile} with model {tag} ...", flush=True)
    bento = bentoml.bentos.build_bentofile(str(bentofile), build_ctx=".")
    print(f"service: built bento {bento.tag} (serve it with `make serve`)")


# --------------------------------------------------------------------------- run
@command(app)
def serve(
    bento: Annotated[
        str | None, typer.Option(help="bento tag [default: <serve.name>:latest]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="port [default: serve.port]")] = None,
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Serve the built bento on 127.0.0.1 (Ctrl-C stops it)."""
    from mlops.release.localserver import bentoml_command

    serve_params = load_params(params).serve
    command = bentoml_command(bento or _bento_tag(params), port or serve_params.port)
    # log predictions here, not inside the bento store (MLOPS_PREDICTION_LOG overrides)
    os.environ.setdefault("MLOPS_PREDICTION_LOG", str(serve_params.prediction_log.resolve()))
    print(f"service: predictions are logged to {os.environ['MLOPS_PREDICTION_LOG']}")
    print(f"service: {' '.join(command)}  (docs: http://{HOST}:{port or serve_params.port}/docs)")
    os.execv(command[0], command)


def smoke_check(
    url: str,
    record: dict[str, Any],
    expected_version: str | None = None,
    labels: tuple[str, str] | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Check a running service end to end; raise SmokeError naming the first failed check."""
    import httpx

    def check(ok: bool, what: str, detail: Any = "") -> None:
        if not ok:
            raise SmokeError(f"{url}: {what} failed {detail}".rstrip())
        say(f"  ok  {what}")

    with httpx.Client(base_url=url, timeout=30.0) as client:
        for probe in ("/livez", "/readyz"):
            check(client.get(probe).status_code == 200, f"GET {probe} -> 200")
        answer = client.post("/predict", json=record)
        check(answer.status_code == 200, "POST /predict -> 200", answer.text[:300])
        body = answer.json()
        check(0.0 <= body.get("probability", -1) <= 1.0, "probability in [0, 1]", body)
        if labels:
            check(body.get("label") in labels, f"label is one of {labels}", body)
        if expected_version:
            check(
                body.get("model_version") == expected_version,
                f"model_version is {expected_version} (dvc.lock)",
                f"(got {body.get('model_version')})",
            )
        batch = client.post("/predict_batch", json={"records": [record] * 3})
        check(
            batch.status_code == 200 and len(batch.json()["predictions"]) == 3,
            "POST /predict_batch (3 records) -> 200 with 3 predictions",
            batch.text[:300],
        )
        bad = client.post("/predict", json={**record, "unexpected": 1})
        check(bad.status_code == 400 and "unexpected" in bad.text, "bad input -> 400", bad.text)
        metrics = client.get("/metrics")
        check("predictions_total" in metrics.text, "GET /metrics counts predictions")
    return body


def _expected(params_path: Path) -> tuple[dict[str, Any], str, tuple[str, str]]:
    from mlops.serving.runtime import example_record, locked_md5
    from mlops.serving.runtime import model_version as version_of

    p = load_params(params_path)

    serve = p.serve
    version = version_of(locked_md5(serve.lock, p.paths.model))
    return (
        example_record(p.schema),
        version,
        (p.schema.positive_label, p.schema.negative_label),
    )


@command(app)
def smoke(
    url: Annotated[
        str | None, typer.Option(help="check this running service instead of starting one")
    ] = None,
    bento: Annotated[str | None, typer.Option(help="bento tag to start [default: latest]")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for /readyz")] = 120.0,
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Start the built bento on 127.0.0.1, wait for /readyz, predict, check, stop it."""
    from mlops.release.localserver import bentoml_command, free_port, running

    record, version, labels = _expected(params)
    if url:
        print(f"smoke test of {url}")
        body = smoke_check(url.rstrip("/"), record, version, labels)
    else:
        port = free_port()
        target = bento or _bento_tag(params)
        log = Path(tempfile.gettempdir()) / f"mlops-smoke-{port}.log"
        with running(
            bentoml_command(target, port),
            f"http://{HOST}:{port}",
            log,
            timeout,
            env={"MLOPS_PREDICTION_LOG": str(log.with_suffix(".jsonl"))},
        ) as server:
            print(f"smoke test of {target} on {server.url}")
            body = smoke_check(server.url, record, version, labels)
    print(f"smoke test passed: model {body['model_version']}, example -> {body['label']}")


# --------------------------------------------------------------------------- ship
def _run(command: list[str], what: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    print("+ " + " ".join(command), flush=True)
    try:
        return subprocess.run(command, check=True, text=True, **kwargs)
    except FileNotFoundError:
        raise DeployError(f"{what}: `{command[0]}` is not installed or not on PATH") from None
    except subprocess.CalledProcessError as exc:
        output = (exc.stderr or exc.stdout or "").strip()
        raise DeployError(
            f"{what}: `{' '.join(command)}` exited {exc.returncode}\n{output}"
        ) from None


def image_tags(image: str, params_path: Path) -> list[str]:
    """IMAGE:<commit sha> and IMAGE:model-<model version>."""
    from mlops.serving.bento import git_commit

    if not image or ":" in image.rsplit("/", 1)[-1]:
        raise ValueError(f"--image must be a repository without a tag, got {image!r}")
    _, version, _ = _expected(params_path)
    commit = git_commit().removesuffix("-dirty")
    return [f"{image}:{commit}", f"{image}:model-{version}"]


@command(app)
def containerize(
    image: Annotated[str, typer.Option(help="image repository, e.g. ghcr.io/OWNER/REPO")],
    push: Annotated[bool, typer.Option(help="push the tags after building")] = False,
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Build the image of the latest bento (needs Docker), tagged with commit and model."""
    tags = image_tags(image.lower(), params)
    bentoml = str(Path(sys.executable).parent / "bentoml")
    command = [bentoml, "containerize", _bento_tag(params)]
    for tag in tags:
        command += ["-t", tag]
    _run(command, "containerize")
    if push:
        for tag in tags:
            _run(["docker", "push", tag], "push")
    Path("build").mkdir(exist_ok=True)
    Path("build/image.txt").write_text(tags[0] + "\n")
    if output := os.environ.get("GITHUB_OUTPUT"):  # for the jobs that deploy it
        with Path(output).open("a") as handle:
            handle.write(f"image={tags[0]}\n")
    print("image: " + " ".join(tags) + " (reference in build/image.txt)")


def render_manifests(manifests: Path, image: str) -> str:
    """The manifests of ``manifests`` with the service container's image set to ``image``."""
    documents = []
    for path in sorted(manifests.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") == "Kustomization":
                continue
            if doc.get("kind") == "Deployment":
                for container in doc["spec"]["template"]["spec"]["containers"]:
                    if container["name"] == "service":
                        container["image"] = image
            documents.append(doc)
    if not documents:
        raise FileNotFoundError(f"no Kubernetes manifests (*.yaml) in {manifests}/")
    return yaml.safe_dump_all(documents, sort_keys=False)


def _kubectl(args: list[str], what: str, **kwargs: Any) -> str:
    return _run(["kubectl", *args], what, capture_output=True, **kwargs).stdout


# New GHCR packages are private: a cluster pulls the image with the image pull secret that
# deploy/deployment.yaml names (imagePullSecrets), or the package is made public.
PRIVATE_IMAGE_HINT = (
    "New GHCR packages are private: set the secret GHCR_PULL_TOKEN (a token with "
    "read:packages) in the `production` environment, so `make deploy` creates the image pull "
    "secret {secret!r}, or make the package public (the package's Settings → Change "
    "visibility)."
)


def pull_secret_name(manifests: Path) -> str | None:
    """The image pull secret the Deployment in ``manifests`` names (imagePullSecrets)."""
    for path in sorted(manifests.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Deployment":
                names = doc["spec"]["template"]["spec"].get("imagePullSecrets") or []
                return names[0]["name"] if names else None
    return None


def registry_of(image: str) -> str:
    first = image.split("/", 1)[0]
    return first if "/" in image and ("." in first or ":" in first) else "docker.io"


def pull_secret_manifest(name: str, registry: str, user: str, token: str) -> str:
    """A kubernetes.io/dockerconfigjson Secret: what `kubectl create secret docker-registry
    NAME --docker-server ... --dry-run=client -o yaml` prints, without the token on a
    command line."""
    import base64

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


@command(app)
def deploy(
    image: Annotated[
        str, typer.Option(help="image reference to deploy [default: build/image.txt]")
    ] = "",
    kubeconfig_env: Annotated[
        str | None,
        typer.Option(help="name of an environment variable holding a kubeconfig to use"),
    ] = None,
    manifests: Annotated[Path, typer.Option(help="folder of manifests")] = Path("deploy"),
    namespace: Annotated[str, typer.Option(help="Kubernetes namespace")] = "default",
    kind_cluster: Annotated[
        str | None, typer.Option(help="load the image into this kind cluster first")
    ] = None,
    timeout: Annotated[int, typer.Option(help="seconds to wait for the rollout")] = 300,
    pull_token_env: Annotated[
        str | None,
        typer.Option(
            help="name of an environment variable holding a registry token (GHCR: "
            "read:packages): the image pull secret deploy/ names is created from it"
        ),
    ] = None,
    pull_user: Annotated[str, typer.Option(help="registry user of that token")] = "token",
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Apply deploy/ with IMAGE, wait for the rollout, smoke-test; roll back on failure."""
    if not image:
        built = Path("build/image.txt")
        if not built.exists():
            raise ValueError("no --image given and no build/image.txt: run `make push` first")
        image = built.read_text().strip()
    with _kubeconfig_from(kubeconfig_env):
        if pull_token_env:
            _pull_secret(image, namespace, manifests, pull_token_env, pull_user)
        _deploy(image, kind_cluster, namespace, manifests, timeout, params)


def _pull_secret(image: str, namespace: str, manifests: Path, variable: str, user: str) -> None:
    """Create or update the image pull secret deploy/ names from the token in ``$variable``;
    without one, say that only a public package or an existing secret lets the pull work."""
    name = pull_secret_name(manifests)
    if name is None:
        raise DeployError(
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
def _kubeconfig_from(variable: str | None) -> Iterator[None]:
    """While deploying: KUBECONFIG points at a private file holding ``$variable``'s content
    (a secret). Afterwards the file is deleted and KUBECONFIG is what it was, so a caller in
    the same process (a test, a script) does not inherit the cluster."""
    if not variable:
        yield
        return
    content = os.environ.get(variable, "")
    if not content.strip():
        raise DeployError(f"{variable} is empty: set the kubeconfig secret")
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


def _deploy(
    image: str,
    kind_cluster: str | None,
    namespace: str,
    manifests: Path,
    timeout: int,
    params: Path,
) -> None:
    from mlops.release.localserver import ServerError

    if kind_cluster:
        _run(["kind", "load", "docker-image", image, "--name", kind_cluster], "kind load")
    ns = ["--namespace", namespace]
    previous = subprocess.run(
        ["kubectl", "get", f"deployment/{DEPLOYMENT}", *ns, "-o",
         "jsonpath={.spec.template.spec.containers[0].image}"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    print(f"deploy: {image} (previous: {previous or 'none'})", flush=True)
    _kubectl(["apply", *ns, "-f", "-"], "apply", input=render_manifests(manifests, image))
    try:
        _kubectl(
            ["rollout", "status", f"deployment/{DEPLOYMENT}", *ns, f"--timeout={timeout}s"],
            "rollout",
        )
        _smoke_through_port_forward(namespace, params)
    except (DeployError, SmokeError, ServerError) as exc:
        if "ErrImagePull" in str(exc) or "ImagePullBackOff" in str(exc):
            name = pull_secret_name(manifests) or "named in imagePullSecrets"
            exc = DeployError(f"{exc}\n{PRIVATE_IMAGE_HINT.format(secret=name)}")
        if not previous:
            raise DeployError(f"{exc}\nNothing to roll back to (first deploy).") from None
        print(f"deploy failed, rolling back to {previous}", file=sys.stderr, flush=True)
        _kubectl(["rollout", "undo", f"deployment/{DEPLOYMENT}", *ns], "rollback")
        _kubectl(
            ["rollout", "status", f"deployment/{DEPLOYMENT}", *ns, f"--timeout={timeout}s"],
            "rollback",
        )
        raise DeployError(f"{exc}\nRolled back to {previous}.") from None
    print(f"deploy: {image} is live")


def _smoke_through_port_forward(namespace: str, params: Path) -> None:
    from mlops.release.localserver import free_port, running

    port = free_port()
    command = [
        "kubectl", "port-forward", "--namespace", namespace,
        f"service/{DEPLOYMENT}", f"{port}:80", "--address", HOST,
    ]  # fmt: skip
    with running(command, f"http://{HOST}:{port}", Path(tempfile.gettempdir()) / "pf.log", 60):
        record, version, labels = _expected(params)
        smoke_check(f"http://{HOST}:{port}", record, version, labels)


@command(app)
def release_notes(
    image: Annotated[str, typer.Option(help="image reference that went live")] = "",
    out: Annotated[Path, typer.Option(help="markdown file to write")] = Path(
        "build/release-notes.md"
    ),
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Write the live model's release notes (version, commit, data, metrics) and its tag."""
    from mlops.serving.bento import labels_and_metadata
    from mlops.serving.runtime import locked_md5
    from mlops.serving.runtime import model_version as version_of

    p = load_params(params)

    serve = p.serve
    md5 = locked_md5(serve.lock, p.paths.model)
    labels, metadata = labels_and_metadata(p, serve, md5)
    metrics = {k: v for k, v in metadata["metrics"].items() if isinstance(v, int | float)}
    target = os.environ.get("DEPLOY_TARGET", "")
    where = (
        f"is live on the `{target}` target"
        if target
        else "was published (no deploy target configured: smoke-tested on kind only)"
    )
    lines = [
        f"Model `{serve.name}:{version_of(md5)}` {where}.",
        "",
        f"- commit: `{labels['git_commit']}`",
        f"- model MD5 (dvc.lock): `{md5}`",
        f"- data MD5 (dvc.lock): `{labels['data_md5']}`",
        f"- image: `{image}`" if image else "",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {k} | {v:.4f} |" for k, v in metrics.items()),
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(line for line in lines if line is not None) + "\n")
    (out.parent / "release-tag.txt").write_text(f"model-{version_of(md5)}\n")
    print(f"model-{version_of(md5)}")


@command(app)
def release(
    image: Annotated[str, typer.Option(help="image reference that went live")] = "",
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Record what went live: GitHub release model-<version> with its metrics (gh, GH_TOKEN).

    A model already released is left as it is."""
    out = Path("build/release-notes.md")
    release_notes(image=image, out=out, params=params)
    tag = (out.parent / "release-tag.txt").read_text().strip()
    if not shutil.which("gh"):
        raise DeployError("the GitHub CLI `gh` is not installed: cannot record the release")
    exists = subprocess.run(["gh", "release", "view", tag], capture_output=True, check=False)
    if exists.returncode == 0:
        print(f"release {tag} already exists: this model was released before")
        return
    target = os.environ.get("GITHUB_SHA", "")
    command = ["gh", "release", "create", tag, "--title", tag, "--notes-file", str(out)]
    _run(command + (["--target", target] if target else []), "release")


@command(app)
def notice(message: Annotated[str, typer.Argument(help="text of the notice")]) -> None:
    """Print a GitHub Actions notice (used for steps that are skipped on purpose), and put it
    in the job summary too, where it is read without opening the log."""
    print(f"::notice::{message}")
    step_summary(f"### ℹ️ {message}")


@command(app)
def info(params: ParamsOption = DEFAULT_PARAMS) -> None:
    """Print the served model's tag, version and the example request as JSON."""
    record, version, _ = _expected(params)
    serve = load_params(params).serve
    print(json.dumps({"model": f"{serve.name}:{version}", "example": record}, indent=2))


@command(app)
def lock_check(
    lock: Annotated[Path, typer.Option(help="the DVC lock file")] = Path("dvc.lock"),
) -> None:
    """Fail unless dvc.lock is in sync: `dvc status` clean and dvc.lock unchanged in git."""
    status = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), "status", "--quiet"], check=False
    )
    if status.returncode != 0:
        raise DeployError(
            "`dvc status` reports changes: the pipeline's outputs do not match dvc.lock. "
            "Run `make repro` and commit dvc.lock."
        )
    diff = subprocess.run(["git", "diff", "--quiet", "--", str(lock)], check=False)
    if diff.returncode != 0:
        raise DeployError(
            f"reproducing the pipeline changed {lock}: the committed lock is stale. "
            "Run `make repro` locally and commit the new dvc.lock."
        )
    print(f"lock-check: {lock} is in sync (dvc status clean, no change to commit)")


if __name__ == "__main__":  # `python -m mlops.release.commands` until `mlops service` is registered
    app()
