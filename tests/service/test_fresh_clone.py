"""`make bento` and `make smoke` in a fresh clone on a new machine's PATH (no uv, dvc,
bentoml or pytest installed: the Makefile bootstraps uv, the locked .venv and the data),
as a newcomer and deploy.yml run them. BentoML's build calls `uv` from PATH; this is the
test that fails when nothing provides one."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.repocopy import copy_repo, git
from tests.service.closure import import_closure
from tests.systempath import fresh_env

pytestmark = pytest.mark.slow


def make(target: str, repo, env) -> str:
    done = subprocess.run(
        ["make", target], cwd=repo, env=env, capture_output=True, text=True, timeout=1200
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"make {target} failed in a fresh clone:\n{output[-5000:]}"
    return output


def test_make_bento_and_smoke_in_a_fresh_clone(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    env = fresh_env(
        dict(os.environ),
        tmp_path / "system-bin",
        BENTOML_HOME=str(tmp_path / "bentoml"),  # not the user's ~/bentoml
        MLOPS_PREDICTION_LOG=str(tmp_path / "predictions.jsonl"),
    )
    built = make("bento", repo, env)
    assert "uv not found: installing it into .tools/" in built  # nothing was on PATH
    assert "service: built bento" in built
    # the clone reproduces exactly what dvc.lock records: nothing to commit after the build
    assert git(repo, "status", "--porcelain", "--", "dvc.lock") == ""
    # the bento ships the service's code and what it imports, nothing else
    (bento,) = (tmp_path / "bentoml" / "bentos").glob("*/*/src")
    shipped = {f.relative_to(bento) for f in (bento / "mlops").rglob("*") if f.is_file()}
    assert shipped == import_closure(repo / "src"), sorted(map(str, shipped))
    smoke = make("smoke", repo, env)
    for check in ("GET /readyz -> 200", "POST /predict -> 200", "bad input -> 400"):
        assert f"ok  {check}" in smoke, smoke[-3000:]
