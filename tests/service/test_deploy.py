"""deploy/: valid against the Kubernetes schemas (offline), wired to the service's endpoints,
and the deploy command rolls back when the new version does not come up."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from mlops.serving_cli import DEPLOYMENT, app, render_manifests
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
    from mlops.serving import md5_of

    monkeypatch.chdir(project.root)
    monkeypatch.delenv("DEPLOY_TARGET", raising=False)
    out = project.root / "build" / "notes.md"
    args = ["release-notes", "--image", "ghcr.io/o/r:abc", "--out", str(out)]
    args += ["--params", str(project.params)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    version = md5_of(project.root / "models" / "model.skops")[:12]
    assert result.output.strip() == f"model-{version}"
    notes = out.read_text()
    assert version in notes and "ghcr.io/o/r:abc" in notes and "smoke-tested on kind" in notes
