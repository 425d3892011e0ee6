"""`mlops registry ...`: the model registry (GTO tags over dvc.yaml's artifact).

``plan`` says which version HEAD's model is or would be registered as (the PR report and
the bento's labels use it), ``register`` tags a merge and assigns it ``staging``,
``promote`` assigns a registered version a stage (``prod``: a promotion or a rollback),
``resolve`` names the commit and image of a stage's version for the deploy. Each is what
one Makefile target runs. The work is done in registry.py. No need to edit.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mlops.core.cli import ParamsOption, command, new_app
from mlops.core.config import DEFAULT_PARAMS, load_params
from mlops.core.github import set_output, step_summary
from mlops.release import registry

app = new_app("The model registry: register, promote, resolve (GTO tags).", group="registry")
PushOption = Annotated[
    bool, typer.Option(help="push the new tags (to REGISTRY_PUSH_URL or origin)")
]


@command(app)
def plan(params: ParamsOption = DEFAULT_PARAMS) -> None:
    """Say which version HEAD's model is (registered) or would register; step outputs
    ``version`` and ``new``."""
    found = registry.plan(load_params(params))
    set_output("version", found.version)
    set_output("new", found.new)
    print(registry.plan_line(found))


@command(app)
def show() -> None:
    """Print the registry: GTO's `show` of every artifact, then each version of the model
    with its stages."""
    artifact = registry.artifact_name()
    if not registry.registered(registry.read_tags(), artifact):
        print(f"registry: no version of {artifact} registered yet: a merge to main registers one")
        print("(in a clone, `git fetch --tags` first: versions and stages are git tags)")
        return
    print(registry.gto("show"), end="")
    print(registry.gto("show", artifact), end="")


@command(app)
def register(push: PushOption = False, params: ParamsOption = DEFAULT_PARAMS) -> None:
    """Register HEAD's model as a new version and assign it `staging` (nothing when the
    model is a registered one: a docs-only merge)."""
    p = load_params(params)
    found = registry.plan(p)
    print(registry.plan_line(found))
    set_output("version", found.version)
    if not found.new:
        step_summary(f"### ℹ️ Registry: model unchanged, still `{found.artifact}@{found.version}`")
        return
    tags = registry.register(found, registry.tag_message(p, found.version))
    if push:
        registry.push_tags(tags)
    step_summary(f"### 🏷️ Registered `{found.artifact}@{found.version}`, stage `staging`")


@command(app)
def promote(
    version: Annotated[str, typer.Option(help="registered version, e.g. v1.2.0")],
    stage: Annotated[str, typer.Option(help="stage to assign")] = registry.PROD,
    push: PushOption = False,
) -> None:
    """Assign a registered version a stage: a promotion, or a rollback to an older one."""
    artifact = registry.artifact_name()
    tags = registry.assign(artifact, version, stage)
    if push:
        registry.push_tags(tags)
    print(
        f"registry: {artifact} {version} is in {stage}" + (f" ({', '.join(tags)})" if tags else "")
    )
    step_summary(f"### 🚀 `{artifact}` {version} assigned to `{stage}`")


@command(app)
def resolve(
    version: Annotated[str, typer.Option(help="a registered version [default: STAGE's]")] = "",
    stage: Annotated[str, typer.Option(help="the stage whose version to deploy")] = registry.PROD,
    image: Annotated[str, typer.Option(help="image repository the merge pushed")] = "",
    checkout: Annotated[
        bool, typer.Option(help="check out that commit (its dvc.lock, params, manifests)")
    ] = False,
) -> None:
    """The version to deploy (VERSION, else the one in STAGE), its commit and its image
    (IMAGE:<commit>, pushed by the merge): step outputs ``version``, ``commit``, ``image``."""
    artifact = registry.artifact_name()
    version = version or registry.stages(registry.read_tags(), artifact).get(stage, "")
    if not version:
        raise registry.RegistryError(
            f"no version of {artifact} is in stage {stage!r}: `make promote VERSION=... "
            f"STAGE={stage}` assigns one (`make registry` lists the versions)"
        )
    sha = registry.commit_of(artifact, version)
    version = registry.normal(version)
    set_output("version", version)
    set_output("commit", sha)
    if image:
        set_output("image", f"{image.lower()}:{sha}")
    print(f"registry: deploy {artifact}@{version} (commit {sha})")
    if checkout:
        registry.check_out(sha)
        print(f"registry: checked out {sha} ({artifact}@{version}'s dvc.lock, params, deploy/)")
