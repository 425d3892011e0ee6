"""What the bento ships, computed two ways: the import closure of the service module inside
the ``mlops`` package (read from the source), and the files bentofile.yaml's ``include``
and ``exclude`` select (matched as BentoML matches them: gitwildmatch patterns)."""

from __future__ import annotations

import ast
from pathlib import Path

import pathspec
import yaml

SERVICE = "mlops.serving.service"
PACKAGE = "mlops"


def module_file(src: Path, name: str) -> Path | None:
    """The source file of module ``name`` under ``src``; None if ``name`` is not a module
    (``from mlops.core.config import load_params`` names a function)."""
    path = src.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imported_names(file: Path, module: str) -> set[str]:
    """Every dotted name ``file`` imports from the package, anywhere in it (an import
    inside a function fails as surely, only later, when its file is not in the bento)."""
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package ``level - 1`` steps up
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # maybe modules
    return {n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")}


def import_closure(src: Path, root: str = SERVICE) -> set[Path]:
    """The files (relative to ``src``) that importing ``root`` runs: each module imported,
    directly or not, and the ``__init__.py`` of every package on the way."""
    files: set[Path] = set()
    todo, seen = [root], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # `import a.b.c` runs a, a.b and a.b.c
            prefix = ".".join(parts[:depth])
            file = module_file(src, prefix)
            if file is not None and file.relative_to(src) not in files:
                files.add(file.relative_to(src))
                todo.extend(imported_names(file, prefix))
    return files


def bento_selection(project: Path, bentofile: str = "bentofile.yaml") -> set[Path]:
    """The files under src/mlops/ that ``bentofile``'s include and exclude select, relative
    to src/ (``python.is_src_layout``: src/mlops/ becomes the bento's src/mlops/)."""
    config = yaml.safe_load((project / bentofile).read_text())
    include = pathspec.PathSpec.from_lines("gitwildmatch", config.get("include") or ["*"])
    exclude = pathspec.PathSpec.from_lines("gitwildmatch", config.get("exclude") or [])
    selected = set()
    for file in (project / "src" / PACKAGE).rglob("*"):
        path = file.relative_to(project).as_posix()
        if file.is_file() and include.match_file(path) and not exclude.match_file(path):
            selected.add(file.relative_to(project / "src"))
    return selected
