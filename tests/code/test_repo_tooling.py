"""The contributor tooling stays true to the repository: pre-commit hooks run the locked
tools and pass on the tree, dependabot.yml names only ecosystems the repository has, the
pull-request template names the real gate label, CONTRIBUTING names real targets and paths."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.repocopy import ROOT, copy_repo, git
from tests.systempath import fresh_env

BIN = Path(sys.executable).parent
PRE_COMMIT = ROOT / ".pre-commit-config.yaml"
DEPENDABOT = ROOT / ".github" / "dependabot.yml"


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z][\w-]*):", text, flags=re.MULTILINE))


def _hooks() -> list[dict]:
    config = yaml.safe_load(PRE_COMMIT.read_text())
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


# --- pre-commit ------------------------------------------------------------------------------


def test_pre_commit_config_is_valid():
    done = subprocess.run(
        [BIN / "pre-commit", "validate-config", PRE_COMMIT], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_pre_commit_hooks_are_local_and_run_locked_tools():
    """No hook is fetched from the network; each runs a tool uv.lock pins or a make target."""
    config = yaml.safe_load(PRE_COMMIT.read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    ids = {hook["id"] for hook in _hooks()}
    assert {"ruff-format", "ruff-check", "workflow-lint", "trailing-whitespace"} <= ids
    for hook in _hooks():
        entry = hook["entry"].split()
        if entry[0] == "make":
            assert entry[1] in _makefile_targets(), f"{hook['id']}: no target {entry[1]}"
        else:
            # the project's own uv: a commit from a shell without uv on PATH still works
            assert entry[:3] == [".venv/bin/uv", "run", "--locked"], (
                f"{hook['id']}: {hook['entry']}"
            )
            assert (BIN / entry[3]).exists(), (
                f"hook {hook['id']} runs {entry[3]}, which is not installed: add the package "
                "that provides it to the dev dependencies (uv add --dev ...)"
            )


@pytest.mark.slow
def test_pre_commit_passes_on_the_tree_and_catches_a_bad_file(tmp_path):
    """`make hooks`, then `pre-commit run --all-files`, in a copy of the repository on a new
    machine's PATH (no uv, no pre-commit: `make` bootstraps them; every tool comes from uv's
    cache). The workflow-lint hook runs `make lint-workflows`, which is
    tests/workflows/test_workflow_lint.py: it is skipped here, not run twice."""
    repo = copy_repo(tmp_path / "repo")
    env = fresh_env(
        dict(os.environ),
        tmp_path / "system-bin",
        PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
        UV_OFFLINE="1",
        SKIP="workflow-lint",
    )
    done = subprocess.run(["make", "hooks"], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert (repo / ".git" / "hooks" / "pre-commit").exists()
    run = [repo / ".venv" / "bin" / "pre-commit", "run", "--color", "never"]
    done = subprocess.run([*run, "--all-files"], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert git(repo, "status", "--porcelain") == "", "a hook changed files that CI accepts"

    (repo / "src" / "sloppy.py").write_text("import os\nx = {'a':1}\n")
    (repo / "notes.txt").write_text("trailing   \nno final newline")
    git(repo, "add", "src/sloppy.py", "notes.txt")
    done = subprocess.run(
        [*run, "--files", "src/sloppy.py", "notes.txt"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0, done.stdout
    hooks = ("ruff format", "ruff check --fix", "trim trailing whitespace", "end files with")
    for hook in hooks:
        assert re.search(rf"{re.escape(hook)}.*\.\.\.Failed", done.stdout), done.stdout
    fixed = (repo / "src" / "sloppy.py").read_text()  # fixed in place
    assert "import os" not in fixed and 'x = {"a": 1}' in fixed, fixed
    assert (repo / "notes.txt").read_text() == "trailing\nno final newline\n"


# --- Dependabot ------------------------------------------------------------------------------

MANIFESTS = {  # ecosystem -> files that must exist in its directory
    "github-actions": [".github/workflows"],
    "uv": ["pyproject.toml", "uv.lock"],
    "npm": ["package.json", "package-lock.json"],
}


def _updates() -> list[dict]:
    return yaml.safe_load(DEPENDABOT.read_text())["updates"]


def test_dependabot_config_matches_dependabots_schema():
    done = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.dependabot", DEPENDABOT],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_catches_an_unknown_ecosystem(tmp_path):
    bad = tmp_path / "dependabot.yml"
    bad.write_text(
        DEPENDABOT.read_text().replace("package-ecosystem: uv", "package-ecosystem: uvx")
    )
    done = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.dependabot", bad],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "uvx" in done.stdout


def test_dependabot_updates_name_real_manifests_weekly_and_grouped():
    seen = set()
    for update in _updates():
        ecosystem, directory = update["package-ecosystem"], update["directory"]
        where = f"dependabot.yml: {ecosystem} in {directory}"
        assert ecosystem in MANIFESTS, f"{where}: no test knows this ecosystem's manifests"
        folder = ROOT / directory.strip("/")
        for manifest in MANIFESTS[ecosystem]:
            assert (folder / manifest).exists(), f"{where}: {manifest} not found"
        assert update["schedule"]["interval"] == "weekly", where
        assert update.get("groups"), f"{where}: updates not grouped"
        assert 1 <= update.get("open-pull-requests-limit", 5) <= 10, where
        seen.add((ecosystem, folder))
    assert len(seen) == len(_updates()), "an ecosystem and directory are listed twice"


def test_every_manifest_in_the_repository_is_kept_up_to_date():
    tracked = git(ROOT, "ls-files").split()
    wanted = {("github-actions", ROOT)} if (ROOT / ".github" / "workflows").is_dir() else set()
    for path in tracked:
        name = Path(path).name
        if name == "uv.lock":
            wanted.add(("uv", (ROOT / path).parent))
        elif name == "package.json":
            wanted.add(("npm", (ROOT / path).parent))
    listed = {(u["package-ecosystem"], ROOT / u["directory"].strip("/")) for u in _updates()}
    missing = wanted - listed
    assert not missing, f"add these to .github/dependabot.yml: {sorted(missing)}"


def test_zizmor_finds_nothing_in_the_dependabot_config():
    done = subprocess.run(
        [BIN / "zizmor", "--offline", "--no-progress", DEPENDABOT], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- pull-request template and CONTRIBUTING -------------------------------------------------


def test_pull_request_template_names_the_real_gate():
    template = (ROOT / ".github" / "pull_request_template.md").read_text()
    gate = yaml.safe_load((ROOT / "params.yaml").read_text())["gate"]
    assert f"**`{gate['override_label']}`**" in template, (
        "the PR template names a different override label than params.yaml gate.override_label"
    )
    for key in gate:
        assert f"gate.{key}" in template, f"the PR template does not explain gate.{key}"
    for target in re.findall(r"`make ([\w-]+)", template):
        assert target in _makefile_targets(), f"PR template: no make target {target}"


def test_contributing_names_real_targets_and_paths():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    targets = set(re.findall(r"(?:`|^)make ([\w-]+)", text, flags=re.MULTILINE))
    assert {"install", "data", "test", "test-fast", "lint", "lint-workflows"} <= targets
    assert targets <= _makefile_targets(), targets - _makefile_targets()
    paths = set(re.findall(r"`((?:tests|src|benchmarks|docs|\.github|tools)/[\w./-]*)`", text))
    assert paths, "CONTRIBUTING.md names no paths"
    for path in paths:
        assert (ROOT / path).exists(), f"CONTRIBUTING.md names {path}, which does not exist"
    for folder in (ROOT / "tests").iterdir():
        if folder.is_dir() and (folder / "__init__.py").exists():
            assert f"`tests/{folder.name}/`" in text, f"CONTRIBUTING.md: tests/{folder.name}/?"
