"""`make test` runs side by side with `--dist loadgroup`: each act workflow file must stay on
one worker, or every worker builds its own pipeline run and its module fixtures (a registry
lifecycle, a drift loop) twice. pytest 9.2 with pytest-xdist 3.8 silently ignored the groups
(the whole suite then took 30 minutes instead of 20); this runs the real plugin on a tiny
suite marked the way tests/conftest.py marks ours."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SUITE = {  # marked by the repository's own hook
    "conftest.py": "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n",
    "test_one_workflow.py": "".join(
        f"def test_{i}():\n    import os, time\n    time.sleep(0.2)\n"
        f"    print('worker', os.environ['PYTEST_XDIST_WORKER'])\n"
        for i in range(6)
    ),
}


def test_each_workflow_file_runs_on_one_worker(tmp_path: Path):
    suite = tmp_path / "suite"
    suite.mkdir()
    for name, text in SUITE.items():
        (suite / name).write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-s",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "suite"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    workers = {line.split()[0] for line in done.stdout.splitlines() if "PASSED" in line}
    assert len(workers) == 1, f"one workflow file ran on {sorted(workers)}:\n{done.stdout}"
