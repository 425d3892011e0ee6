"""The train stage writes the same model, byte for byte, whatever threads the host offers.

HistGradientBoosting's sums depend on its OpenMP thread count, so without train.threads a
4-core CI runner re-trains another model than the one dvc.lock records (and deploy's lock
check fails). Each case is its own process, as OMP_NUM_THREADS is read at start-up; one
boosting round on a small synthetic table already differs between 1, 2 and 4 threads.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, make_table

pytestmark = pytest.mark.slow  # four processes that each import scikit-learn: ~30 s of CPU


def one_cpu() -> None:
    """A small host: this process may run on one CPU only (scikit-learn counts it)."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


# name -> (OMP_NUM_THREADS or None for unset, what runs in the child before it starts)
CASES: dict[str, tuple[str | None, Callable[[], None] | None]] = {
    "OMP_NUM_THREADS=1": ("1", None),
    "OMP_NUM_THREADS=2": ("2", None),
    "OMP_NUM_THREADS=4": ("4", None),
}
if hasattr(os, "sched_setaffinity"):  # Linux
    CASES["one CPU, OMP_NUM_THREADS unset"] = (None, one_cpu)


def train_in_process(
    workdir: Path, name: str, threads: str | None, setup: Callable[[], None] | None
) -> str:
    """Run the train stage's command in a new process; the MD5 of the model it writes."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if threads is not None:
        env["OMP_NUM_THREADS"] = threads
    model = workdir / f"model {name}.skops"
    args = ["train", "--split", "split", "--model", str(model), "--params", "params.yaml"]
    result = subprocess.run(
        [sys.executable, "-m", "mlops", *args],
        cwd=workdir,
        env=env,
        preexec_fn=setup,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"{name}: train failed\n{result.stdout}\n{result.stderr}"
    return hashlib.md5(model.read_bytes()).hexdigest()


def test_same_model_bytes_whatever_the_hosts_thread_count(params, tmp_path):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    hyperparameters = raw["train"].get(params.train.estimator) or {}
    if "max_iter" in hyperparameters:  # a few rounds are enough to differ, and quick
        hyperparameters["max_iter"] = min(hyperparameters["max_iter"], 3)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    (tmp_path / "split").mkdir()
    make_table(params, rows=1000).to_parquet(tmp_path / "split" / "train.parquet")

    md5s = {name: train_in_process(tmp_path, name, *case) for name, case in CASES.items()}

    assert len(set(md5s.values())) == 1, (
        f"the model depends on the host's threads (train.threads={params.train.threads}): "
        + ", ".join(f"{name}: {md5}" for name, md5 in md5s.items())
    )
