"""`fork rename` gives a fork its own package, command and project name, refuses what would
break the fork, and leaves a repository whose tests, lint and lock still pass.

The template's name is taken from ``fork.TEMPLATE_PACKAGE`` and never spelled out here, so
these tests still mean the same thing after the rename has rewritten this file too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.tooling import fork
from tests.repocopy import ROOT, copy_repo, git

T = fork.TEMPLATE_PACKAGE
P = fork.TEMPLATE_PROJECT
NAMES = fork.Names("delay_model", "delay-model")
runner = CliRunner()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (f"from {T}.cli import app", "from delay_model.cli import app"),
        (f"import {T}\n", "import delay_model\n"),
        (f"cmd: python -m {T} train --split x", "cmd: python -m delay_model train --split x"),
        (f"- src/{T}/train.py", "- src/delay_model/train.py"),
        (f'service: "{T}.service:ModelService"', 'service: "delay_model.service:ModelService"'),
        (f'{T} = "{T}.cli:app"', 'delay_model = "delay_model.cli:app"'),
        (f"$(RUN) {T} fetch", "$(RUN) delay_model fetch"),
        (f'name = "{P}"', 'name = "delay-model"'),
        (f'"name": "{P}-tools"', '"name": "delay-model-tools"'),
        (f'os.environ["{T.upper()}_PARAMS"]', 'os.environ["DELAY_MODEL_PARAMS"]'),
        (f'MARKER = "{T}-drift-alert"', 'MARKER = "delay-model-drift-alert"'),
        (f"user.name={T}-monitor", "user.name=delay-model-monitor"),
        (f"          cluster_name: {T}\n", "          cluster_name: delay-model\n"),
        (f"          KIND_CLUSTER: {T}\n", "          KIND_CLUSTER: delay-model\n"),
        (f"mountPath: /var/log/{T}", "mountPath: /var/log/delay_model"),
    ],
)
def test_rewrite_renames_every_spelling(before, after):
    assert fork.rewrite(before, NAMES)[0] == after


@pytest.mark.parametrize(
    "text",
    ["An MLOps template", f"x{T}", f"{T}2", f"my_{T}", f"{T}_helper", f"{T.upper()}X = 1"],
)
def test_rewrite_leaves_other_words_alone(text):
    assert fork.rewrite(text, NAMES) == (text, 0)


def _never(_: str) -> bool:
    return False


@pytest.mark.parametrize(
    ("package", "project", "says"),
    [
        ("Churn", "churn", "not a valid package name"),
        ("delay-model", "delay-model", "not a valid package name"),
        ("1churn", "churn", "not a valid package name"),
        ("class", "klass", "not a valid package name"),
        (T, "x", "the template's own name"),
        ("json", "json-model", "standard library"),
        ("pandas", "x", "dependency in uv.lock"),
        ("scikit_learn", "x", "dependency in uv.lock"),
        ("churn", "-churn", "not a valid project name"),
        ("churn", "Pandas", "not a valid project name"),
        ("churn", "scikit-learn", "dependency in uv.lock"),
    ],
)
def test_unusable_names_are_refused_with_the_reason(package, project, says):
    with pytest.raises(fork.ForkError, match=says):
        fork.check_names(fork.Names(package, project), ["pandas", "scikit-learn"], _never)


def test_a_name_a_dependency_installs_is_refused():
    with pytest.raises(fork.ForkError, match="already importable"):
        fork.check_names(fork.Names("yaml", "yaml-x"), [], lambda name: name == "yaml")
    fork.check_names(NAMES, ["pandas"], _never)  # and a free name passes


def _small_template(root: Path) -> Path:
    """A repository with the template's layout and names, small enough for fast tests.
    (The fast tests rename it delay_model, the slow ones this repository churn_model: the
    renamed copy runs these tests and must not find delay_model installed.)"""
    (root / "src" / T).mkdir(parents=True)
    (root / "src" / T / "__init__.py").write_text(f'"""The {T} package."""\n')
    (root / "src" / T / "cli.py").write_text(f"from {T} import __name__ as NAME\n")
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{P}"\n\n[project.scripts]\n{T} = "{T}.cli:app"\n'
    )
    (root / "dvc.yaml").write_text(f"stages:\n  train:\n    cmd: python -m {T} train\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" + T.encode())
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "template")
    return root


def test_dry_run_lists_the_edits_and_writes_nothing(tmp_path):
    repo = _small_template(tmp_path)
    lines = fork.main(repo, "delay_model", None, dry_run=True, force=False, uv=None)
    text = "\n".join(lines)
    assert "dry run" in text
    assert f"move  src/{T}/ -> src/delay_model/" in text
    assert "src/delay_model/cli.py" in text and "pyproject.toml" in text
    assert "logo.png" not in text  # binary files are left alone
    assert git(repo, "status", "--porcelain") == ""


def test_rename_moves_rewrites_and_refuses_a_second_run(tmp_path):
    repo = _small_template(tmp_path)
    lines = fork.main(repo, "delay_model", None, dry_run=False, force=False, uv=None)
    assert not (repo / "src" / T).exists()
    assert (
        (repo / "src" / "delay_model" / "cli.py").read_text().startswith("from delay_model import")
    )
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "delay-model"
    assert pyproject["project"]["scripts"] == {"delay_model": "delay_model.cli:app"}
    assert "python -m delay_model train" in (repo / "dvc.yaml").read_text()
    assert "no uv.lock" in "\n".join(lines)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "renamed")
    with pytest.raises(fork.ForkError, match=r"already renamed.*delay_model"):
        fork.main(repo, "other", None, dry_run=False, force=False, uv=None)


def test_a_dirty_tree_is_refused_unless_forced(tmp_path):
    repo = _small_template(tmp_path)
    (repo / "notes.txt").write_text("work in progress\n")
    with pytest.raises(fork.ForkError, match=r"(?s)uncommitted changes:\n.*notes.txt.*--force"):
        fork.main(repo, "delay_model", None, dry_run=False, force=False, uv=None)
    assert (repo / "src" / T).is_dir()  # nothing was touched
    fork.main(repo, "delay_model", None, dry_run=False, force=True, uv=None)
    assert (repo / "src" / "delay_model").is_dir()


def test_a_top_level_folder_name_is_refused(tmp_path):
    repo = _small_template(tmp_path)
    with pytest.raises(fork.ForkError, match="ambiguous"):
        fork.main(repo, "src", None, dry_run=True, force=False, uv=None)


def test_the_command_says_what_was_wrong(tmp_path):
    repo = _small_template(tmp_path)
    result = runner.invoke(app, ["fork", "rename", "--package", "json", "--root", str(repo)])
    assert result.exit_code == 1
    assert "error in `fork rename`" in result.stderr
    assert "standard library" in result.stderr
    assert (repo / "src" / T).is_dir()


# --- the whole repository, renamed -----------------------------------------------------------


def _run(args: list[str | Path], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(map(str, args)),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )


@pytest.fixture(scope="module")
def renamed(tmp_path_factory) -> tuple[Path, str]:
    """A copy of this repository's files (tracked and new, not ignored) renamed churn_model."""
    if not (ROOT / "src" / T).is_dir():
        pytest.skip(f"this repository is renamed already (no src/{T}/): the rename runs once")
    repo = copy_repo(tmp_path_factory.mktemp("fork"))
    done = _run([sys.executable, "-m", T, "fork", "rename", "--package", "churn_model"], repo)
    assert done.returncode == 0, done.stderr
    return repo, done.stdout


@pytest.mark.slow
def test_renamed_repository_has_no_stale_names(renamed):
    repo, output = renamed
    assert "uv.lock re-locked" in output, output
    assert not (repo / "src" / T).exists()
    word = rf"(^|[^A-Za-z0-9_])({T}([^A-Za-z0-9_]|$)|{T.upper()}_)"  # P starts with T
    stale = _run(["git", "grep", "-n", "-E", word], repo)
    assert stale.stdout == "", f"stale names after the rename:\n{stale.stdout}"
    dry = _run(["make", "-n", "data", "repro", "rename", "NAME=x"], repo)
    assert "run --locked churn_model fetch" in dry.stdout, dry.stdout + dry.stderr
    assert "run --locked churn_model fork rename --package" in dry.stdout


@pytest.mark.slow
def test_renamed_repository_installs_lints_and_passes_its_fast_tests(renamed):
    repo, _ = renamed
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv not found: run the tests through `make test` (uv run sets UV)"
    env = {"UV_PROJECT_ENVIRONMENT": str(repo / ".venv"), "VIRTUAL_ENV": ""}
    for args in (["lock", "--check", "--offline"], ["sync", "--locked", "--offline", "-q"]):
        done = _run([uv, *args], repo, **env)
        assert done.returncode == 0, f"uv {' '.join(args)}: {done.stderr}"
    python = repo / ".venv" / "bin" / "python"
    imported = _run([python, "-c", "import churn_model.cli, churn_model.tooling.fork"], repo)
    assert imported.returncode == 0, imported.stderr
    assert _run([python, "-c", f"import {T}"], repo).returncode != 0
    command = _run([repo / ".venv" / "bin" / "churn_model", "--help"], repo)
    assert command.returncode == 0 and "fork" in command.stdout, command.stderr
    for args in (["format", "--check", "."], ["check", "."]):
        done = _run([python, "-m", "ruff", *args], repo)
        assert done.returncode == 0, f"ruff {' '.join(args)} in the renamed copy:\n{done.stdout}"
    # the tests that exercise the names: the CLI, the DAG's wiring, params, report, the rename
    fast = ["test_cli", "test_wiring", "test_params", "test_report", "test_fork"]
    tests = _run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
         *(f"tests/code/{name}.py" for name in fast),
         "tests/workflows/test_workflow_lint.py::test_steps_are_thin"],
        repo,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
