"""deploy/: valid against the Kubernetes schemas (offline), wired to the service's endpoints,
and the deploy command rolls back when the new version does not come up."""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
import uuid
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from mlops.core.config import load_params
from mlops.release.commands import app
from mlops.release.deploy import DEPLOYMENT, render_manifests
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
FILES = sorted(DEPLOY.glob("*.yaml"))
DOCS = {
    doc["kind"]: doc
    for path in FILES
    for doc in yaml.safe_load_all(path.read_text())
    if doc and doc.get("kind") != "Kustomization"
}
VERSION = kubernetes_validate.latest_version()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_manifest_is_valid_against_the_kubernetes_schema(path):
    for doc in yaml.safe_load_all(path.read_text()):
        if doc.get("kind") == "Kustomization":
            assert sorted(doc["resources"]) == sorted(
                p.name for p in FILES if p.name != "kustomization.yaml"
            )
            continue
        kubernetes_validate.validate(doc, VERSION, strict=True)


def test_the_expected_objects_exist():
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= set(DOCS)
    assert all(doc["metadata"]["name"] == DEPLOYMENT for doc in DOCS.values())


def _container():
    (container,) = DOCS["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


def test_probes_use_the_bentoml_health_endpoints_on_the_served_port():
    container = _container()
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert container["ports"][0]["containerPort"] == 3000  # BentoML's port in its image
    port_name = container["ports"][0]["name"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == port_name


def test_resources_and_graceful_termination():
    container = _container()
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    pod = DOCS["Deployment"]["spec"]["template"]["spec"]
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + 20
    assert DOCS["Deployment"]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_service_and_autoscaler_point_at_the_deployment():
    labels = DOCS["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert DOCS["Service"]["spec"]["selector"].items() <= labels.items()
    assert DOCS["Service"]["spec"]["ports"][0]["port"] == 80  # what the smoke test forwards
    target = DOCS["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", DEPLOYMENT)
    spec = DOCS["HorizontalPodAutoscaler"]["spec"]
    assert 1 <= spec["minReplicas"] < spec["maxReplicas"]


def test_render_sets_the_image_and_drops_the_kustomization():
    rendered = list(yaml.safe_load_all(render_manifests(DEPLOY, "ghcr.io/o/r:abc")))
    (deployment,) = [d for d in rendered if d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/o/r:abc"
    assert "Kustomization" not in {d["kind"] for d in rendered}


def test_the_log_shipper_is_a_native_sidecar_sharing_the_log_volume():
    pod = DOCS["Deployment"]["spec"]["template"]["spec"]
    (shipper,) = pod["initContainers"]
    assert shipper["restartPolicy"] == "Always"  # a sidecar: Kubernetes stops it last
    assert shipper["command"][-1] == "mlops.serving.logship"
    env = {e["name"]: e.get("value") for e in shipper["env"]}
    service_env = {e["name"]: e.get("value") for e in _container()["env"]}
    assert env["MLOPS_PREDICTION_LOG"] == service_env["MLOPS_PREDICTION_LOG"]
    mounts = {m["name"]: m["mountPath"] for m in shipper["volumeMounts"]}
    assert mounts == {m["name"]: m["mountPath"] for m in _container()["volumeMounts"]}
    assert env["MLOPS_PREDICTION_LOG"].startswith(mounts["prediction-log"])
    (volume,) = pod["volumes"]
    assert volume["emptyDir"]["sizeLimit"]  # bounded local disk
    params = load_params(ROOT / "params.yaml").serve
    pre_stop = int(_container()["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + 10 + params.log_drain_seconds
    rendered = list(yaml.safe_load_all(render_manifests(DEPLOY, "ghcr.io/o/r:abc")))
    (deployment,) = [d for d in rendered if d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["initContainers"][0]["image"] == (
        "ghcr.io/o/r:abc"
    )


def test_workload_identity_annotations_are_documented_valid_and_no_key_is_in_a_manifest():
    account = DOCS["ServiceAccount"]
    assert (
        DOCS["Deployment"]["spec"]["template"]["spec"]["serviceAccountName"]
        == (account["metadata"]["name"])
    )
    text = (DEPLOY / "serviceaccount.yaml").read_text()
    documented = [
        line.strip().lstrip("#").strip()
        for line in text.splitlines()
        if line.lstrip("#").strip().startswith(("eks.", "iam.gke.", "azure.workload."))
    ]
    assert len(documented) == 3  # IRSA, GKE, Azure
    for line in documented:
        key, value = line.split(": ", 1)
        annotated = {**account, "metadata": {**account["metadata"], "annotations": {key: value}}}
        kubernetes_validate.validate(annotated, VERSION, strict=True)
    every = "\n".join(path.read_text() for path in FILES)
    for secret in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GOOGLE_APPLICATION_CREDENTIALS",
                   "AZURE_CLIENT_SECRET", "AZURE_STORAGE_KEY"):  # fmt: skip
        assert secret not in every


# --------------------------------------------------------------------------- rollback
FAKE_KUBECTL = """#!{python}
import os, sys
with open(os.environ["KUBECTL_CALLS"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
if args[0] == "get":
    previous = os.environ.get("KUBECTL_PREVIOUS", "")
    if not previous:
        sys.exit(1)  # NotFound: no deployment yet
    print(previous, end="")
elif args[0] == "apply":
    sys.stdin.read()
elif args[:2] == ["rollout", "status"]:
    calls = open(os.environ["KUBECTL_CALLS"]).read()
    if "rollout undo" not in calls:
        print("deployment exceeded its progress deadline", file=sys.stderr)
        sys.exit(1)
"""


@pytest.fixture
def fake_kubectl(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(python=sys.executable))
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KUBECTL_CALLS", str(calls))
    monkeypatch.chdir(ROOT)
    return calls


def _deploy(image: str):
    return CliRunner().invoke(app, ["deploy", "--image", image, "--timeout", "5"])


def test_failed_rollout_rolls_back_to_the_previous_image(fake_kubectl, monkeypatch):
    monkeypatch.setenv("KUBECTL_PREVIOUS", "ghcr.io/o/r:old")
    result = _deploy("ghcr.io/o/r:new")
    assert result.exit_code == 1
    calls = Path(fake_kubectl).read_text().splitlines()
    assert any(c.startswith("apply") for c in calls)
    assert f"rollout undo deployment/{DEPLOYMENT} --namespace default" in calls
    assert "Rolled back to ghcr.io/o/r:old" in result.output


def test_failed_first_deploy_says_there_is_nothing_to_roll_back(fake_kubectl):
    result = _deploy("ghcr.io/o/r:new")
    assert result.exit_code == 1
    assert "Nothing to roll back to" in result.output
    assert "rollout undo" not in Path(fake_kubectl).read_text()


def test_release_notes_name_the_model_version_and_where_it_went(project, monkeypatch):
    from mlops.core.config import load_params
    from mlops.release.notes import write_notes
    from mlops.serving.model import md5_of

    monkeypatch.chdir(project.root)
    monkeypatch.delenv("DEPLOY_TARGET", raising=False)
    tag, out = write_notes(load_params(project.params), "ghcr.io/o/r:abc", project.root / "build")
    version = md5_of(project.root / "models" / "model.skops")[:12]
    assert tag == f"model-{version}"
    assert out == project.root / "build" / "release-notes.md"
    notes = out.read_text()
    assert version in notes and "ghcr.io/o/r:abc" in notes and "smoke-tested on kind" in notes


# ---------------------------------------------------- rollback after a failed smoke test
# The fake toolchain of the deploy workflow's act test (tests/workflows/fakecluster.py): a
# cluster with the previous image live; the new image rolls out, its pods pass their probes,
# but every prediction fails. Only the smoke test through the port-forward can tell.
SHIMS = ROOT / "tests" / "workflows" / "shims"
OLD, NEW = "ghcr.io/o/r:old", "ghcr.io/o/r:new"


@pytest.fixture
def fake_cluster(tmp_path, monkeypatch):
    state = {
        "logins": {"ghcr.io": "ci"},
        "images": {tag: {"bento": "flight-delay:x", "models": {}} for tag in (OLD, NEW)},
        "pushed": [OLD, NEW],
        "clusters": {},
        "contexts": {
            "production": {DEPLOYMENT: {"revisions": [OLD], "current": 0}, "cached": [OLD]}
        },
    }
    folder = tmp_path / "cluster"
    folder.mkdir()
    (folder / "state.json").write_text(json.dumps(state))
    monkeypatch.setenv("FAKE_CLUSTER_DIR", str(folder))
    monkeypatch.setenv("FAKE_CLUSTER_PYTHON", sys.executable)
    monkeypatch.setenv("FAKE_CLUSTER_BROKEN", NEW)
    monkeypatch.setenv("KUBECONFIG_DATA", "apiVersion: v1\ncurrent-context: production\n")
    monkeypatch.setenv("PATH", f"{SHIMS}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.chdir(ROOT)
    return folder


PULL = ["--pull-token-env", "GHCR_PULL_TOKEN", "--pull-user", "acme"]


def test_failed_smoke_test_after_rollout_rolls_back_to_the_previous_image(
    fake_cluster, monkeypatch, tmp_path
):
    monkeypatch.setenv("GHCR_PULL_TOKEN", "ghp_read-packages")  # the images are private
    # a private temporary folder: other tests (another fork's suite) make kubeconfigs too
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    args = ["deploy", "--image", NEW, "--kubeconfig-env", "KUBECONFIG_DATA", "--timeout", "5"]
    kubeconfigs = set(Path(tempfile.gettempdir()).glob("kubeconfig-*"))
    result = CliRunner().invoke(app, args + PULL)
    assert result.exit_code == 1, result.output
    assert "image pull secret 'ghcr-pull' for ghcr.io applied" in result.output
    assert "POST /predict -> 200 failed model failed to load" in result.output
    assert f"Rolled back to {OLD}" in result.output
    state = json.loads((fake_cluster / "state.json").read_text())
    deployment = state["contexts"]["production"][DEPLOYMENT]
    assert deployment["revisions"] == [OLD, NEW, OLD]
    assert deployment["revisions"][deployment["current"]] == OLD
    calls = [json.loads(line)["args"][:2] for line in (fake_cluster / "calls.jsonl").open()]
    assert "ghp_read-packages" not in (fake_cluster / "calls.jsonl").read_text()  # stdin only
    assert calls[-3:] == [
        ["port-forward", "--namespace"],
        ["rollout", "undo"],
        ["rollout", "status"],
    ]
    # the secret's kubeconfig was private to the deploy: nothing of it outlives the command
    assert "KUBECONFIG" not in os.environ
    assert set(Path(tempfile.gettempdir()).glob("kubeconfig-*")) == kubeconfigs


def test_a_kubeconfig_for_an_unknown_cluster_fails_and_changes_nothing(fake_cluster, monkeypatch):
    monkeypatch.setenv("KUBECONFIG_DATA", "current-context: nowhere\n")
    result = CliRunner().invoke(
        app, ["deploy", "--image", NEW, "--kubeconfig-env", "KUBECONFIG_DATA"]
    )
    assert result.exit_code == 1
    assert "apply: `kubectl apply --namespace default -f -` exited 1" in result.output
    assert "The connection to the server localhost:8080 was refused" in result.output
    state = json.loads((fake_cluster / "state.json").read_text())
    assert state["contexts"]["production"][DEPLOYMENT]["revisions"] == [OLD]


def test_notice_goes_to_the_log_and_the_job_summary(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = CliRunner().invoke(app, ["notice", "No deploy target configured."])
    assert result.exit_code == 0
    assert result.output == "::notice::No deploy target configured.\n"
    assert "No deploy target configured." in summary.read_text()


# ------------------------------------------------------- private images (GHCR's default)
def test_the_deployment_names_the_image_pull_secret_and_that_secret_is_valid():
    from mlops.release.deploy import pull_secret_manifest, pull_secret_name

    pod = DOCS["Deployment"]["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": pull_secret_name(DEPLOY)}]
    secret = yaml.safe_load(pull_secret_manifest("ghcr-pull", "ghcr.io", "acme", "tok"))
    kubernetes_validate.validate(secret, VERSION, strict=True)
    import base64

    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert config["auths"]["ghcr.io"]["auth"] == base64.b64encode(b"acme:tok").decode()


def test_a_private_image_without_a_pull_token_fails_the_rollout_and_says_what_to_set(
    fake_cluster, monkeypatch
):
    monkeypatch.delenv("GHCR_PULL_TOKEN", raising=False)
    args = ["deploy", "--image", NEW, "--kubeconfig-env", "KUBECONFIG_DATA", "--timeout", "5"]
    result = CliRunner().invoke(app, args + PULL)
    assert result.exit_code == 1, result.output
    assert "::notice title=Image pull secret::GHCR_PULL_TOKEN is not set" in result.output
    assert "ErrImagePull" in result.output and "is private" in result.output
    assert "set the secret GHCR_PULL_TOKEN" in result.output
    assert "make the package public" in result.output
    assert f"Rolled back to {OLD}" in result.output


def test_a_public_image_needs_no_pull_token(fake_cluster, monkeypatch):
    state = json.loads((fake_cluster / "state.json").read_text())
    state["public"] = [NEW]
    (fake_cluster / "state.json").write_text(json.dumps(state))
    args = ["deploy", "--image", NEW, "--kubeconfig-env", "KUBECONFIG_DATA", "--timeout", "5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1  # rolled out; then the (broken) model fails the smoke test
    assert "ErrImagePull" not in result.output
    assert "POST /predict -> 200 failed model failed to load" in result.output


def test_the_models_metadata_keeps_every_metric_but_no_null(tmp_path):
    """metrics.json has nulls where a number is undefined (a month of one class in the
    staleness curve); BentoML refuses None in a model's metadata, so they are left out."""
    import bentoml

    from mlops.release.bento import labels_and_metadata
    from tests.conftest import params_with

    metrics = tmp_path / "metrics.json"
    curve = {"periods": [{"period": "2024-01", "roc_auc": None}], "stale_after": None}
    metrics.write_text(json.dumps({"roc_auc": 0.71, "staleness": curve}))
    params = params_with({"paths": {"metrics": str(metrics)}})
    _, metadata = labels_and_metadata(params, "0" * 32)
    assert metadata["metrics"] == {
        "roc_auc": 0.71,
        "staleness": {"periods": [{"period": "2024-01"}]},
    }
    tag = f"metadata-probe:{uuid.uuid4().hex[:12]}"
    with bentoml.models.create(tag, metadata=metadata):  # accepted
        pass
    bentoml.models.delete(tag)
