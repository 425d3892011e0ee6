"""The registry's lifecycle for the act tests: a repository on `main`, its bare remote (the
registry's tags pushed there, as `git push` to GitHub), the fake cluster (fakecluster.py:
pushed images and the production cluster kept across runs), and each run by name.

A step is either a real act run of a workflow (`run`, `merge`, `promote`: each on a new
runner, the remote's tags fetched back afterwards, as `actions/checkout` with
`fetch-depth: 0` sees them next time) or, to set up what earlier merges left behind without
a deploy run each, the same `make` targets deploy.yml's jobs run, on the host with the same
shims (`release`: `make bento`, `docker login`, `make push`, `make register PUSH=1`).
Used by test_register_workflow.py (merges) and test_promote_workflow.py (promotion and
rollback).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from mlops.release import registry
from tests.workflows.act import (
    HERE,
    REPOSITORY,
    ActRun,
    git,
    push_event,
    repo_with_pipeline,
    run_workflow,
)

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
        self.made: dict[str, str] = {}  # what each host-side `release` printed

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
        self.fetch_tags()
        return run

    def commit(self, name: str, message: str) -> str:
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-qm", message)
        self.shas[name] = git(self.repo, "rev-parse", "HEAD").strip()
        return self.shas[name]

    def merge(self, name: str) -> ActRun:
        """HEAD merged to main: test.yml calls deploy.yml (build, kind, register, record)."""
        self.shas[name] = git(self.repo, "rev-parse", "HEAD").strip()
        return self.run(name, "deploy.yml", "workflow_call", push_event(self.repo))

    def release(self, name: str) -> str:
        """What deploy.yml's jobs leave behind for HEAD, made by the targets they run, on the
        host: the bento (`make bento`), its image pushed after `docker login` (`make push`),
        the model registered and `staging` assigned, tags pushed (`make register PUSH=1`).
        Not the kind deploy, nor the GitHub release: a promotion reads neither."""
        self.shas[name] = git(self.repo, "rev-parse", "HEAD").strip()
        login = self.host(name, "docker", "login", "ghcr.io", "--username", "acme",
                          "--password-stdin", stdin="ghp_push-token")  # fmt: skip
        self.made[name] = "".join(
            [
                self.host(name, "make", "bento"),
                login,
                self.host(name, "make", "push", IMAGE=IMAGE),
                self.host(name, "make", "register", PUSH="1"),
            ]
        )
        self.fetch_tags()
        return self.made[name]

    def host(self, name: str, *command: str, stdin: str | None = None, **env: str) -> str:
        """``command`` in the repository, with the run's environment and the shims on PATH
        (docker: the fake cluster's registry); its output (fails on exit != 0)."""
        host = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        host.update(self.env(name), **env)
        host["PATH"] = os.pathsep.join([str(HERE / "shims"), host["PATH"]])
        done = subprocess.run(
            command, cwd=self.repo, env=host, input=stdin, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{name}: {' '.join(command)}: {output[-4000:]}"
        return output

    def promote(self, name: str, event_name: str, event: dict) -> ActRun:
        return self.run(
            name, "promote.yml", event_name, event,
            variables={"DEPLOY_TARGET": "kubernetes"},
            secrets={"KUBECONFIG": KUBECONFIG, "GHCR_PULL_TOKEN": "ghp_pull-token"},
        )  # fmt: skip

    def fetch_tags(self) -> None:
        git(self.repo, "fetch", "-q", str(self.remote), "+refs/tags/*:refs/tags/*")

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
