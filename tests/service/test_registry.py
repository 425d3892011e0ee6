"""The model registry on real git tags: GTO run by `mlops registry ...` in a temporary
repository whose commits change the model as merges do, the tags pushed to a bare remote.

A merge registers `model@v...` and assigns `staging`; a docs-only merge registers nothing;
a params change is a patch, a data change a minor version; a promotion assigns `prod` and
`resolve` names exactly that version's commit and image; a rollback is a promotion of an
older version; a fresh clone's `gto show` lists it all. The pure rules: tests/code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlops.cli import app
from mlops.core.config import load_params
from mlops.release import registry
from tests.conftest import ROOT

GTO = Path(sys.executable).parent / "gto"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout


def write_lock(repo: Path, model_md5: str, data_md5: str, max_iter: int) -> None:
    """A dvc.lock as the pipeline writes it: the data a dep, the model an out, params."""
    p = load_params(repo / "params.yaml")
    raw, model = p.paths.raw.as_posix(), p.paths.model.as_posix()
    lock = {
        "schema": "2.0",
        "stages": {
            "validate": {"deps": [{"path": raw, "md5": data_md5}], "params": {"params.yaml": {}}},
            "train": {
                "deps": [{"path": "artifacts/split", "md5": f"split-{data_md5}"}],
                "params": {"params.yaml": {"train.max_iter": max_iter}},
                "outs": [{"path": model, "md5": model_md5}],
            },
        },
    }
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    metrics = repo / p.paths.metrics
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps({"roc_auc": 0.71, "f1": 0.42, "curve": [1, 2]}))


def merge(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A project on main (dvc.yaml, params.yaml, a dvc.lock) with a bare remote `origin`."""
    remote, repo = tmp_path / "remote.git", tmp_path / "repo"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    repo.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, repo / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "ci@example.com")
    git(repo, "config", "user.name", "CI")
    git(repo, "remote", "add", "origin", str(remote))
    monkeypatch.chdir(repo)
    for name in ("REGISTRY_PUSH_URL", "GH_TOKEN", "GITHUB_REPOSITORY", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)
    return repo


def cli(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(app, ["registry", *args])
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def remote_tags(repo: Path) -> dict[str, str]:
    return registry.read_tags(repo.parent / "remote.git")


def test_merges_register_promotion_deploys_that_version_rollback_by_name(repo, tmp_path):
    artifact = registry.artifact_name(repo / "dvc.yaml")
    assert artifact == "model"
    write_lock(repo, "a" * 32, "d" * 32, 40)
    first = merge(repo, "first model")
    assert "registers model@v0.1.0 (the first version)" in cli("plan")
    params = load_params(repo / "params.yaml")
    assert "merging registers `model@v0.1.0` (the first version)" in registry.report_line(params)
    cli("register", "--push")
    assert remote_tags(repo) == {"model@v0.1.0": first, "model#staging#1": first}
    message = git(repo, "tag", "-l", "--format=%(contents)", "model@v0.1.0")
    assert f"model MD5 (dvc.lock): {'a' * 32}" in message
    assert f"data MD5 (dvc.lock): {'d' * 32}" in message
    assert "roc_auc=0.7100" in message and f"commit: {first}" in message

    (repo / "README.md").write_text("docs only\n")
    merge(repo, "docs-only merge")
    assert "already: registers nothing" in cli("register", "--push")
    assert "is `model@v0.1.0` already: merging registers nothing" in registry.report_line(params)
    assert set(remote_tags(repo)) == {"model@v0.1.0", "model#staging#1"}

    write_lock(repo, "b" * 32, "d" * 32, 60)  # params only: a patch
    second = merge(repo, "more boosting rounds")
    assert "registers model@v0.1.1 (params or code changed)" in cli("register", "--push")
    write_lock(repo, "c" * 32, "e" * 32, 60)  # new data: a minor version
    third = merge(repo, "a later training window")
    assert "registers model@v0.2.0 (data or schema changed)" in cli("register", "--push")
    tags = remote_tags(repo)
    assert registry.stages(tags, artifact) == {"staging": "v0.2.0"}
    assert registry.registered(tags, artifact) == {
        "v0.1.0": first,
        "v0.1.1": second,
        "v0.2.0": third,
    }

    # promotion: prod is v0.1.1 (not the latest build), and resolve names its commit
    cli("promote", "--version", "v0.1.1", "--stage", "prod", "--push")
    output = tmp_path / "github-output"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_OUTPUT", str(output))
        cli("resolve", "--stage", "prod", "--image", "ghcr.io/Acme/ml")
    assert f"commit={second}" in output.read_text()
    assert f"image=ghcr.io/acme/ml:{second}" in output.read_text()
    assert "version=v0.1.1" in output.read_text()

    cli("promote", "--version", "v0.2.0", "--stage", "prod", "--push")
    assert registry.stages(remote_tags(repo), artifact)["prod"] == "v0.2.0"
    # rollback by name: the older version back in prod, one new tag
    before = set(remote_tags(repo))
    assert "is in prod" in cli("promote", "--version", "0.1.1", "--push")
    new = set(remote_tags(repo)) - before
    assert len(new) == 1 and next(iter(new)).startswith("model#prod#")
    assert registry.stages(remote_tags(repo), artifact) == {"prod": "v0.1.1", "staging": "v0.2.0"}
    assert registry.stages_now() == "model: prod v0.1.1, staging v0.2.0"  # the drift issue's
    # promoting what is there already makes no tag
    assert "in prod already" in cli("promote", "--version", "v0.1.1", "--push")
    assert set(remote_tags(repo)) == before | new

    # a fresh clone: `gto show` lists the versions and the stages (tags come with the clone)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo.parent / "remote.git"), str(clone))
    shown = subprocess.run([GTO, "show", "--json"], cwd=clone, capture_output=True, text=True)
    assert json.loads(shown.stdout)["model"]["stage"] == {"prod": "v0.1.1", "staging": "v0.2.0"}
    listed = subprocess.run([GTO, "show", "model"], cwd=clone, capture_output=True, text=True)
    assert all(v in listed.stdout for v in ("v0.1.0", "v0.1.1", "v0.2.0"))


def tag_at(repo: Path, name: str, when: int) -> None:
    """An annotated tag on HEAD whose tagger time is ``when`` (Unix seconds)."""
    env = {**os.environ, "GIT_COMMITTER_DATE": f"@{when} +0000"}
    subprocess.run(["git", "tag", "-a", name, "-m", name], cwd=repo, env=env, check=True)


def tag_times(repo: Path) -> dict[str, int]:
    out = git(repo, "for-each-ref", "refs/tags", "--format=%(refname:short) %(taggerdate:unix)")
    return {name: int(when) for name, when in (line.split() for line in out.splitlines())}


def test_a_new_assignment_is_later_than_every_earlier_one_as_gto_orders_them(repo):
    """GTO orders assignments by their tag's second, the registry by their number: a tag made
    in the second of the newest one (or before it) would make `gto show` name another
    version than the one deployed, so the assignment waits for the next second."""
    write_lock(repo, "a" * 32, "d" * 32, 40)
    merge(repo, "first model")
    cli("register")
    ahead = int(time.time()) + 2  # the newest tag is dated 2 s in this clock's future
    tag_at(repo, "model#dev#2", ahead)
    cli("promote", "--version", "v0.1.0", "--stage", "prod")
    assert tag_times(repo)["model#prod#3"] > ahead
    shown = subprocess.run([GTO, "show", "--json"], cwd=repo, capture_output=True, text=True)
    in_stage = {"dev": "v0.1.0", "prod": "v0.1.0", "staging": "v0.1.0"}
    assert json.loads(shown.stdout)["model"]["stage"] == in_stage
    assert registry.stages(registry.read_tags(repo), "model") == in_stage

    tag_at(repo, "model#dev#4", int(time.time()) + registry.MAX_CLOCK_LAG + 60)
    said = cli("promote", "--version", "v0.1.0", "--stage", "qa", ok=False)
    assert "clock is" in said and "behind model's newest tag" in said and "NTP" in said
    assert "model#qa#5" not in tag_times(repo)


def test_unknown_versions_and_empty_stages_are_refused_with_what_to_do(repo):
    write_lock(repo, "a" * 32, "d" * 32, 40)
    merge(repo, "first model")
    assert "no version of model registered yet" in cli("show")
    said = cli("promote", "--version", "v3.0.0", ok=False)
    assert "model@v3.0.0 is not registered (registered: none yet)" in said
    assert "not a version" in cli("promote", "--version", "latest", ok=False)
    said = cli("resolve", "--stage", "prod", ok=False)
    assert "no version of model is in stage 'prod'" in said and "make promote" in said
    cli("register")  # not pushed: the tags stay local
    assert remote_tags(repo) == {}
    assert "v0.1.0" in cli("show")


def test_a_failed_push_says_why_without_the_token(repo, monkeypatch):
    write_lock(repo, "a" * 32, "d" * 32, 40)
    merge(repo, "first model")
    monkeypatch.setenv("GH_TOKEN", "ghs_secret-token")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/ml")
    monkeypatch.setenv("GITHUB_SERVER_URL", "http://127.0.0.1:9")  # nothing listens
    said = cli("register", "--push", ok=False)
    assert "pushing model@v0.1.0 model#staging#1 to http://127.0.0.1:9/acme/ml.git failed" in said
    assert "contents: write" in said and "ghs_secret-token" not in said
