"""Split the test suite into shards of about equal measured time, for CI's parallel jobs.

No need to edit: `make test-durations` measures the suite and rewrites tests/durations.json;
`make test-shard SHARD=2/4` runs the second of four shards (pr.yml's test matrix).

A shard is a set of units: a test file, or a single test of a file whose tests
tests/durations.json lists one by one (a file longer than a shard can hold). Units go,
longest first, to the shard where they end soonest (LPT); a unit not measured yet counts as
the median of the measured ones. A split file's module fixtures (`setup_seconds`: what its
first test took beyond the others) count once in every shard that runs some of its tests; a
file that is mostly one fixture is not split.
The split is a pure function of the collected test ids and the durations, so every shard
job computes the same split, and each test is in exactly one shard
(tests/workflows/test_shards.py checks it against the collected suite).

Used as a pytest plugin: `python -m pytest -p tests.shards --shard 2/4` deselects the
tests of the other shards. As a script: `python -m tests.shards durations junit.xml...`
writes tests/durations.json from pytest's JUnit XML; `python -m tests.shards plan 4` prints
the split with each shard's measured time.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DURATIONS = ROOT / "tests" / "durations.json"
_XDIST_GROUP = re.compile(r"@[^@\[\]]+$")
# a file whose measured time is above this is listed test by test, so it can be split
SPLIT_ABOVE = 150.0


def parse_shard(spec: str) -> tuple[int, int]:
    """'2/4' -> (2, 4); 1-based."""
    try:
        index, count = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ValueError(f"--shard wants I/N (e.g. 2/4), not {spec!r}") from None
    if not 1 <= index <= count:
        raise ValueError(f"--shard {spec}: I must be between 1 and N")
    return index, count


def load_durations(path: Path = DURATIONS) -> dict[str, float]:
    return json.loads(path.read_text())["seconds"] if path.exists() else {}


def load_setup(path: Path = DURATIONS) -> dict[str, float]:
    return json.loads(path.read_text()).get("setup_seconds", {}) if path.exists() else {}


def unit_of(nodeid: str, durations: dict[str, float]) -> str:
    """The test's own id when it is measured on its own, else its file."""
    return nodeid if nodeid in durations else nodeid.split("::")[0]


def split(
    nodeids: list[str],
    durations: dict[str, float],
    count: int,
    setup: dict[str, float] | None = None,
) -> list[list[str]]:
    """The test ids of each of ``count`` shards (longest unit first, where it ends soonest)."""
    setup = setup or {}
    units: dict[str, list[str]] = defaultdict(list)
    for nodeid in nodeids:
        units[unit_of(nodeid, durations)].append(nodeid)
    default = statistics.median(durations.values()) if durations else 1.0

    def cost(unit: str) -> float:
        return durations.get(unit, default)

    shards: list[list[str]] = [[] for _ in range(count)]
    totals = [0.0] * count
    files: list[set[str]] = [set() for _ in range(count)]
    for unit in sorted(units, key=lambda u: (-cost(u), u)):
        file = unit.split("::")[0]

        def ends(i: int, unit: str = unit, file: str = file) -> float:
            fixture = setup.get(file, 0.0) if file not in files[i] else 0.0
            return totals[i] + cost(unit) + fixture

        best = min(range(count), key=lambda i: (ends(i), i))
        totals[best] = ends(best)
        shards[best] += units[unit]
        files[best].add(file)
    return shards


def estimate(nodeids: list[str], durations: dict[str, float]) -> float:
    """Measured seconds of these tests (a test not measured alone: its file's share)."""
    seconds = 0.0
    for unit in {unit_of(n, durations) for n in nodeids}:
        seconds += durations.get(unit, 0.0)
    return seconds


# --- the pytest plugin ----------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shard",
        metavar="I/N",
        help="run only shard I of N (split by tests/durations.json; see tests/shards.py)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    spec = config.getoption("shard")
    if not spec:
        return
    try:
        index, count = parse_shard(spec)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    nodeids = [item.nodeid for item in items]
    keep = set(split(nodeids, load_durations(), count, load_setup())[index - 1])
    deselected = [item for item in items if item.nodeid not in keep]
    items[:] = [item for item in items if item.nodeid in keep]
    config.hook.pytest_deselected(items=deselected)


# --- the script: measure, plan --------------------------------------------------------------


def durations_from_junit(paths: list[Path]) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per test file, and per test for files above SPLIT_ABOVE, from JUnit XML; and
    for those split files, the module fixtures' seconds (pytest books them to the first test
    that uses them: what it took beyond the median of the file's tests)."""
    per_test: dict[str, float] = {}
    for path in paths:
        for case in ET.parse(path).getroot().iter("testcase"):
            module = case.get("classname", "")
            # pytest-xdist's loadgroup names a grouped test `test_x@group` in its reports
            name = _XDIST_GROUP.sub("", case.get("name", ""))
            # classname is the dotted module (and class); the file is the module's path
            parts = module.split(".")
            classes = []
            while parts and not (ROOT / Path(*parts)).with_suffix(".py").exists():
                classes.insert(0, parts.pop())
            if not parts:
                continue
            file = Path(*parts).with_suffix(".py").as_posix()
            nodeid = "::".join([file, *classes, name])
            per_test[nodeid] = per_test.get(nodeid, 0.0) + float(case.get("time", 0))
    per_file: dict[str, float] = defaultdict(float)
    for nodeid, seconds in per_test.items():
        per_file[nodeid.split("::")[0]] += seconds
    out: dict[str, float] = {}
    setup: dict[str, float] = {}
    for file, seconds in sorted(per_file.items()):
        if seconds <= SPLIT_ABOVE:
            out[file] = round(seconds, 2)
            continue
        tests = {n: s for n, s in per_test.items() if n.split("::")[0] == file}
        first = next(iter(tests))  # JUnit lists tests in the order they ran
        fixture = max(0.0, tests[first] - statistics.median(tests.values()))
        if len(tests) == 1 or 2 * fixture > seconds:
            # mostly one shared fixture (a workflow run the tests look at): keep it whole
            out[file] = round(seconds, 2)
            continue
        tests[first] -= fixture
        setup[file] = round(fixture, 2)
        out.update({n: round(s, 2) for n, s in tests.items()})
    return out, setup


def main(argv: list[str]) -> int:
    if argv[:1] == ["durations"] and len(argv) > 1:
        seconds, setup = durations_from_junit([Path(p) for p in argv[1:]])
        record = {
            "about": "measured seconds per test file (per test above "
            f"{SPLIT_ABOVE:.0f} s, and their files' module fixtures); "
            "`make test-durations` rewrites it",
            "total_seconds": round(sum(seconds.values()) + sum(setup.values()), 1),
            "seconds": seconds,
            "setup_seconds": setup,
        }
        DURATIONS.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {DURATIONS.relative_to(ROOT)}: {record['total_seconds']} s measured")
        return 0
    if argv[:1] == ["plan"] and len(argv) == 3:
        count = int(argv[1])
        nodeids = Path(argv[2]).read_text().split()
        durations, setup = load_durations(), load_setup()
        for i, shard in enumerate(split(nodeids, durations, count, setup), 1):
            files = sorted({n.split("::")[0] for n in shard})
            seconds = estimate(shard, durations) + sum(setup.get(f, 0.0) for f in files)
            print(f"shard {i}/{count}: {seconds:6.0f} s, {len(shard)} tests")
            for file in files:
                print(f"    {file}")
        return 0
    print(
        "usage: python -m tests.shards durations JUNIT.xml... | plan N NODEIDS.txt",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
