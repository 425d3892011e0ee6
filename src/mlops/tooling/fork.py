"""`fork rename`: give a fork its own package, command and project name in one step.

The template's package, its command and the prefix of its environment variables are one
word (:data:`TEMPLATE_PACKAGE`); the project (distribution) is :data:`TEMPLATE_PROJECT`. A
fork runs ``make rename NAME=churn_model`` once, on a clean checkout, and gets:

- the package directory moved to ``src/churn_model/`` (``git mv``) and every import, module
  path (``python -m``, the bento's ``service:``) and ``src/...`` path rewritten;
- the command ``churn_model`` (``[project.scripts]``; the Makefile's ``CLI`` variable), so
  ``python -m churn_model`` and ``churn_model`` are the same program;
- environment variables ``CHURN_MODEL_*`` instead of the template's prefix;
- the project ``churn-model`` in pyproject.toml, uv.lock (re-locked), bentofile.yaml labels,
  the Kubernetes ``part-of`` labels and tools/package.json;
- names that must be DNS labels (the drift issue marker, kind cluster names) in kebab case.

The template's names are never spelled out whole in this module, so a renamed fork still
knows them and refuses to rename twice. :func:`plan_rename` is pure (file texts in, edits out);
:func:`main` reads and writes the files.
"""

from __future__ import annotations

import importlib.util
import keyword
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from mlops.core.cli import command, new_app
from mlops.core.errors import UserError
from mlops.core.github import git

# Spelled in parts so that the rename, which rewrites every other spelling of the template's
# name, leaves these alone: a renamed fork still knows what it was renamed from.
TEMPLATE_PACKAGE = "ml" + "ops"
TEMPLATE_PROJECT = TEMPLATE_PACKAGE + "-template"

PACKAGE_RE = re.compile(r"[a-z][a-z0-9_]*")
PROJECT_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?")


class ForkError(UserError):
    """The rename cannot run as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Names:
    package: str  # import name and command, e.g. churn_model
    project: str  # distribution name, e.g. churn-model

    @property
    def kebab(self) -> str:
        """For names that must be DNS labels (kind clusters, issue markers, log names)."""
        return self.package.replace("_", "-")

    @property
    def env_prefix(self) -> str:
        return self.package.upper()


@dataclass
class RenamePlan:
    names: Names
    edits: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> (new text, n)
    moves: list[tuple[str, str]] = field(default_factory=list)

    def moved(self, path: str) -> str:
        """Where ``path`` is after the moves."""
        for old, new in self.moves:
            if path.startswith(old + "/"):
                return new + path[len(old) :]
        return path

    def describe(self) -> list[str]:
        lines = [f"  move  {old}/ -> {new}/" for old, new in self.moves]
        edited = sorted((self.moved(path), count) for path, (_, count) in self.edits.items())
        width = max((len(path) for path, _ in edited), default=0)
        for path, count in edited:
            lines.append(f"  edit  {path:<{width}}  {count} replacement{'s' * (count != 1)}")
        return lines


def _pattern() -> re.Pattern[str]:
    old = re.escape(TEMPLATE_PACKAGE)
    edge_before, edge_after = r"(?<![A-Za-z0-9_])", r"(?![A-Za-z0-9_])"
    return re.compile(
        rf"(?P<project>{edge_before}{re.escape(TEMPLATE_PROJECT)}{edge_after})"
        rf"|(?P<env>{edge_before}{old.upper()}(?=_))"
        # kind cluster names must be DNS labels: no underscores
        rf"|(?P<dns>(?<=cluster_name: ){old}{edge_after}|(?<=KIND_CLUSTER: ){old}{edge_after})"
        rf"|(?P<kebab>{edge_before}{old}(?=-)|(?<=-){old}{edge_after})"
        rf"|(?P<name>{edge_before}{old}{edge_after})"
    )


def rewrite(text: str, names: Names) -> tuple[str, int]:
    """Every spelling of the template's names in ``text`` replaced by the fork's."""
    by_kind = {
        "project": names.project,
        "env": names.env_prefix,
        "dns": names.kebab,
        "kebab": names.kebab,
        "name": names.package,
    }
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return by_kind[match.lastgroup or "name"]

    new = _pattern().sub(replace, text)
    return new, count


def check_names(names: Names, taken: Iterable[str], importable: Callable[[str], bool]) -> None:
    """Refuse a package or project name the fork could not use, saying why."""
    package, project = names.package, names.project
    if not PACKAGE_RE.fullmatch(package) or keyword.iskeyword(package):
        raise ForkError(
            f"--package {package!r} is not a valid package name: use a lowercase Python "
            "identifier (letters, digits and _, starting with a letter), e.g. churn_model"
        )
    if package == TEMPLATE_PACKAGE:
        raise ForkError(f"--package {package!r} is the template's own name: pick the fork's")
    if package in sys.stdlib_module_names:
        raise ForkError(
            f"--package {package!r} is a module of Python's standard library, which it would "
            f"shadow or be shadowed by: pick another name, e.g. my_{package}"
        )
    normalized = {re.sub(r"[-_.]+", "_", name.lower()) for name in taken}
    if package in normalized:
        raise ForkError(
            f"--package {package!r} is the name of a dependency in uv.lock: pick another name"
        )
    if importable(package):
        raise ForkError(
            f"--package {package!r} is already importable in this environment (a dependency "
            "installs a module of that name): pick another name"
        )
    if not PROJECT_RE.fullmatch(project):
        raise ForkError(
            f"--project {project!r} is not a valid project name: use lowercase letters, "
            "digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    if re.sub(r"[-_.]+", "-", project) in {re.sub(r"[-_.]+", "-", n.lower()) for n in taken}:
        raise ForkError(
            f"--project {project!r} is the name of a dependency in uv.lock: pick another name"
        )


def plan_rename(files: Mapping[str, str], names: Names) -> RenamePlan:
    """The edits and moves that rename the template in ``files`` (path -> text)."""
    result = RenamePlan(names)
    src = f"src/{TEMPLATE_PACKAGE}"
    if any(path.startswith(src + "/") for path in files):
        result.moves.append((src, f"src/{names.package}"))
    for path, text in files.items():
        new, count = rewrite(text, names)
        if count:
            result.edits[path] = (new, count)
    return result


# --- the parts that touch the repository ----------------------------------------------------


def _locked_names(root: Path) -> set[str]:
    lock = root / "uv.lock"
    if not lock.exists():
        return set()
    packages = tomllib.loads(lock.read_text()).get("package", [])
    return {p["name"] for p in packages if p.get("name") != TEMPLATE_PROJECT}


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _text_files(root: Path) -> dict[str, str]:
    listed = git("ls-files", "-z", cwd=root)
    if listed.returncode:
        raise ForkError(
            f"{root} is not a git checkout (git ls-files: {listed.stderr.strip()}): the rename "
            "edits the tracked files only; run it in your fork's clone"
        )
    files = {}
    for path in filter(None, listed.stdout.split("\0")):
        file = root / path
        if not file.is_file() or file.is_symlink():
            continue
        try:
            files[path] = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images and other binary files carry no names
    return files


def preflight(root: Path, names: Names, force: bool) -> None:
    """Refuse to run on the wrong tree: renamed already, uncommitted work, a taken name."""
    if not (root / "src" / TEMPLATE_PACKAGE).is_dir():
        scripts = {}
        pyproject = root / "pyproject.toml"
        if pyproject.exists():
            scripts = tomllib.loads(pyproject.read_text()).get("project", {}).get("scripts", {})
        current = ", ".join(sorted(scripts)) or "unknown"
        raise ForkError(
            f"{root / 'src' / TEMPLATE_PACKAGE} not found: this repository was already renamed "
            f"(its command is now: {current}). The rename runs once, on the template's own "
            "layout; to change the name again, rename by hand or start from a fresh fork"
        )
    if (root / "src" / names.package).exists():
        raise ForkError(
            f"{root / 'src' / names.package} exists already: remove it or pick another name"
        )
    if (root / names.package).exists():
        raise ForkError(
            f"{root / names.package} exists: a package of the same name would be ambiguous "
            "to import (the tests import from the repository root): pick another name"
        )
    check_names(names, _locked_names(root), _importable)
    status = git("status", "--porcelain", cwd=root)
    if status.returncode:
        raise ForkError(f"{root} is not a git checkout ({status.stderr.strip()})")
    if status.stdout.strip() and not force:
        dirty = status.stdout.rstrip().splitlines()
        shown = "\n".join(f"    {line}" for line in dirty[:10])
        more = f"\n    ... and {len(dirty) - 10} more" if len(dirty) > 10 else ""
        raise ForkError(
            f"the git tree has uncommitted changes:\n{shown}{more}\n"
            "commit or stash them first, so the rename is one reviewable diff "
            "(or pass --force to rename anyway)"
        )


def relock(root: Path, uv: str | None) -> str:
    """Re-lock uv.lock for the new project name: offline from uv's cache, else from PyPI."""
    if not (root / "uv.lock").exists():
        return "no uv.lock to re-lock"
    if uv is None:
        return "uv not found: run `uv lock` yourself to re-lock uv.lock"
    for args, how in ((["lock", "--offline"], "offline"), (["lock"], "from the index")):
        done = subprocess.run([uv, *args], cwd=root, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return f"uv.lock re-locked ({how}: uv {' '.join(args)})"
    raise ForkError(
        f"`uv lock` failed in {root}:\n{done.stderr.strip()}\n"
        "the files are renamed; fix the cause above and run `uv lock`, then commit"
    )


def apply_rename(root: Path, result: RenamePlan) -> None:
    for path, (text, _) in result.edits.items():
        (root / path).write_text(text, encoding="utf-8")
    for old, new in result.moves:
        moved = git("mv", old, new, cwd=root)
        if moved.returncode:
            raise ForkError(f"git mv {old} {new} failed: {moved.stderr.strip()}")
        stale = root / old
        if stale.exists():  # untracked leftovers (__pycache__) that git mv left behind
            shutil.rmtree(stale)


def tidy(root: Path, result: RenamePlan) -> list[str]:
    """Re-format the edited Python files (a longer name can push code past the line length)
    with the project's ruff; list what ruff still finds, to fix by hand."""
    python = sorted(result.moved(path) for path in result.edits if path.endswith(".py"))
    if not python:
        return []
    if importlib.util.find_spec("ruff") is None:
        return ["  ruff  not installed here: run `make format` to re-format the edited files"]
    ruff = [sys.executable, "-m", "ruff"]
    formatted = subprocess.run(
        [*ruff, "format", *python], cwd=root, capture_output=True, text=True, check=False
    )
    lines = [f"  ruff  format: {formatted.stdout.strip() or formatted.stderr.strip()}"]
    found = subprocess.run(
        [*ruff, "check", "--output-format", "concise", "--quiet", *python],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode:
        lines.append("  ruff  still finds these (fix them by hand, e.g. shorten long lines):")
        lines += [f"        {line}" for line in found.stdout.strip().splitlines()]
    return lines


def main(
    root: Path, package: str, project: str | None, dry_run: bool, force: bool, uv: str | None
) -> list[str]:
    names = Names(package, project or package.replace("_", "-"))
    root = root.resolve()
    preflight(root, names, force)
    result = plan_rename(_text_files(root), names)
    header = (
        f"fork rename: package {TEMPLATE_PACKAGE} -> {names.package} (also the command), "
        f"project {TEMPLATE_PROJECT} -> {names.project}, env {TEMPLATE_PACKAGE.upper()}_* "
        f"-> {names.env_prefix}_*"
    )
    if dry_run:
        lock = "  lock  uv.lock would be re-locked (uv lock --offline, else uv lock)"
        return [header + " [dry run: nothing written]", *result.describe(), lock]
    apply_rename(root, result)
    lines = [header, *result.describe(), *tidy(root, result), f"  lock  {relock(root, uv)}"]
    lines += [
        "next: `make install` (installs the package under its new name), `make repro` "
        "(dvc.lock records the renamed code), review `git diff`, commit",
    ]
    return lines


app = new_app("Make the template your own: rename it.", group="fork")


@command(app)
def rename(
    package: Annotated[str, typer.Option(help="new package and command name, e.g. churn_model")],
    project: Annotated[
        str | None, typer.Option(help="new project name [default: the package, '_' -> '-']")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="list the edits, write nothing")] = False,
    force: Annotated[bool, typer.Option(help="rename even with uncommitted changes")] = False,
    root: Annotated[Path, typer.Option(help="the repository to rename")] = Path(),
) -> None:
    """Rename the package, command and project for a fork (runs once, on a clean tree)."""
    uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` sets UV
    print("\n".join(main(root, package, project, dry_run, force, uv)))


if __name__ == "__main__":  # pragma: no cover
    app()
