"""Benchmark the pipeline on the default data: a full `dvc repro` from a clean state and a
no-op `dvc repro`, each against a baseline measured in the same run.

- full pipeline vs. the same four stage commands run directly (no DVC): DVC's overhead;
- no-op `dvc repro` vs. `dvc --version` (the cost of starting DVC at all).

Runs in a temporary git repository (a copy of dvc.yaml, params.yaml, src/ and the raw data),
so the workspace and its DVC cache are not touched. Writes benchmarks/results.json and prints
a table. Targets on a 2-core machine: full pipeline <= 60 s, no-op <= 2 s.

    uv run python benchmarks/pipeline.py [--repeats 3] [--out benchmarks/results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGETS_S = {"full_repro": 60.0, "noop_repro": 2.0}
ENV = {
    **os.environ,
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    "DVC_NO_ANALYTICS": "1",
}


def sh(repo: Path, *args: str) -> float:
    """Run a command in ``repo``; return its wall time in seconds (fail loudly)."""
    start = time.perf_counter()
    result = subprocess.run(args, cwd=repo, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"benchmark: `{' '.join(args)}` failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def dvc(repo: Path, *args: str) -> float:
    return sh(repo, sys.executable, "-m", "dvc", *args)


def make_repo(where: Path) -> Path:
    repo = where / "repo"
    repo.mkdir()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw = params["paths"]["raw"]
    for name in ("dvc.yaml", "params.yaml", "data.dvc"):
        shutil.copyfile(ROOT / name, repo / name)
    shutil.copytree(ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / raw, repo / raw)
    sh(repo, "git", "init", "-q")
    dvc(repo, "init", "-q")
    return repo


def stage_commands(repo: Path) -> list[list[str]]:
    """The stage commands exactly as DVC runs them (templating resolved by DVC itself)."""
    from dvc.repo import Repo

    order = list(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"])  # in DAG order
    with Repo(str(repo)) as dvc_repo:
        by_name = {getattr(s, "name", None): s for s in dvc_repo.index.stages}
        return [shlex.split(by_name[name].cmd) for name in order]


def clean(repo: Path) -> None:
    for path in ("artifacts", "models", "reports"):
        shutil.rmtree(repo / path, ignore_errors=True)


def measure(repeats: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        repo = make_repo(Path(tmp))
        commands = stage_commands(repo)
        full, direct, noop, floor = [], [], [], []
        for i in range(1, repeats + 1):
            print(f"[{i}/{repeats}] full dvc repro from a clean state ...", flush=True)
            clean(repo)
            full.append(dvc(repo, "repro", "--force", "--no-run-cache", "--quiet"))
            print(f"[{i}/{repeats}]   {full[-1]:.1f} s; no-op dvc repro ...", flush=True)
            noop.append(dvc(repo, "repro", "--quiet"))
            floor.append(dvc(repo, "--version"))
            print(f"[{i}/{repeats}] baseline: the stage commands without DVC ...", flush=True)
            clean(repo)
            start = time.perf_counter()
            for command in commands:
                sh(repo, *command)
            direct.append(time.perf_counter() - start)
    return {
        "full_repro": summarize(
            "full_repro", full, direct, "the four stage commands run directly, without DVC"
        ),
        "noop_repro": summarize("noop_repro", noop, floor, "`dvc --version` (starting DVC at all)"),
    }


def summarize(name: str, runs: list[float], baseline: list[float], what: str) -> dict:
    """Median of ``runs`` against the median of ``baseline``, and the target for ``name``."""
    median, base = statistics.median(runs), statistics.median(baseline)
    return {
        "seconds": round(median, 2),
        "runs": [round(x, 2) for x in runs],
        "baseline": what,
        "baseline_seconds": round(base, 2),
        "overhead_ratio": round(median / base, 3),
        "target_seconds": TARGETS_S[name],
        "meets_target": median <= TARGETS_S[name],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    args = parser.parse_args()
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        **measure(args.repeats),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'measure':<12} {'median s':>9} {'baseline s':>11} {'ratio':>6} {'target':>7}")
    for name in ("full_repro", "noop_repro"):
        r = results[name]
        ok = "ok" if r["meets_target"] else "MISSED"
        print(
            f"{name:<12} {r['seconds']:>9.2f} {r['baseline_seconds']:>11.2f} "
            f"{r['overhead_ratio']:>6.2f} {r['target_seconds']:>5.0f} s {ok}"
        )
    print(f"\nwritten to {args.out}")
    if not all(results[n]["meets_target"] for n in ("full_repro", "noop_repro")):
        sys.exit("benchmark: a target was missed (see above)")


if __name__ == "__main__":
    main()
