"""`dvc repro` with a record of which stages ran, which were reused, and how long each took.

DVC prints one line per stage as it goes; :func:`parse` turns those lines (with the time each
was seen) into a table the pull-request report shows, and :func:`record` adds how the run
ended: the exit code, the stage that failed and the end of the log. :func:`main` runs
`dvc repro`, passes its output through live, and writes the record as JSON
(:data:`RECORD_FILE` in ``paths.report``), whether the run succeeded or not.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RECORD_FILE = "stages.json"  # in paths.report, next to the report it feeds
LOG_TAIL = 25  # lines of the log kept in the record (shown in the report when a run failed)
_FAILED = re.compile(r"^ERROR: failed to reproduce(?: stages:)? '([^']+)'")
_PATTERNS = [
    (re.compile(r"^Running stage '([^']+)'"), "ran"),
    (re.compile(r"^Stage '([^']+)' is cached - skipping run"), "cached"),
    (re.compile(r"^Stage '([^']+)' didn't change, skipping"), "skipped"),
]


def parse(lines: list[tuple[float, str]], finished: float) -> list[dict[str, Any]]:
    """Stages in the order DVC handled them: status and, for stages that ran, seconds.

    ``lines`` are (monotonic time seen, text); a stage that ran lasts until the next stage
    line, or until ``finished``.
    """
    events: list[tuple[float, str, str]] = []
    for seen, text in lines:
        for pattern, status in _PATTERNS:
            match = pattern.match(text.strip())
            if match:
                events.append((seen, match[1], status))
                break
    stages = []
    for i, (seen, name, status) in enumerate(events):
        end = events[i + 1][0] if i + 1 < len(events) else finished
        seconds = round(end - seen, 2) if status == "ran" else None
        stages.append({"stage": name, "status": status, "seconds": seconds})
    return stages


def record(lines: list[tuple[float, str]], finished: float, exit_code: int) -> dict[str, Any]:
    """The run as the report reads it: stages, exit code, the failed stage, the log's end.

    The failed stage is the one DVC names (``failed to reproduce 'train'``), else the stage
    that was running when the run ended; None when the run failed before any stage ran.
    """
    stages = parse(lines, finished)
    failed = None
    if exit_code != 0:
        named = [m[1] for _, text in lines if (m := _FAILED.match(text.strip()))]
        running = [stages[-1]["stage"]] if stages and stages[-1]["status"] == "ran" else []
        failed = next(iter(named or running), None)
        for stage in stages:
            if stage["stage"] == failed:
                stage["status"] = "failed"
    return {
        "exit_code": exit_code,
        "failed_stage": failed,
        "stages": stages,
        "log_tail": [text.rstrip("\n") for _, text in lines[-LOG_TAIL:]],
    }


def main(out: Path, extra: list[str]) -> int:
    """Run `dvc repro` (plus ``extra`` arguments), stream its output, record the stages."""
    command = [sys.executable, "-m", "dvc", "repro", *extra]
    print(f"repro: {' '.join(['dvc', 'repro', *extra])}", flush=True)
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append((time.monotonic(), line))
    run = record(lines, time.monotonic(), process.returncode)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(run, indent=2) + "\n")
    stages = run["stages"]
    ran = sum(s["status"] == "ran" for s in stages)
    reused = sum(s["status"] in ("cached", "skipped") for s in stages)
    failed = f", failed at `{run['failed_stage']}`" if run["failed_stage"] else ""
    print(f"repro: {ran} stage(s) ran, {reused} reused{failed} -> {out}")
    return process.returncode
