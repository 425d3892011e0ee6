"""Run this repository's GitHub workflows for real with `act`, offline, on the host.

A temporary git repository holds a copy of the project (with a fake GitHub remote, so
`github.repository` is known); jobs run in act's self-hosted mode (`-P
ubuntu-latest=-self-hosted`), so every `make` target runs as it would on a runner. Remote
actions that need the network are replaced by the small composite actions in `stubs/`
(`--local-repository owner/name@sha=stub`); `actions/checkout` is act's own offline copy of
the repository. The `cml` shim in `shims/` records what would be posted. The runner's PATH
is a fresh machine's (no uv, act, dvc, ...): each workflow installs what it needs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.repocopy import copy_files
from tests.systempath import fresh_env

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ACT = Path(sys.executable).parent / "act"
REPOSITORY = "acme/ml-template"
# the run's GITHUB_TOKEN (github.token), unless a test passes its own: the gh shim knows it
# (GH_SHIM_JOB_TOKEN) and refuses what GitHub refuses that token by default
JOB_TOKEN = "ghs_job-token-of-the-run"
STUBS = {
    "actions/cache": "cache",
    "actions/cache/restore": "cache/restore",  # sub-actions: folders of the cache stub
    "actions/cache/save": "cache/save",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "iterative/setup-cml": "setup-cml",
    "docker/login-action": "docker-login",
    "helm/kind-action": "kind",
    "actions/upload-pages-artifact": "upload-pages-artifact",
    "actions/deploy-pages": "deploy-pages",
    "astral-sh/setup-uv": "setup-uv",
}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def copy_project(target: Path) -> Path:
    """A git repository on `main` holding the project's tracked files as they are now."""
    copy_files(target)
    git(target, "init", "-q", "-b", "main")
    git(target, "config", "user.email", "ci@example.com")
    git(target, "config", "user.name", "CI")
    git(target, "remote", "add", "origin", f"https://github.com/{REPOSITORY}.git")
    return target


def set_params(repo: Path, **changes: object) -> None:
    """Set dotted keys in the repository's params.yaml (comments are not kept)."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for dotted, value in changes.items():
        *parents, key = dotted.split(".")
        node = params
        for parent in parents:
            node = node[parent]
        node[key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


# fewer boosting rounds and a smaller importance sample: the workflows are under test
FAST_PARAMS = {
    "train.hist_gradient_boosting.max_iter": 40,
    "evaluate.importance_sample": 500,
    "evaluate.importance_repeats": 1,
    "evaluate.bootstrap": 200,  # the intervals' width does not depend on it, only their noise
}


_PIPELINE_RUN: list[tuple[Path, Path]] = []  # the session's one run, copied for each caller


def repo_with_pipeline(base: Path) -> tuple[Path, Path]:
    """A copy of the project on `main` with the pipeline run (fast params) and committed,
    as on a real main; and a copy of its DVC cache, for the `actions/cache` stub.

    The pipeline runs once per test session (minutes); every caller (the PR, monitor and
    deploy workflow tests) gets its own copy of that repository, without its .venv."""
    if not _PIPELINE_RUN:
        _PIPELINE_RUN.append(_run_pipeline(base / "pipeline-run"))
    first, first_store = _PIPELINE_RUN[0]
    repo, store = base / "repo", base / "dvc-cache"
    shutil.copytree(first, repo, symlinks=True, ignore=shutil.ignore_patterns(".venv"))
    shutil.copytree(first_store, store)
    return repo, store


def _run_pipeline(base: Path) -> tuple[Path, Path]:
    repo = copy_project(base / "repo")
    set_params(repo, **FAST_PARAMS)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    done = subprocess.run(
        ["make", "repro"], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"make repro failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main: pipeline run")
    store = base / "dvc-cache"
    shutil.copytree(repo / ".dvc" / "cache", store)
    return repo, store


def uses_of(workflow: Path) -> set[str]:
    found = set()
    for job in yaml.safe_load(workflow.read_text())["jobs"].values():
        for step in job.get("steps", []):
            if "uses" in step:
                found.add(step["uses"].split("#")[0].strip())
    return found


def local_repositories(workflow: Path) -> list[str]:
    """`--local-repository` arguments: each pinned remote action's repository -> its stub
    (`owner/name/sub@sha`, a sub-action, is the folder `sub` of owner/name's stub)."""
    args: list[str] = []
    for uses in sorted(uses_of(workflow)):
        name, _, ref = uses.partition("@")
        repository = "/".join(name.split("/")[:2])
        if name in STUBS and repository in STUBS:
            arg = f"{repository}@{ref}={HERE / 'stubs' / STUBS[repository]}"
            if arg not in args:
                args += ["--local-repository", arg]
    return args


def pull_request_event(
    number: int, head: str, labels: list[str] | None = None, fork: bool = False
) -> dict:
    head_repo = "someone/ml-template-fork" if fork else REPOSITORY
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"ref": head, "repo": {"full_name": head_repo}},
            "base": {"ref": "main", "repo": {"full_name": REPOSITORY}},
            "labels": [{"name": name} for name in labels or []],
        },
        "repository": {"full_name": REPOSITORY},
    }


def push_event(repo: Path, branch: str = "main") -> dict:
    """A `push` of ``repo``'s HEAD to ``branch``."""
    head = git(repo, "rev-parse", "HEAD").strip()
    return {
        "ref": f"refs/heads/{branch}",
        "after": head,
        "head_commit": {"id": head},
        "repository": {"full_name": REPOSITORY, "default_branch": "main"},
    }


@dataclass
class ActRun:
    returncode: int
    output: str
    comments: list[str]  # Markdown the cml shim was given, in call order
    cml_calls: list[list[str]]
    artifacts: Path

    def summary(self) -> str:
        """What the jobs wrote to their job summaries, as act echoes it."""
        return "\n".join(re.findall(r"Summary - (.*)", self.output))


def run_workflow(
    repo: Path,
    workflow: str,
    event_name: str,
    event: dict,
    work: Path,
    job: str | None = None,
    cache_store: Path | None = None,
    timeout: int = 900,
    env: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    path: list[Path] | None = None,
    workspaces: Path | None = None,
    extra_args: list[str] | None = None,
) -> ActRun:
    """Run ``workflow`` in ``repo`` for ``event`` with act; collect output, comments, artifacts.

    ``env``, ``variables`` and ``secrets`` go to act's --env, --var and --secret (with a
    GITHUB_TOKEN, JOB_TOKEN unless given, which the gh shim learns as the job's). The
    runner's PATH holds the system's programs only (tests/systempath.py); ``path`` is put in
    front of it (shims of tools a hosted runner has installed: docker, kubectl, gh).
    ``workspaces``: where act creates the jobs' workspaces [default: ~/.cache/act]; BentoML
    refuses to build a bento under a hidden folder such as .cache. ``extra_args``: more of
    act's options (benchmarks/ci.py: --json, --matrix)."""
    work.mkdir(parents=True, exist_ok=True)
    event_file = work / "event.json"
    event_file.write_text(json.dumps(event))
    shim_dir, artifacts = work / "cml", work / "artifacts"
    workflow_path = repo / ".github" / "workflows" / workflow
    command = [
        str(ACT),
        event_name,
        "-W",
        str(workflow_path),
        "-e",
        str(event_file),
        "-P",
        "ubuntu-latest=-self-hosted",
        "--env",
        f"CML_SHIM_DIR={shim_dir}",
        "--env",
        f"CML_SHIM_BIN={HERE / 'shims'}",
        "--env",
        f"ACT_ARTIFACTS={artifacts}",
        "--env",
        f"ACT_CACHE_STORE={cache_store or ''}",
        *local_repositories(workflow_path),
    ]
    secrets = {"GITHUB_TOKEN": JOB_TOKEN, **(secrets or {})}
    # ACT_CACHE_SAVED (where the cache stub saves) only when given: a workflow test running
    # inside a job of benchmarks/ci.py must not save into the benchmark's caches
    env = {"GH_SHIM_JOB_TOKEN": secrets["GITHUB_TOKEN"], "ACT_CACHE_SAVED": "", **(env or {})}
    for flag, values in (("--env", env), ("--var", variables), ("--secret", secrets)):
        for key, value in (values or {}).items():
            command += [flag, f"{key}={value}"]
    if workspaces:
        command += ["--action-cache-path", str(workspaces)]
    if job:
        command += ["-j", job]
    command += extra_args or []
    # the runner's PATH is a hosted runner's: system programs only, no uv, act, dvc or
    # other dev tool, so a workflow that forgets to install one fails here as on GitHub
    host = fresh_env(dict(os.environ), work / "runner-bin", DVC_NO_ANALYTICS="1")
    # nor this machine's PYTHONDONTWRITEBYTECODE (containers set it; a runner does not):
    # there, Python saves the modules it compiles, and later processes of the job load them
    host.pop("PYTHONDONTWRITEBYTECODE", None)
    if path:
        host["PATH"] = os.pathsep.join([*map(str, path), host["PATH"]])
    result = subprocess.run(
        command, cwd=repo, env=host, capture_output=True, text=True, timeout=timeout, check=False
    )
    calls = sorted(shim_dir.glob("call-*.args"), key=lambda p: int(p.stem.split("-")[1]))
    return ActRun(
        returncode=result.returncode,
        output=result.stdout + result.stderr,
        comments=[p.with_suffix(".md").read_text() for p in calls if p.with_suffix(".md").exists()],
        cml_calls=[p.read_text().splitlines() for p in calls],
        artifacts=artifacts,
    )
