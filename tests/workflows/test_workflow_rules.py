"""Rules GitHub enforces at run time that no linter checks: read here, before a run fails.

- A job that checks out needs `contents: read` (a private repository refuses it otherwise).
- Deploys happen only from main and only after the tests of that commit passed: test.yml
  calls deploy.yml with `needs: test`; deploy.yml has no trigger of its own but a dispatch
  on main; no `workflow_run` (it runs with the default branch's secrets on others' code).
- A called workflow's jobs get at most the caller's permissions, and only the secrets passed
  to it (or their environment's).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
LEVEL = {"none": 0, "read": 1, "write": 2}


def load(name: str) -> dict:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on` as True
    return workflow


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_job_that_checks_out_may_read_contents(path):
    for name, job in load(path.name)["jobs"].items():
        checks_out = any(
            step.get("uses", "").startswith("actions/checkout@") for step in job.get("steps", [])
        )
        if checks_out:
            granted = (job.get("permissions") or {}).get("contents", "none")
            assert LEVEL[granted] >= 1, f"{path.name}: job {name} checks out without contents"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_workflow_run_trigger(path):
    assert "workflow_run" not in (load(path.name)["on"] or {})


def test_deploy_runs_only_from_main_after_its_tests():
    test, deploy = load("test.yml"), load("deploy.yml")
    assert test["on"] == {"push": {"branches": ["main"]}}
    caller = test["jobs"]["deploy"]
    assert caller["uses"] == "./.github/workflows/deploy.yml"
    assert caller["needs"] == "test"
    assert set(deploy["on"]) == {"workflow_call", "workflow_dispatch"}  # no push of its own
    main = "github.ref == 'refs/heads/main'"
    assert deploy["jobs"]["build"]["if"] == main  # every other job needs build
    assert deploy["jobs"]["refused"]["if"] == main.replace("==", "!=")
    for name, job in deploy["jobs"].items():
        if name != "refused":
            needs = job.get("needs", [])
            assert name == "build" or "build" in ([needs] if isinstance(needs, str) else needs)


def test_the_caller_grants_what_the_deploy_jobs_ask_and_passes_their_secrets():
    test, deploy = load("test.yml"), load("deploy.yml")
    caller = test["jobs"]["deploy"]
    for name, job in deploy["jobs"].items():
        for scope, level in (job.get("permissions") or {}).items():
            granted = caller["permissions"].get(scope, "none")
            assert LEVEL[granted] >= LEVEL[level], f"deploy.yml job {name} asks {scope}: {level}"
    declared = deploy["on"]["workflow_call"]["secrets"]
    text = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    used = set(re.findall(r"secrets\.([A-Z_]+)", text)) - {"GITHUB_TOKEN"}
    assert used <= set(declared), "a secret deploy.yml reads is not declared for workflow_call"
    environment_only = {
        secret
        for secret in used
        if all(
            job.get("environment") == "production"
            for job in deploy["jobs"].values()
            if f"secrets.{secret}" in yaml.safe_dump(job)
        )
    }
    assert set(caller["secrets"]) == used - environment_only
    assert environment_only == set()  # the cluster's secrets: promote.yml's `production` job


def test_production_is_deployed_only_by_promotion_behind_its_environment():
    """deploy.yml (a merge) deploys to kind and tags `staging`; only promote.yml reads the
    production secrets, in jobs of the `production` environment, and only its `assign` job
    (after the deploy) and deploy.yml's tagging jobs may write contents."""
    deploy, promote = load("deploy.yml"), load("promote.yml")
    assert "KUBECONFIG" not in yaml.safe_dump(deploy)
    assert set(promote["on"]) == {"workflow_dispatch", "push"}
    assert promote["on"]["push"] == {"tags": ["model#prod#*"]}
    for name, job in promote["jobs"].items():
        if "secrets.KUBECONFIG" in yaml.safe_dump(job):
            assert job["environment"] == "production", name
        writes = (job.get("permissions") or {}).get("contents") == "write"
        assert writes == (name == "assign"), name
    assert set(promote["jobs"]["assign"]["needs"]) == {"resolve", "production"}
    writers = {n for n, j in deploy["jobs"].items() if j["permissions"].get("contents") == "write"}
    assert writers == {"register", "record"}
