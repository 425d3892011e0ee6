"""`mlops service ...`: build, run, smoke-test, containerize, deploy and record the service.

Each command is what one Makefile target (and one workflow step) runs, so a failure in CI
reproduces locally with the same command. Registered in ``mlops.cli`` as the ``service``
group. The work is done by the modules of this folder: bento.py (model import, bento
build), smoke.py, image.py (containerize), deploy.py (kubectl), notes.py (release), lock.py.
Each command imports its module when it runs (they load BentoML, scikit-learn or httpx),
so `mlops --help` and the pipeline's commands stay fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mlops.core.cli import ParamsOption, command, new_app
from mlops.core.config import DEFAULT_PARAMS, load_params
from mlops.core.github import step_summary

app = new_app("Build, serve, smoke-test and deploy the model; record the release.", group="service")


# --------------------------------------------------------------------------- build
@command(app)
def build(
    bentofile: Annotated[Path, typer.Option(help="BentoML build file")] = Path("bentofile.yaml"),
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Import the locked model and build the bento (source, params, model, pinned packages)."""
    from mlops.release import bento

    tag, _ = bento.import_model(load_params(params))
    print(f"service: building the bento from {bentofile} with model {tag} ...", flush=True)
    built = bento.build_bento(bentofile)
    print(f"service: built bento {built} (serve it with `make serve`)")


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
    from mlops.release.bento import bento_tag
    from mlops.release.localserver import HOST, bentoml_command
    from mlops.serving.predlog import LOG_VARIABLE

    p = load_params(params)
    port = port or p.serve.port
    argv = bentoml_command(bento or bento_tag(p), port)
    # log predictions here, not inside the bento store (MLOPS_PREDICTION_LOG overrides)
    os.environ.setdefault(LOG_VARIABLE, str(p.serve.prediction_log.resolve()))
    print(f"service: predictions are logged to {os.environ[LOG_VARIABLE]}")
    print(f"service: {' '.join(argv)}  (docs: http://{HOST}:{port}/docs)")
    os.execv(argv[0], argv)


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
    from mlops.release.bento import bento_tag
    from mlops.release.smoke import check_service, expected, smoke_bento

    p = load_params(params)
    want = expected(p)
    if url:
        print(f"smoke test of {url}")
        body = check_service(url.rstrip("/"), want)
    else:
        body = smoke_bento(bento or bento_tag(p), want, timeout)
    print(f"smoke test passed: model {body['model_version']}, example -> {body['label']}")


# --------------------------------------------------------------------------- ship
@command(app)
def containerize(
    image: Annotated[str, typer.Option(help="image repository, e.g. ghcr.io/OWNER/REPO")],
    push: Annotated[bool, typer.Option(help="push the tags after building")] = False,
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Build the image of the latest bento (needs Docker), tagged with commit and model."""
    from mlops.release.bento import bento_tag
    from mlops.release.image import containerize as build_image
    from mlops.release.image import image_tags
    from mlops.release.smoke import expected

    p = load_params(params)
    tags = image_tags(image.lower(), expected(p).version)
    build_image(bento_tag(p), tags, push)
    print("image: " + " ".join(tags) + " (reference in build/image.txt)")


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
    from mlops.release import deploy as kube
    from mlops.release.image import built_image
    from mlops.release.smoke import expected

    image = image or built_image()
    want = expected(load_params(params))  # before touching the cluster: dvc.lock is readable
    with kube.kubeconfig_from(kubeconfig_env):
        if pull_token_env:
            kube.apply_pull_secret(image, namespace, manifests, pull_token_env, pull_user)
        kube.deploy(image, namespace, manifests, timeout, want, kind_cluster)


# --------------------------------------------------------------------------- record
@command(app)
def release(
    image: Annotated[str, typer.Option(help="image reference that went live")] = "",
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Record what went live: GitHub release model-<version> with its metrics (gh, GH_TOKEN).

    A model already released is left as it is."""
    from mlops.release.notes import publish, write_notes

    tag, notes = write_notes(load_params(params), image, Path("build"))
    publish(tag, notes)


@command(app)
def notice(message: Annotated[str, typer.Argument(help="text of the notice")]) -> None:
    """Print a GitHub Actions notice (used for steps that are skipped on purpose), and put it
    in the job summary too, where it is read without opening the log."""
    print(f"::notice::{message}")
    step_summary(f"### ℹ️ {message}")


@command(app)
def lock_check(
    lock: Annotated[Path, typer.Option(help="the DVC lock file")] = Path("dvc.lock"),
) -> None:
    """Fail unless dvc.lock is in sync: `dvc status` clean and dvc.lock unchanged in git."""
    from mlops.release.lock import check_lock

    check_lock(lock)
    print(f"lock-check: {lock} is in sync (dvc status clean, no change to commit)")
