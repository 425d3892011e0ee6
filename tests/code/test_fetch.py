"""data.dvc is the single source of truth: fetched data must hash to what it records."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.core.errors import DataFetchError
from mlops.pipeline.fetch import configured_remote, fetch, matches
from mlops.yours import dataset

ROOT = Path(__file__).resolve().parents[2]
# the embedded copy exists only for the default data; a fork's materialize_embedded raises
EMBEDDED = pytest.mark.default_data(
    "a fork without an embedded copy gets its data from its DVC remote (tested by "
    "test_remote_is_pulled_when_it_holds_the_data)"
)


def dvc(repo: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh DVC repository whose data.dvc pins the same data as this repository's."""
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    dvc(tmp_path, "init", "-q")
    shutil.copyfile(ROOT / "data.dvc", tmp_path / "data.dvc")
    return tmp_path


@EMBEDDED
def test_embedded_copy_is_materialized_and_verified(repo):
    how = fetch(repo / "data", repo / "data.dvc")
    assert how == "embedded copy, verified against data.dvc"
    assert matches(repo / "data.dvc")[0]
    assert fetch(repo / "data", repo / "data.dvc") == "already present"


@EMBEDDED
def test_modified_file_is_replaced_by_the_pinned_one(repo):
    fetch(repo / "data", repo / "data.dvc")
    with dataset.raw_files(repo / "data")[-1].open("a") as f:
        f.write("EWR,2013,12,31,23,1,1,1,1,1,1,1,1,1,x\n")
    assert not matches(repo / "data.dvc")[0]
    fetch(repo / "data", repo / "data.dvc")
    assert matches(repo / "data.dvc")[0]


@EMBEDDED
def test_embedded_copy_that_does_not_match_is_an_error(repo):
    pinned = (repo / "data.dvc").read_text()
    (repo / "data.dvc").write_text(
        pinned.replace(pinned.split("md5: ")[1].split(".dir")[0], "0" * 32)
    )
    with pytest.raises(DataFetchError, match=r"(?s)expected md5 0{32}\.dir.*DVC remote"):
        fetch(repo / "data", repo / "data.dvc")


@EMBEDDED
def test_unreachable_remote_falls_back_to_the_embedded_copy(repo, tmp_path, capsys):
    dvc(repo, "remote", "add", "-d", "store", str(tmp_path / "empty-remote"))
    assert configured_remote(repo / "data.dvc") == "store"
    how = fetch(repo / "data", repo / "data.dvc")
    assert how.startswith("embedded copy")
    assert "`dvc pull` from 'store' failed" in capsys.readouterr().err


def test_remote_is_pulled_when_it_holds_the_data(repo, tmp_path, real_raw_dir):
    shutil.copytree(real_raw_dir, repo / "data")  # the data this repository's data.dvc pins
    assert fetch(repo / "data", repo / "data.dvc") == "already present"  # and in the cache
    dvc(repo, "remote", "add", "-d", "store", str(tmp_path / "remote"))
    dvc(repo, "push", "data.dvc")
    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".dvc" / "cache")
    assert fetch(repo / "data", repo / "data.dvc") == "pulled from remote 'store'"
    assert matches(repo / "data.dvc")[0]


def test_missing_dvc_file(tmp_path):
    with pytest.raises(DataFetchError, match=r"data\.dvc not found"):
        fetch(tmp_path / "data", tmp_path / "data.dvc")


def test_without_a_remote_the_local_cache_restores_unchanged_stages(tmp_path):
    """CI restores .dvc/cache (actions/cache) and calls pull_cache: what dvc.lock records and
    the cache holds is checked out, so `dvc repro` skips those stages, including one with an
    uncached output (the run-cache cannot restore it). A modified output is never
    overwritten."""
    from mlops.pipeline.fetch import pull_cache

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    dvc(tmp_path, "init", "-q")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text("a\n1\n")
    dvc(tmp_path, "add", "-q", "data")  # data.dvc, as in the project
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  make:\n    cmd: echo made > out.txt && echo 1 > score.json\n"
        "    deps: [data]\n    outs: [out.txt]\n    metrics: [{score.json: {cache: false}}]\n"
    )
    dvc(tmp_path, "repro", "-q")
    (tmp_path / "out.txt").unlink()  # a new checkout: the output is only in the cache
    said = pull_cache(tmp_path / "data.dvc")
    assert said.startswith("no DVC remote configured: outputs checked out"), said
    assert (tmp_path / "out.txt").read_text() == "made\n"
    run = subprocess.run(
        [sys.executable, "-m", "dvc", "repro"], cwd=tmp_path, capture_output=True, text=True
    )
    assert "Stage 'make' didn't change, skipping" in run.stdout, run.stdout + run.stderr
    (tmp_path / "out.txt").write_text("edited by hand\n")
    pull_cache(tmp_path / "data.dvc")
    assert (tmp_path / "out.txt").read_text() == "edited by hand\n"
