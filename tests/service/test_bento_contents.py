"""The bento contains the serving code and what it imports, nothing else.

bentofile.yaml lists the files by hand (BentoML cannot follow imports); these tests keep
the list true: a module the service starts importing must be added, and nothing of the
build, deploy, pipeline, monitoring or report code ships. The built bento itself is checked
against the same closure in test_fresh_clone.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT
from tests.service.closure import bento_selection, import_closure, imported_names

SRC = ROOT / "src"
BUILD_TIME = {"release", "monitoring", "report", "tooling", "pipeline", "yours"}


def _listing(files: set[Path]) -> str:
    return ", ".join(sorted(str(f) for f in files)) or "none"


def test_the_include_globs_select_exactly_the_service_import_closure():
    closure, selected = import_closure(SRC), bento_selection(ROOT)
    assert selected == closure, (
        f"bentofile.yaml `include:` does not match what mlops.serving.service imports.\n"
        f"  imported but not included (the bento fails at start-up): "
        f"{_listing(closure - selected)}\n"
        f"  included but not imported (the bento ships code it does not run): "
        f"{_listing(selected - closure)}"
    )


def test_the_service_imports_nothing_of_the_build_time_areas():
    closure = import_closure(SRC)
    areas = {f.parts[1] for f in closure if len(f.parts) > 2}  # mlops/<area>/<file>
    assert areas == {"serving", "core"}, sorted(areas)
    assert not areas & BUILD_TIME


def test_the_closure_follows_every_kind_of_import(tmp_path):
    """What the closure reader must see: `import a.b`, `from a import module`, `from a.b
    import name`, relative imports and imports inside functions."""
    files = {
        "mlops/__init__.py": "",
        "mlops/serving/__init__.py": "",
        "mlops/serving/service.py": (
            "from mlops.core import config\nfrom . import local\n"
            "def later():\n    import mlops.core.lazy\n"
        ),
        "mlops/serving/local.py": "from .helper import name\n",
        "mlops/serving/helper.py": "name = 1\n",
        "mlops/core/__init__.py": "",
        "mlops/core/config.py": "from mlops.core.errors import UserError\n",
        "mlops/core/errors.py": "class UserError(Exception): ...\n",
        "mlops/core/lazy.py": "",
        "mlops/release/commands.py": "import mlops.serving.service\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert import_closure(tmp_path) == {Path(n) for n in files} - {
        Path("mlops/release/commands.py")
    }
    helper = tmp_path / "mlops/serving/local.py"
    assert imported_names(helper, "mlops.serving.local") == {
        "mlops.serving.helper",
        "mlops.serving.helper.name",
    }
