"""`mlops service lock-check`'s git half: a dvc.lock that differs from the commit fails it,
staged or not (`dvc repro` stages it: core.autostage is on)."""

from __future__ import annotations

from mlops.release.lock import lock_committed
from tests.repocopy import git


def test_a_changed_lock_is_not_committed_even_when_staged(tmp_path):
    lock = tmp_path / "dvc.lock"
    lock.write_text("schema: '2.0'\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "dvc.lock")
    git(tmp_path, "commit", "-q", "-m", "lock")
    assert lock_committed(lock, cwd=tmp_path)
    lock.write_text("schema: '2.0'\nstages: {}\n")
    assert not lock_committed(lock, cwd=tmp_path)
    git(tmp_path, "add", "dvc.lock")  # what dvc's autostage does after `dvc repro`
    assert not lock_committed(lock, cwd=tmp_path)
