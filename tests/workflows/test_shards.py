"""Nothing is dropped by the split: pr.yml's test shards run every collected test once.

The suite is collected once (`pytest --collect-only`, no test runs); the shards pr.yml's
matrix names are computed with the split `make test-shard` uses; their union must be the
suite, with no test in two shards. Then one shard is collected through the plugin itself,
as the job runs it, to show the plugin selects exactly that shard.
"""

from __future__ import annotations

import subprocess
import sys
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
    # new.py counts as the median (55 s): a+c and b+new+d, 150 s against 125 s
    assert sorted(a) == ["a.py::t", "c.py::t"]
    assert sorted(b) == ["b.py::t", "d.py::t", "new.py::t"]


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
