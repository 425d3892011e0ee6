"""No value a workflow fills from an input, a variable or its event reaches a shell as code.

Make pastes `$(VAR)` into a recipe's command line before bash parses it, and expands
`$(shell ...)` inside the value itself: whoever can dispatch a workflow (or name a branch)
would run commands on the runner. The Makefile passes such values as quoted shell variables
("$$VAR"); these tests read it and run its recipes with hostile values.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

MAKEFILE = ROOT / "Makefile"
# every Makefile variable a workflow sets from an input, a variable, a secret or the event
UNTRUSTED = [
    "REPLAY_MONTH", "REPLAY_SERVE", "REPLAY_URL", "MONITOR_LOGS", "MONITOR_LABELS",
    "MONITOR_SUMMARY", "REPORT_URL", "PAGES_URL", "IMAGE", "DEPLOY_IMAGE", "KIND_CLUSTER",
    "KUBECONFIG_ENV", "PULL_TOKEN_ENV", "PULL_USER", "BASE", "GH",
    "VERSION", "STAGE", "PUSH", "CHECKOUT",  # the registry (promote.yml's input)
]  # fmt: skip
HOSTILE = '2013-11$(touch pwned1)`touch pwned2`$(shell touch pwned3)"; touch pwned4; echo "'
# target -> the variables its recipe passes on
RECIPES = {
    "replay": ["REPLAY_MONTH", "REPLAY_SERVE", "REPLAY_URL"],
    "monitor": ["MONITOR_LOGS", "MONITOR_LABELS", "REPORT_URL"],
    "alert": ["GH", "PAGES_URL", "MONITOR_SUMMARY"],
    "retrain": ["GH", "REPORT_URL"],
    "retrain-blocked": ["GH"],
    "containerize": ["IMAGE"],
    "push": ["IMAGE"],
    "deploy": ["DEPLOY_IMAGE", "KIND_CLUSTER", "KUBECONFIG_ENV", "PULL_TOKEN_ENV", "PULL_USER"],
    "release": ["DEPLOY_IMAGE"],
    "report": ["BASE"],
    "gate": ["BASE"],
    "promote": ["VERSION", "STAGE"],
    "registry-resolve": ["STAGE", "VERSION", "IMAGE"],
}


def test_every_workflow_env_the_makefile_reads_is_in_the_list():
    """A variable a workflow step sets in `env:` and the Makefile declares is untrusted."""
    import yaml

    declared = set(re.findall(r"^([A-Z_]+) \?=", MAKEFILE.read_text(), re.M))
    from_workflows = set()
    for path in (ROOT / ".github" / "workflows").glob("*.yml"):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for holder in [job, *job.get("steps", [])]:
                from_workflows |= set(holder.get("env") or {})
    assert declared & from_workflows <= set(UNTRUSTED)
    assert set(UNTRUSTED) <= declared


@pytest.mark.parametrize("name", UNTRUSTED)
def test_the_makefile_never_expands_an_untrusted_variable(name):
    text = MAKEFILE.read_text()
    assert not re.search(rf"\$[({{]{name}[)}}]", text), f"$({name}) in the Makefile"
    joined = text.replace("\\\n", " ")  # continued lines as one
    assert re.search(rf"^export .*\b{name}\b", joined, re.M), f"{name} is not exported"


@pytest.mark.parametrize("target", sorted(RECIPES))
def test_hostile_values_reach_the_command_verbatim_and_run_nothing(target, tmp_path):
    """Each recipe, its prerequisites skipped and the CLI replaced by a printer of argv, gets
    every variable set to a value that would run `touch` if a shell or make evaluated it."""
    shutil.copy(MAKEFILE, tmp_path / "Makefile")
    printer = f"{sys.executable} -c 'import json, sys; print(json.dumps(sys.argv[1:]))'"
    env = {k: v for k, v in os.environ.items() if k not in UNTRUSTED}
    env |= dict.fromkeys(RECIPES[target], HOSTILE)
    if target == "alert":
        env["REPORT_URL"] = "https://example.com/run"  # PAGES_URL wins over it
    done = subprocess.run(
        ["make", "--no-print-directory", "-o", "install", "-o", "repro", "-o", "data",
         f"RUN={printer}", target],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    argv = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert argv.count(HOSTILE) == len(RECIPES[target]), argv
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Makefile"]  # nothing touched
