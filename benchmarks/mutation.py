"""Mutation testing of the decision logic: does a test fail when the code is wrong?

mutmut (``[tool.mutmut]`` in pyproject.toml) changes one thing at a time in a module: a
flipped comparison, a constant off by one, ``and`` for ``or``, a negated condition, a
replaced return value, ... and runs that module's own fast tests against each change (a
"mutant"). A mutant no test notices "survived": a bug of that shape would ship. For each
module of benchmarks/mutation.yaml (its functions, its tests, its floor) this writes
benchmarks/mutation.json: mutants, killed, survived, equivalent, score = killed /
(mutants - equivalent), and the survivors with their changed line; it exits 1 when a score
is below its floor.

Equivalent mutants (a change that behaves exactly as the original, so no test can notice)
are a reviewed decision, listed with the reason in benchmarks/mutation.yaml, matched by the
mutated line; an entry that matches no survivor any more is an error (review it again).

Each module runs in its own folder, build/mutation/<module>/ (mutmut copies the tree to its
mutants/ there), one module at a time on one worker: a run takes minutes, not hours.

    uv run python benchmarks/mutation.py [--module split] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mlops.core.github import step_summary

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "benchmarks" / "mutation.yaml"
RESULTS = ROOT / "benchmarks" / "mutation.json"
WORK = ROOT / "build" / "mutation"
# what the tests read besides src/ and tests/ (mutmut copies them next to the mutated tree)
LINKED = ["src", "tests", "params.yaml", "dvc.yaml", "dvc.lock", "data.dvc"]
# mutmut's statuses that count as caught: a mutant that crashes the tests is; one that times
# out is not (a hang proves nothing about the tests: it stays a survivor, listed as "timeout")
CAUGHT = {"killed", "segfault", "caught by type check"}
# mutmut forks a child per mutant from a process that has run the tests; an OpenMP or BLAS
# pool started before the fork hangs the child (the model's tests), so the pools keep 1 thread
THREADS = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


@dataclass
class Module:
    name: str
    source: str
    functions: list[str]
    tests: list[str]
    floor: float
    equivalent: list[dict[str, str]] = field(default_factory=list)

    @property
    def dotted(self) -> str:
        return self.source.removeprefix("src/").removesuffix(".py").replace("/", ".")

    def pattern(self, function: str) -> str:
        """mutmut's name of ``function``'s mutants (``Class.method`` for a method)."""
        cls, _, name = function.rpartition(".")
        mangled = f"xǁ{cls}ǁ{name}" if cls else f"x_{function}"
        return f"{self.dotted}.{mangled}__mutmut_*"


def load_modules(path: Path = CONFIG) -> list[Module]:
    raw = yaml.safe_load(path.read_text())
    equivalent = raw.get("equivalent") or {}
    unknown = sorted(set(equivalent) - set(raw["modules"]))
    if unknown:
        raise SystemExit(f"{path.name}: equivalent names modules {unknown} that modules lacks")
    return [
        Module(name=name, equivalent=equivalent.get(name) or [], **spec)
        for name, spec in raw["modules"].items()
    ]


def _toml(table: dict[str, Any]) -> str:
    """A flat TOML table (strings, numbers, booleans and lists of them): JSON spells them
    the way TOML does."""
    return "\n".join(f"{key} = {json.dumps(value)}" for key, value in table.items())


def prepare_folder(module: Module) -> Path:
    """build/mutation/<module>/: links to the tree, and a pyproject.toml with the project's
    pytest options and ``[tool.mutmut]`` narrowed to this module and its tests."""
    folder = WORK / module.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in LINKED:
        if (ROOT / name).exists():
            (folder / name).symlink_to(ROOT / name)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    mutmut = {
        **project["mutmut"],
        "only_mutate": [module.source],
        "pytest_add_cli_args_test_selection": module.tests,
    }
    (folder / "pyproject.toml").write_text(
        f"[tool.pytest.ini_options]\n{_toml(project['pytest']['ini_options'])}\n\n"
        f"[tool.mutmut]\n{_toml(mutmut)}\n"
    )
    return folder


def _mutmut(folder: Path, *args: str, log: Path | None = None) -> str:
    """Run mutmut in ``folder``; its output, or (with ``log``) written there as it comes
    (``tail -f`` it to follow a long run)."""
    command = [sys.executable, "-m", "mutmut", *args]
    env = {**os.environ, **THREADS, "PYTHONHASHSEED": "0"}
    if log is None:
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        output, code = done.stdout + done.stderr, done.returncode
    else:
        with log.open("w") as out:
            code = subprocess.run(command, cwd=folder, env=env, stdout=out, stderr=out).returncode
        output = log.read_text()
    if code != 0:
        tail = "\n".join(output.splitlines()[-30:])
        raise SystemExit(
            f"mutmut {args[0]} failed in {folder} (exit {code}); the end of its output:\n"
            f"{tail}\nThe whole log: {log or 'above'}"
        )
    return output


def statuses(folder: Path, module: Module) -> dict[str, str]:
    """mutmut's status of each mutant of the module's functions."""
    prefixes = tuple(module.pattern(f).removesuffix("*") for f in module.functions)
    found = {}
    for line in _mutmut(folder, "results", "--all", "true").splitlines():
        name, _, status = line.strip().partition(": ")
        if name.startswith(prefixes):
            found[name] = status
    return found


def changed_line(folder: Path, name: str) -> str:
    """The mutated line(s) of mutant ``name``, stripped (what the equivalent list matches)."""
    diff = _mutmut(folder, "show", name).splitlines()
    added = [line[1:].strip() for line in diff if line.startswith("+") and "+++" not in line]
    return " / ".join(added)


def _function(module: Module, name: str) -> str:
    return next(f for f in module.functions if name.startswith(module.pattern(f)[:-1]))


def measure(module: Module) -> dict[str, Any]:
    """Run mutmut on one module; its numbers and its survivors."""
    started = time.perf_counter()
    folder = prepare_folder(module)
    patterns = [module.pattern(f) for f in module.functions]
    _mutmut(folder, "run", "--max-children", "1", *patterns, log=folder / "mutmut.log")
    found = statuses(folder, module)
    if not found:
        raise SystemExit(f"mutmut made no mutants of {module.functions} in {module.source}")
    reviewed = {entry["mutated"]: entry for entry in module.equivalent}
    survivors, equivalent, matched = [], [], set()
    for name, status in sorted(found.items()):
        if status in CAUGHT:
            continue
        line = changed_line(folder, name)
        row = {"mutant": name, "function": _function(module, name), "status": status}
        if line in reviewed:
            matched.add(line)
            equivalent.append({**row, "mutated": line, "why": reviewed[line]["why"]})
        else:
            survivors.append({**row, "mutated": line})
    stale = [entry for line, entry in reviewed.items() if line not in matched]
    killed = sum(status in CAUGHT for status in found.values())
    judged = len(found) - len(equivalent)
    return {
        "source": module.source,
        "functions": module.functions,
        "tests": module.tests,
        "mutants": len(found),
        "killed": killed,
        "survived": len(survivors),
        "equivalent": len(equivalent),
        "score": round(killed / judged, 4) if judged else 1.0,
        "floor": module.floor,
        "seconds": round(time.perf_counter() - started, 1),
        "survivors": survivors,
        "equivalent_mutants": equivalent,
        "stale_equivalent": stale,
    }


def problems(name: str, result: dict[str, Any]) -> list[str]:
    found = []
    if result["score"] < result["floor"]:
        found.append(
            f"{name}: mutation score {result['score']:.1%} is below its floor "
            f"{result['floor']:.0%} ({result['survived']} survivors in {result['source']}): "
            f"add tests that fail on them, or list a mutant that cannot change behaviour in "
            f"benchmarks/mutation.yaml (equivalent) with the reason"
        )
    for entry in result["stale_equivalent"]:
        found.append(
            f"{name}: the equivalent mutant '{entry['mutated']}' of benchmarks/mutation.yaml "
            f"no longer survives (the code or the tests changed): remove or update the entry"
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", help="run only this module (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep build/mutation/ afterwards")
    args = parser.parse_args(argv)
    modules = [m for m in load_modules() if not args.module or m.name in args.module]
    if args.module and len(modules) != len(set(args.module)):
        known = [m.name for m in load_modules()]
        raise SystemExit(f"--module {args.module}: benchmarks/mutation.yaml has {known}")
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results = dict(previous.get("modules", {})) if args.module else {}
    failed: list[str] = []
    for number, module in enumerate(modules, 1):
        print(
            f"mutation {number}/{len(modules)}: {module.name} ({module.source}; follow it: "
            f"tail -f {(WORK / module.name / 'mutmut.log').relative_to(ROOT)}) ...",
            flush=True,
        )
        result = results[module.name] = measure(module)
        print(
            f"  {result['mutants']} mutants, {result['killed']} killed, {result['survived']} "
            f"survived, {result['equivalent']} equivalent: score {result['score']:.1%} "
            f"(floor {result['floor']:.0%}), {result['seconds']} s",
            flush=True,
        )
        for row in result["survivors"]:
            print(f"    survived: {row['mutant']}: {row['mutated']}")
        failed += problems(module.name, result)
    RESULTS.write_text(
        json.dumps(
            {
                "tool": f"mutmut {_version()}",
                "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "modules": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"-> {RESULTS.relative_to(ROOT)}")
    step_summary(summary_markdown(results))
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)
    for problem in failed:
        print(f"::error::{problem}" if os.environ.get("GITHUB_ACTIONS") else problem)
    return 1 if failed else 0


def summary_markdown(results: dict[str, Any]) -> str:
    """The scores as a Markdown table (the workflow's job summary)."""
    lines = [
        "## Mutation testing",
        "",
        "| module | mutants | killed | survived | equivalent | score | floor |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        mark = "" if r["score"] >= r["floor"] else " ❌"
        lines.append(
            f"| {name} | {r['mutants']} | {r['killed']} | {r['survived']} | {r['equivalent']} "
            f"| {r['score']:.1%}{mark} | {r['floor']:.0%} |"
        )
    return "\n".join(lines) + "\n"


def _version() -> str:
    from importlib.metadata import version

    return version("mutmut")


if __name__ == "__main__":
    sys.exit(main())
