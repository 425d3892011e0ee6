"""benchmarks/ci.py's arithmetic: job times from act's JSON log, the critical path."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("bench_ci", ROOT / "benchmarks" / "ci.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_critical_path_follows_needs_and_takes_the_longest_chain():
    jobs = {"lint": {}, "test": {}, "pipeline": {}, "comment": {"needs": "pipeline"}}
    times = {"lint": 50.0, "test": 200.0, "pipeline": 150.0, "comment": 60.0}
    assert bench.critical_path(times, jobs) == (210.0, ["pipeline", "comment"])
    times["test"] = 250.0
    assert bench.critical_path(times, jobs) == (250.0, ["test"])


def test_the_pr_workflow_graph_is_what_the_benchmark_assumes():
    jobs = bench.jobs_of(bench.WORKFLOW)
    assert bench.needs_of(jobs["comment"]) == ["pipeline"]
    assert all(not bench.needs_of(jobs[j]) for j in ("lint", "test", "pipeline"))


def test_job_times_per_job_and_matrix_entry_from_acts_json_log():
    def line(job, second, matrix=None):
        entry = {"jobID": job, "time": f"2026-11-29T13:00:{second:02d}Z", "msg": "x"}
        if matrix:
            entry["matrix"] = {"shard": matrix}
        return json.dumps(entry)

    log = "\n".join(
        [
            "not json",
            line("pipeline", 0),
            line("pipeline", 40),
            line("comment", 41),
            line("comment", 43),
            line("test", 5, "1/4"),
            line("test", 9, "1/4"),
        ]
    )
    assert bench.job_times(log) == {"pipeline": 41.0, "comment": 3.0, "test (1/4)": 5.0}
