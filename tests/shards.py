"""Split the test suite into shards of about equal wall time, for CI's parallel jobs.

No need to edit: `make test-durations` measures the suite and rewrites tests/durations.json;
`make test-shard SHARD=2/4` runs the second of four shards (pr.yml's test matrix).

A shard is a set of units: a test file, or a single test of a file whose tests
tests/durations.json lists one by one (a file longer than a shard can hold). A shard job runs
its tests on WORKERS pytest-xdist workers, so its wall time is not the sum of its tests: a
file of an xdist group (an act workflow file, `xdist_group`) runs on one worker, its tests in
a row, and a single test cannot be shared out; everything else spreads over the workers. A
shard's modeled wall time is the time those serial chains (each group's tests, each test of
the others) take on WORKERS workers, longest first to the worker free soonest: about
max(the longest chain, the sum / WORKERS). Units go, longest first, to the shard whose
modeled wall time ends lowest (LPT), so two long chains share a shard only when nothing
shorter fits; a unit not measured yet counts as the median of the measured ones. A split
file's module fixtures (`setup_seconds`: the setup phase that ran them, which
tests/conftest.py records in the JUnit report) count once in every shard that runs some of
its tests (in its group's chain); a file that is mostly one fixture is not split.
The split is a pure function of the collected test ids and the durations, so every shard
job computes the same split, and each test is in exactly one shard
(tests/workflows/test_shards.py checks it against the collected suite).

Used as a pytest plugin: `python -m pytest -p tests.shards --shard 2/4` deselects the
tests of the other shards. As a script: `python -m tests.shards durations junit.xml...`
writes tests/durations.json from pytest's JUnit XML; `python -m tests.shards plan 4` prints
the split (of the collected suite, or of the test ids in a file) with each shard's modeled
wall time.
"""

from __future__ import annotations

import heapq
import json
import re
import statistics
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DURATIONS = ROOT / "tests" / "durations.json"
_XDIST_GROUP = re.compile(r"@[^@\[\]]+$")
# a file whose measured time is above this is listed test by test, so it can be split
SPLIT_ABOVE = 150.0
# the JUnit property tests/conftest.py gives each test: the seconds of its setup phase
SETUP_PROPERTY = "setup_seconds"
# pytest-xdist's workers in a shard job: `-n auto` on pr.yml's 2-core runner (a constant,
# not this machine's cores: every shard job must compute the same split)
WORKERS = 2


def xdist_group(path: str) -> str | None:
    """The pytest-xdist group of a test file's tests (tests/conftest.py marks them), or None:
    the tests of an act workflow file (`*_workflow.py`) run on one worker, in a row, since
    they share one pipeline run per process (tests/workflows/act.py)."""
    name = Path(path).name
    return name.removesuffix(".py") if name.endswith("_workflow.py") else None


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


def makespan(chains: list[float], workers: int = WORKERS) -> float:
    """Seconds until ``workers`` are done with these serial chains, each chain longest first
    to the worker free soonest: at least the longest chain and the sum / ``workers``."""
    ends = [0.0] * workers
    for seconds in sorted(chains, reverse=True):
        heapq.heapreplace(ends, ends[0] + seconds)
    return max(ends)


@dataclass
class Shard:
    """One shard's tests and its serial chains: one per xdist group, one per other test."""

    nodeids: list[str] = field(default_factory=list)
    files: set[str] = field(default_factory=set)
    groups: dict[str, float] = field(default_factory=dict)
    loose: list[float] = field(default_factory=list)

    def chains(self) -> list[float]:
        return [*self.groups.values(), *self.loose]

    def wall(self, workers: int = WORKERS) -> float:
        """Modeled wall time of the shard's tests on ``workers`` xdist workers."""
        return makespan(self.chains(), workers)

    def serial(self) -> float:
        """The sum of its tests' (and fixtures') seconds: its time on one worker."""
        return sum(self.chains())

    def with_unit(self, unit: str, nodeids: list[str], seconds: float, setup: float) -> Shard:
        """This shard with ``unit`` (its tests ``nodeids``, measured ``seconds``) added; the
        file's module fixtures ``setup`` count unless the shard runs that file already."""
        file = unit.split("::")[0]
        fixture = 0.0 if file in self.files else setup
        group = xdist_group(file)
        groups, loose = dict(self.groups), list(self.loose)
        if group is not None:  # one worker, in a row
            groups[group] = groups.get(group, 0.0) + fixture + seconds
        elif unit == file and len(nodeids) > 1:  # its tests spread over the workers
            loose += [seconds / len(nodeids)] * len(nodeids)
            loose[-1] += fixture
        else:  # a single test
            loose.append(fixture + seconds)
        return Shard([*self.nodeids, *nodeids], self.files | {file}, groups, loose)


def plan(
    nodeids: list[str],
    durations: dict[str, float],
    count: int,
    setup: dict[str, float] | None = None,
    workers: int = WORKERS,
) -> list[Shard]:
    """``count`` shards of ``nodeids``: each unit, longest first, to the shard whose modeled
    wall time on ``workers`` ends lowest (then the one with less work, then the first)."""
    setup = setup or {}
    units: dict[str, list[str]] = defaultdict(list)
    for nodeid in nodeids:
        units[unit_of(nodeid, durations)].append(nodeid)
    default = statistics.median(durations.values()) if durations else 1.0

    def cost(unit: str) -> float:
        return durations.get(unit, default)

    shards = [Shard() for _ in range(count)]
    for unit in sorted(units, key=lambda u: (-cost(u), u)):
        fixture = setup.get(unit.split("::")[0], 0.0)
        options = [s.with_unit(unit, units[unit], cost(unit), fixture) for s in shards]
        best = min(range(count), key=lambda i: (options[i].wall(workers), options[i].serial(), i))
        shards[best] = options[best]
    return shards


def split(
    nodeids: list[str],
    durations: dict[str, float],
    count: int,
    setup: dict[str, float] | None = None,
) -> list[list[str]]:
    """The test ids of each of ``count`` shards (see :func:`plan`)."""
    return [shard.nodeids for shard in plan(nodeids, durations, count, setup)]


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
    # under `--dist loadgroup` xdist has renamed a grouped test `<id>@<group>` by now: split
    # by the test's own id, as tests/durations.json and `plan` name it
    own = {item.nodeid: _XDIST_GROUP.sub("", item.nodeid) for item in items}
    keep = set(split(list(own.values()), load_durations(), count, load_setup())[index - 1])
    deselected = [item for item in items if own[item.nodeid] not in keep]
    items[:] = [item for item in items if own[item.nodeid] in keep]
    config.hook.pytest_deselected(items=deselected)


# --- the script: measure, plan --------------------------------------------------------------


def collected() -> list[str]:
    """The suite's test ids (pytest --collect-only; no test runs)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [line for line in done.stdout.splitlines() if "::" in line]


def durations_from_junit(paths: list[Path]) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per test file, and per test for files above SPLIT_ABOVE, from JUnit XML; and
    for those split files, the module fixtures' seconds. pytest books a module fixture to
    the test whose setup ran it: its setup phase, which tests/conftest.py records as the
    test's SETUP_PROPERTY (the longest one in the file is the fixture). A report without
    it (older): what the first test took beyond the median of the file's tests."""
    per_test: dict[str, float] = {}
    setup_phase: dict[str, float] = {}
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
            for prop in case.iter("property"):
                if prop.get("name") == SETUP_PROPERTY:
                    setup_phase[nodeid] = float(prop.get("value", 0))
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
        measured = {n: setup_phase[n] for n in tests if n in setup_phase}
        if measured:
            first = max(measured, key=measured.get)
            fixture = measured[first]
        else:
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
    if argv[:1] == ["plan"] and len(argv) in (2, 3):
        count = int(argv[1])
        nodeids = Path(argv[2]).read_text().splitlines() if len(argv) == 3 else collected()
        durations, setup = load_durations(), load_setup()
        print(f"{count} shards, {WORKERS} xdist workers each (modeled wall; serial sum)")
        for i, shard in enumerate(plan(nodeids, durations, count, setup), 1):
            print(
                f"shard {i}/{count}: {shard.wall():4.0f} s wall ({shard.serial():4.0f} s serial),"
                f" {len(shard.nodeids)} tests"
            )
            for chain in sorted(shard.groups, key=lambda g: -shard.groups[g]):
                print(f"    {shard.groups[chain]:4.0f} s in a row: {chain}")
            for file in sorted(f for f in shard.files if xdist_group(f) is None):
                print(f"    {file}")
        return 0
    print(
        "usage: python -m tests.shards durations JUNIT.xml... | plan N [NODEIDS.txt]",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
