"""Nothing is dropped by the split: pr.yml's test shards run every collected test once.

The suite is collected once (`pytest --collect-only`, no test runs); the shards pr.yml's
matrix names are computed with the split `make test-shard` uses; their union must be the
suite, with no test in two shards. Then one shard is collected through the plugin itself,
as the job runs it, to show the plugin selects exactly that shard.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests import shards

ROOT = Path(__file__).resolve().parents[2]
PR = ROOT / ".github" / "workflows" / "pr.yml"


def collect(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return [line for line in done.stdout.splitlines() if "::" in line]


@pytest.fixture(scope="module")
def suite() -> list[str]:
    nodeids = collect()
    assert len(nodeids) > 100
    return nodeids


def matrix_shards() -> list[str]:
    job = yaml.safe_load(PR.read_text())["jobs"]["test"]
    return [str(s) for s in job["strategy"]["matrix"]["shard"]]


def test_the_test_job_is_a_matrix_of_all_shards_of_one_split():
    specs = matrix_shards()
    counts = {shards.parse_shard(s)[1] for s in specs}
    assert len(counts) == 1, specs
    (count,) = counts
    assert sorted(shards.parse_shard(s)[0] for s in specs) == list(range(1, count + 1))
    job = yaml.safe_load(PR.read_text())["jobs"]["test"]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert "make test-shard SHARD=${{ matrix.shard }}" in runs


def test_shards_run_every_test_exactly_once(suite):
    specs = matrix_shards()
    count = shards.parse_shard(specs[0])[1]
    split = shards.split(suite, shards.load_durations(), count, shards.load_setup())
    seen = [nodeid for shard in split for nodeid in shard]
    assert len(seen) == len(set(seen)), "a test is in two shards"
    assert sorted(seen) == sorted(suite)
    assert all(split), "an empty shard"
    files = {n.split("::")[0] for n in suite}
    assert files == {n.split("::")[0] for shard in split for n in shard}


def test_the_plugin_selects_exactly_its_shard(suite):
    """On a part of the suite (one collection of the whole suite is enough for this file)."""
    part = [n for n in suite if n.startswith(("tests/data/", "tests/model/"))]
    expected = shards.split(part, shards.load_durations(), 2, shards.load_setup())[1]
    selected = collect("tests/data", "tests/model", "-p", "tests.shards", "--shard", "2/2")
    assert selected and sorted(selected) == sorted(expected)


class _Item:
    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid


class _Config:
    def __init__(self, shard: str) -> None:
        self.shard = shard
        self.hook = self
        self.deselected: list[_Item] = []

    def getoption(self, name: str) -> str:
        assert name == "shard"
        return self.shard

    def pytest_deselected(self, items: list[_Item]) -> None:
        self.deselected += items


def test_the_plugin_splits_by_the_ids_before_xdist_renamed_them(suite):
    """Under `--dist loadgroup` (the shard job's) xdist renames a grouped test
    `<id>@<group>` before the plugin sees it. The split must still be the one `plan` prints:
    else the tests of a file listed one by one in tests/durations.json fall back to one unit
    of the whole file (measured: all seven monitor workflow tests in one shard, 492 s)."""
    count = shards.parse_shard(matrix_shards()[0])[1]
    expected = shards.split(suite, shards.load_durations(), count, shards.load_setup())
    renamed = {}
    for nodeid in suite:
        group = shards.xdist_group(nodeid.split("::")[0])
        renamed[f"{nodeid}@{group}" if group else nodeid] = nodeid
    assert any("@" in n for n in renamed) and any(
        shards.unit_of(n, shards.load_durations()) == n
        for n in renamed.values()
        if "_workflow" in n
    )  # the suite has grouped tests listed one by one: the case that went wrong
    for index in range(1, count + 1):
        items = [_Item(n) for n in renamed]
        config = _Config(f"{index}/{count}")
        shards.pytest_collection_modifyitems(config, items)  # type: ignore[arg-type]
        assert sorted(renamed[i.nodeid] for i in items) == sorted(expected[index - 1])
        assert len(items) + len(config.deselected) == len(suite)


def test_every_measured_unit_still_exists(suite):
    """A renamed or deleted test file leaves a stale entry: `make test-durations` again."""
    units = set(suite) | {n.split("::")[0] for n in suite}
    stale = set(shards.load_durations()) - units
    assert not stale, f"tests/durations.json names tests that are gone: {sorted(stale)[:5]}"


def test_the_split_is_balanced_and_a_new_file_lands_somewhere():
    durations = {"a.py": 100.0, "b.py": 60.0, "c.py": 50.0, "d.py": 10.0}
    nodeids = [f"{f}::t" for f in durations] + ["new.py::t"]
    a, b = shards.split(nodeids, durations, 2)
    assert sorted(a + b) == sorted(nodeids)
    # new.py counts as the median (55 s); on two workers: a | c (100 s), b | new + d (65 s)
    assert sorted(a) == ["a.py::t", "c.py::t"]
    assert sorted(b) == ["b.py::t", "d.py::t", "new.py::t"]


def test_a_shards_wall_time_is_its_serial_chains_on_the_workers():
    """An xdist group's tests run in a row (with its fixture once), a single test is not
    shared out, a file's tests spread over both workers."""

    def wall(durations, setup=None):
        [shard] = shards.plan(list(durations), durations, 1, setup)
        return shard.wall(workers=2)

    assert wall({"tests/x_workflow.py::a": 100.0, "tests/x_workflow.py::b": 100.0}) == 200
    assert wall({"tests/x_workflow.py::a": 100.0}, {"tests/x_workflow.py": 50.0}) == 150
    assert wall({"tests/y.py::a": 100.0, "tests/y.py::b": 100.0}) == 100
    assert wall({"tests/fork.py::a": 130.0, "tests/z.py::b": 20.0}) == 130
    [shard] = shards.plan([f"tests/z.py::t{i}" for i in range(10)], {"tests/z.py": 100.0}, 1)
    assert shard.wall(workers=2) == 50 and shard.serial() == 100
    assert shards.makespan([60, 50, 40, 30], workers=2) == 90  # 60+30 | 50+40


def test_long_serial_chains_do_not_pile_up_on_one_shard():
    """Three act workflow files of 150 s each and a 400 s file of many small tests, two
    shards. By the sum of seconds the 400 s file fills one shard and the three workflow
    files the other (450 s serial: 300 s on two workers, a group left waiting for one);
    on two workers the file takes 200 s, so the third group fits beside it (280 s: the
    group and 13 of the file's tests | the other 27)."""
    many = [f"tests/d.py::t{i}" for i in range(40)]
    groups = [f"tests/{n}_workflow.py::t" for n in ("x", "y", "z")]
    durations = {"tests/d.py": 400.0, **{g.split("::")[0]: 150.0 for g in groups}}
    planned = shards.plan(many + groups, durations, 2)
    assert max(s.wall() for s in planned) == 280
    assert all(len(s.groups) < 3 for s in planned), [sorted(s.groups) for s in planned]
    assert sorted(n for s in planned for n in s.nodeids) == sorted(many + groups)


def test_plan_prints_each_shards_modeled_wall_time(tmp_path, capsys):
    """`python -m tests.shards plan N FILE`: one test id a line (ids may hold spaces)."""
    ids = tmp_path / "ids.txt"
    ids.write_text("tests/x.py::t[a b]\ntests/x.py::t[c d]\ntests/y_workflow.py::t\n")
    assert shards.main(["plan", "1", str(ids)]) == 0
    out = capsys.readouterr().out
    assert "shard 1/1:" in out and ", 3 tests" in out
    assert "in a row: y_workflow" in out and "    tests/x.py" in out


def test_a_split_files_fixture_counts_in_each_shard_that_runs_it():
    """x.py's tests share a 100 s fixture: two shards with x.py would each pay it, so LPT
    keeps x.py's tests together and puts y.py beside them."""
    durations = {"x.py::a": 30.0, "x.py::b": 30.0, "y.py": 100.0}
    one, two = shards.split(list(durations), durations, 2, {"x.py": 100.0})
    assert sorted([sorted(one), sorted(two)]) == [["x.py::a", "x.py::b"], ["y.py"]]


@pytest.mark.parametrize("spec", ["0/4", "5/4", "x", "2"])
def test_bad_shard_spec_is_refused(spec):
    with pytest.raises(ValueError):
        shards.parse_shard(spec)


def test_durations_read_xdist_group_names_and_split_long_files(tmp_path):
    """`make test` runs under xdist's loadgroup, whose reports name a grouped test
    `name@group`: the durations must use the ids the shard plugin collects."""
    file = "tests/workflows/test_shards.py"
    module = "tests.workflows.test_shards"
    cases = [  # ran in this order: the first one paid the file's 30 s fixture
        ("test_a@test_shards", 70.0),
        ("test_b[x]@test_shards", 40.0),
        ("test_c", 40.0),
        ("test_d", 40.0),
    ]
    junit = tmp_path / "junit.xml"
    junit.write_text(
        "<testsuites><testsuite>"
        + "".join(f'<testcase classname="{module}" name="{n}" time="{t}"/>' for n, t in cases)
        + "</testsuite></testsuites>"
    )
    seconds, setup = shards.durations_from_junit([junit])
    assert seconds == {
        f"{file}::test_a": 40.0,
        f"{file}::test_b[x]": 40.0,
        f"{file}::test_c": 40.0,
        f"{file}::test_d": 40.0,
    }
    assert setup == {file: 30.0}


def test_a_split_files_fixture_is_the_setup_phase_that_ran_it(tmp_path):
    """tests/conftest.py records each test's setup phase: the fixture is the longest one,
    not what the first test took beyond the others (here the first test is just long)."""
    file, module = "tests/workflows/test_shards.py", "tests.workflows.test_shards"
    cases = [("test_a", 70.0, 0.1), ("test_b", 70.0, 60.0), ("test_c", 40.0, 0.1)]
    junit = tmp_path / "junit.xml"
    junit.write_text(
        "<testsuites><testsuite>"
        + "".join(
            f'<testcase classname="{module}" name="{n}" time="{t}"><properties>'
            f'<property name="{shards.SETUP_PROPERTY}" value="{s}"/></properties></testcase>'
            for n, t, s in cases
        )
        + "</testsuite></testsuites>"
    )
    seconds, setup = shards.durations_from_junit([junit])
    assert setup == {file: 60.0}
    assert seconds == {f"{file}::test_a": 70.0, f"{file}::test_b": 10.0, f"{file}::test_c": 40.0}


def test_the_suite_records_each_tests_setup_phase_through_xdist(tmp_path):
    """The hook of tests/conftest.py on a tiny suite run as `make test` runs (two workers):
    the test whose setup ran the module fixture says how long it took."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(
        "from tests.conftest import pytest_runtest_makereport  # noqa: F401\n"
    )
    (suite / "test_one.py").write_text(
        "import time, pytest\n"
        "@pytest.fixture(scope='module')\n"
        "def slow():\n    time.sleep(1.0)\n"
        "def test_a(slow):\n    pass\n"
        "def test_b(slow):\n    pass\n"
    )
    junit = tmp_path / "junit.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-q",
         "--rootdir", str(tmp_path), f"--junitxml={junit}", "suite"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    recorded = [
        float(prop.get("value"))
        for prop in ET.parse(junit).getroot().iter("property")
        if prop.get("name") == shards.SETUP_PROPERTY
    ]
    assert len(recorded) == 2 and max(recorded) >= 1.0, recorded
