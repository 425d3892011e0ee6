"""`dvc repro` with a record of which stages ran, which were reused, and how long each took.

DVC prints one line per stage as it goes; :func:`parse` turns those lines (with the time each
was seen) into a table the pull-request report shows. :func:`main` runs `dvc repro`, passes
its output through live, and writes the table as JSON.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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
    stages = parse(lines, time.monotonic())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(stages, indent=2) + "\n")
    ran = sum(s["status"] == "ran" for s in stages)
    print(f"repro: {ran} stage(s) ran, {len(stages) - ran} reused -> {out}")
    return process.returncode
