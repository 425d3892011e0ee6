"""Time the pull-request workflow (.github/workflows/pr.yml) job by job, as a reviewer waits.

GitHub gives every job its own runner, so a run takes as long as its critical path: the
longest chain of the `needs` graph, each job counted at its own time (a matrix job at its
slowest shard). Each job runs here on its own through the act harness (tests/workflows/
act.py: the real `make` targets on the host, a fresh runner's PATH, stubs for the
network-bound actions), one at a time, on a realistic PR: main has the pipeline run and
committed (default params); the PR edits the training code (a comment), so training and
evaluation run again and every test still passes (a PR that changed the model would fail
the default data's model tests, and a failing test ends sooner than a passing one).

- warm: the caches a PR finds on GitHub: uv's and pip's (the host's, as setup-uv's cache
  keyed on uv.lock), npm's, and main's DVC cache (run-cache included);
- cold: empty uv, pip and npm caches and no DVC cache (a repository's first PR);
- label: the `labeled` event for the override label (restores the PR's saved DVC cache),
  and one for another label (does nothing).

Not measured: GitHub's queue and runner start-up (seconds per job), actions' downloads.
Writes benchmarks/ci.json (critical paths warm and cold, the slowest job, every job's time,
the load average before and after) and prints a table. Targets: warm <= 300 s, cold <= 480 s.

    uv run python benchmarks/ci.py [--caches warm cold label] [--out benchmarks/ci.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.workflows.act import (  # noqa: E402
    copy_project,
    git,
    pull_request_event,
    run_workflow,
)

WORKFLOW = ROOT / ".github" / "workflows" / "pr.yml"
TARGETS = {"warm": 300.0, "cold": 480.0}
PR_FILE = "src/mlops/pipeline/train.py"  # a `train` dependency in dvc.yaml
PR_EDIT = "\n\n# Reviewed: the split is by time, so no row of the future reaches training.\n"
PR_BRANCH = "refactor-training"
OVERRIDE_LABEL = "gate-override"


def jobs_of(workflow: Path) -> dict[str, dict]:
    return yaml.safe_load(workflow.read_text())["jobs"]


def needs_of(job: dict) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def critical_path(times: dict[str, float], jobs: dict[str, dict]) -> tuple[float, list[str]]:
    """The longest chain of `needs` (seconds, job ids); a job that did not run counts 0."""
    finish: dict[str, tuple[float, list[str]]] = {}

    def done(job: str) -> tuple[float, list[str]]:
        if job not in finish:
            before = max((done(n) for n in needs_of(jobs[job])), default=(0.0, []))
            finish[job] = (before[0] + times.get(job, 0.0), [*before[1], job])
        return finish[job]

    return max((done(job) for job in jobs), key=lambda f: f[0])


def job_times(output: str) -> dict[str, float]:
    """Seconds per job (and matrix entry) from act's --json log: first to last line + 1 s
    (act stamps whole seconds)."""
    spans: dict[str, list[float]] = {}
    for line in output.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or "jobID" not in entry or "time" not in entry:
            continue
        key = entry["jobID"]
        if entry.get("matrix"):
            key += " (" + ", ".join(str(v) for v in entry["matrix"].values()) + ")"
        stamp = datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()
        span = spans.setdefault(key, [stamp, stamp])
        span[0], span[1] = min(span[0], stamp), max(span[1], stamp)
    return {key: round(end - start + 1, 1) for key, (start, end) in spans.items()}


def failed(output: str) -> bool:
    return "Job failed" in output


def make_repos(base: Path) -> tuple[Path, Path]:
    """(repo on the PR branch, main's DVC cache): main has the pipeline run with the default
    params and committed; the PR branch changes a param."""
    repo = copy_project(base / "repo")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    done = subprocess.run(["make", "repro"], cwd=repo, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"make repro failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    shutil.rmtree(repo / ".venv")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main: pipeline run")
    store = base / "dvc-cache-main"
    shutil.copytree(repo / ".dvc" / "cache", store)
    shutil.rmtree(repo / ".dvc" / "cache")
    git(repo, "checkout", "-q", "-b", PR_BRANCH)
    code = repo / PR_FILE
    code.write_text(code.read_text() + PR_EDIT)
    # as a PR author does: repro, commit the code and dvc.lock (a stale lock fails the tests)
    done = subprocess.run(["make", "repro"], cwd=repo, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"make repro failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    shutil.rmtree(repo / ".venv")
    shutil.rmtree(repo / ".dvc" / "cache")
    git(repo, "commit", "-qam", "PR: a comment in the training code")
    return repo, store


def run_job(
    repo: Path,
    work: Path,
    job: str,
    event: dict,
    cache_store: Path | None,
    env: dict[str, str],
    matrix: str | None = None,
) -> tuple[dict[str, float], float, bool]:
    extra = ["--json", "--concurrent-jobs", "1"]
    if matrix:
        extra += ["--matrix", matrix]
    start = time.monotonic()
    run = run_workflow(
        repo,
        WORKFLOW.name,
        "pull_request",
        event,
        work,
        job=job,
        cache_store=cache_store,
        timeout=3600,
        env=env,
        extra_args=extra,
    )
    wall = time.monotonic() - start
    logs = ROOT / "build" / "bench-ci"  # act's JSON log of each run, step by step
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"{work.name}.log").write_text(run.output)
    return job_times(run.output), round(wall, 1), run.returncode != 0 or failed(run.output)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _cache_env(kind: str, base: Path) -> dict[str, str]:
    """Where act saves caches; for a cold run, private (emptied) uv, pip and npm caches."""
    env = {"ACT_CACHE_SAVED": str(base / f"saved-{kind}")}
    if kind == "cold":
        for var, name in (("UV_CACHE_DIR", "uv"), ("PIP_CACHE_DIR", "pip")):
            env[var] = str(base / f"cold-{name}")
        env["npm_config_cache"] = str(base / "cold-npm")
    return env


def _shards(job: dict) -> list[str]:
    return (job.get("strategy") or {}).get("matrix", {}).get("shard") or []


def _runs(
    jobs: dict, only: list[str], entries: dict, shard_filter: list[str] | None
) -> list[tuple[str, str | None]]:
    """The (job, matrix) runs to time; drops the entries they will replace from ``entries``."""
    runs: list[tuple[str, str | None]] = []
    for job_id, job in jobs.items():
        if any(job_id in needs_of(other) for other in jobs.values()):
            continue  # timed with the job that needs it (act runs the `needs` first)
        if only and job_id not in only:
            continue
        shards = [s for s in _shards(job) if not shard_filter or s in shard_filter]
        runs += [(job_id, f"shard:{s}") for s in shards] if shards else [(job_id, None)]
        if not shard_filter:  # re-measured now (a matrix may have changed its shards)
            for key in [k for k in entries if k.split(" (")[0] == job_id]:
                del entries[key]
    return runs


def _time_runs(kind: str, runs: list, repo: Path, store: Path, base: Path, entries: dict) -> None:
    """Run each job alone through act and record its time in ``entries``."""
    env = _cache_env(kind, base)
    event = pull_request_event(7, PR_BRANCH)
    for job_id, matrix in runs:
        if kind == "cold":  # every job starts from empty caches, as on a first PR
            for name in ("uv", "pip", "npm"):
                shutil.rmtree(base / f"cold-{name}", ignore_errors=True)
        work = base / f"{kind}-{job_id}-{(matrix or '').replace('/', '-').replace(':', '-')}"
        print(f"[{kind}] {job_id} {matrix or ''} (load {load()}) ...", flush=True)
        measured, wall, bad = run_job(
            repo, work, job_id, event, store if kind == "warm" else None, env, matrix
        )
        for key, seconds in measured.items():
            entries[key] = {"seconds": seconds, "act_wall_seconds": wall, "failed": bad}
            entries[key]["load_after"] = load()
            print(f"    {key}: {seconds:.0f} s{' (FAILED)' if bad else ''}", flush=True)


def _summary(kind: str, jobs: dict, entries: dict) -> dict:
    """The critical path over the measured jobs (a matrix job: its slowest entry), and which
    jobs are still unmeasured (the path is a lower bound until there are none)."""
    times: dict[str, float] = {}
    for key, entry in entries.items():
        job_id = key.split(" (")[0]
        times[job_id] = max(times.get(job_id, 0.0), entry.get("seconds", 0.0))
    seconds, path = critical_path(times, jobs)
    unmeasured = [job for job in jobs if job not in times]
    for job_id, job in jobs.items():  # a matrix job counts only with all its entries
        unmeasured += [f"{job_id} ({s})" for s in _shards(job) if f"{job_id} ({s})" not in entries]
    return {
        "critical_path_seconds": round(seconds, 1),
        "critical_path": path,
        "unmeasured_jobs": unmeasured,  # not in the path above: a lower bound until empty
        "target_seconds": TARGETS[kind],
        "meets_target": None if unmeasured else seconds <= TARGETS[kind],
        "slowest_job": max(entries, key=lambda k: entries[k].get("seconds", 0.0)),
        "jobs": entries,
        "all_jobs_passed": not any(e.get("failed") for e in entries.values()),
    }


def measure(
    kind: str,
    repo: Path,
    store: Path,
    base: Path,
    only: list[str],
    before: dict,
    shard_filter: list[str] | None = None,
) -> dict:
    """Every job of a full PR run, one at a time, with warm or cold caches. ``only``: time
    just these jobs (their ids), keeping the other jobs' times from ``before`` (the last
    ci.json), e.g. after changing one job."""
    jobs = jobs_of(WORKFLOW)
    entries: dict[str, dict] = dict(before.get("jobs") or {}) if only else {}
    runs = _runs(jobs, only, entries, shard_filter)
    _time_runs(kind, runs, repo, store, base, entries)
    return _summary(kind, jobs, entries)


def measure_labels(repo: Path, base: Path) -> dict:
    """A label event for the override label (the PR's cache saved by the warm run) and one
    for another label: the whole run, every job that is not skipped."""
    # the warm pipeline job's, the last to save (by the cache key's name: any order)
    saved = sorted((base / "saved-warm").glob("dvc-*"), key=lambda p: p.stat().st_mtime)
    store = saved[-1] if saved else None
    results = {}
    for label in (OVERRIDE_LABEL, "documentation"):
        event = pull_request_event(7, PR_BRANCH, labels=[label])
        event["action"] = "labeled"
        event["label"] = {"name": label}
        work = base / f"label-{label}"
        print(f"[label] {label} (load {load()}) ...", flush=True)
        measured, wall, bad = run_job(repo, work, "comment", event, store, {})
        seconds, path = critical_path(measured, jobs_of(WORKFLOW))
        results[label] = {
            "critical_path_seconds": round(seconds, 1),
            "critical_path": path,
            "wall_seconds": wall,
            "jobs": measured,
            "failed": bad,
            "cache": "the PR's DVC cache, saved by the warm run" if store else "none",
            "load_after": load(),
        }
        print(f"    {label}: {seconds:.0f} s ({measured})", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caches", nargs="+", default=["warm", "label", "cold"])
    parser.add_argument("--shards", nargs="+", default=[], help="only these shards, e.g. 3/6")
    parser.add_argument(
        "--only", nargs="+", default=[], help="time only these jobs (and what they need)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "ci.json")
    args = parser.parse_args()
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": load(),
        },
        "what": "each job of pr.yml alone through the act harness (tests/workflows/act.py), "
        "one at a time; critical path from the `needs` graph; a PR that edits "
        f"{PR_FILE} (train and evaluate run again, the model stays the same)",
    }
    result = {**previous, **result}
    with tempfile.TemporaryDirectory(prefix="bench-ci-") as tmp:
        base = Path(tmp)
        repo, store = make_repos(base)
        for kind in args.caches:
            if kind == "label":
                result["label_event"] = measure_labels(repo, base)
            else:
                before = previous.get(kind) or {}
                result[kind] = measure(kind, repo, store, base, args.only, before, args.shards)
            result["machine"]["load_average_after"] = load()
            # another bench-ci may have written meanwhile: keep its kinds
            latest = json.loads(args.out.read_text()) if args.out.exists() else {}
            kept = {k: v for k, v in latest.items() if k in ("warm", "cold", "label_event")}
            done = "label_event" if kind == "label" else kind
            result = {**result, **{k: v for k, v in kept.items() if k != done}}
            args.out.write_text(json.dumps(result, indent=2) + "\n")
    _print_summary(result, args.out)
    return 0


def _print_summary(result: dict, out: Path) -> None:
    for kind in ("warm", "cold"):
        if kind in result:
            r = result[kind]
            print(
                f"{kind}: critical path {r['critical_path_seconds']:.0f} s "
                f"({' -> '.join(r['critical_path'])}), target {r['target_seconds']:.0f} s, "
                f"slowest job {r['slowest_job']}"
            )
    print(
        f"load average before {result['machine']['load_average_before']}, after "
        f"{result['machine']['load_average_after']}; wrote {out}"
    )


if __name__ == "__main__":
    sys.exit(main())
