"""Every pinned action is a real release with the interface the workflows and stubs assume.

tests/workflows/actions.yaml records, for each remote action, the release it is pinned to
(version, commit, runtime, inputs, outputs) as read from the action's own repository. These
tests hold the workflows and the act stubs to that record, offline: a SHA that is not the
recorded release, an input the release lacks (or a required one left out), a stub whose
interface differs from the real action, or a runtime GitHub is retiring fails here.
"""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.workflows.act import STUBS

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
RECORD = yaml.safe_load((HERE / "actions.yaml").read_text())
# act runs actions/checkout itself (an offline copy of the repository): it has no stub
NO_STUB = {"actions/checkout"}
RUNTIMES = {"node24", "composite", "docker"}
RETIRING = {"node20"}


def uses_steps(workflow: Path):
    """(job id, step, action name, ref) for each remote `uses:` step."""
    for job_id, job in yaml.safe_load(workflow.read_text())["jobs"].items():
        for step in job.get("steps", []):
            if "uses" in step and not step["uses"].startswith("./"):
                name, _, ref = step["uses"].partition("@")
                yield job_id, step, name, ref


def all_uses():
    return [(w.name, *found) for w in WORKFLOWS for found in uses_steps(w)]


def uv_lock_version() -> str:
    packages = tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    return next(p["version"] for p in packages if p["name"] == "uv")


def test_every_workflow_uses_remote_actions():
    assert all_uses()


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_uses_is_the_recorded_release(workflow):
    for job_id, _, name, ref in uses_steps(workflow):
        assert name in RECORD, f"{workflow.name}/{job_id}: {name} is not in actions.yaml"
        release = RECORD[name]
        assert ref == release["sha"], (
            f"{workflow.name}/{job_id}: {name}@{ref} is not the recorded "
            f"{release['version']} ({release['sha']}); update actions.yaml with the pin"
        )


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_uses_comment_names_the_recorded_version(workflow):
    """`uses: owner/name@<sha> # vX.Y.Z` on every line (what Dependabot and zizmor read);
    a workflow of this repository (`uses: ./...`) is the same commit and needs no pin."""
    lines = [
        line
        for line in workflow.read_text().splitlines()
        if re.match(r"\s*(- )?uses:", line) and not re.match(r"\s*(- )?uses: \./", line)
    ]
    assert lines
    for line in lines:
        match = re.fullmatch(r"\s*(?:- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (\S+)", line)
        assert match, f"{workflow.name}: {line.strip()!r} is not 'uses: name@<sha> # <version>'"
        name, _, comment = match.groups()
        assert comment == RECORD[name]["version"], f"{workflow.name}: {line.strip()}"


def test_every_recorded_action_is_used():
    used = {name for _, _, _, name, _ in all_uses()}
    assert set(RECORD) == used


@pytest.mark.parametrize("name", sorted(RECORD))
def test_record_is_a_pinned_release(name):
    release = RECORD[name]
    assert re.fullmatch(r"[0-9a-f]{40}", release["sha"]), release["sha"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", release["version"]), release["version"]


@pytest.mark.parametrize("name", sorted(RECORD))
def test_runtime_is_not_retiring(name):
    """node24 (or composite/docker). node20 always fails: GitHub is retiring it. Another
    runtime passes only with the reason written in the record (`no_node24_release`)."""
    using, excuse = RECORD[name]["using"], RECORD[name].get("no_node24_release")
    assert using not in RETIRING, f"{name} {RECORD[name]['version']} runs on {using}"
    if excuse:
        assert using not in RUNTIMES, f"{name} runs on {using}: drop 'no_node24_release'"
    else:
        assert using in RUNTIMES, f"{name} runs on {using}: pin a node24 release"


@pytest.mark.parametrize(
    ("workflow", "job", "step", "name", "ref"),
    all_uses(),
    ids=[f"{w}-{job}-{name}" for w, job, _, name, _ in all_uses()],
)
def test_with_keys_are_real_inputs(workflow, job, step, name, ref):
    inputs = RECORD[name]["inputs"]
    given = set(step.get("with") or {})
    unknown = given - set(inputs)
    assert not unknown, f"{workflow}/{job}: {name} {RECORD[name]['version']} has no {unknown}"
    missing = {
        key
        for key, spec in inputs.items()
        if spec["required"] and "default" not in spec and key not in given
    }
    assert not missing, f"{workflow}/{job}: {name} needs {missing}"


def stub_of(name: str) -> dict:
    return yaml.safe_load((HERE / "stubs" / STUBS[name] / "action.yml").read_text())


def test_every_remote_action_has_a_stub():
    assert set(STUBS) == set(RECORD) - NO_STUB


@pytest.mark.parametrize("name", sorted(STUBS))
def test_stub_declares_the_real_interface(name):
    """Same input names with the same `required`, same output names: a workflow that gives
    an input the real action lacks fails in the act tests too."""
    stub, real = stub_of(name), RECORD[name]
    stub_inputs = {k: bool(v.get("required", False)) for k, v in (stub.get("inputs") or {}).items()}
    assert stub_inputs == {k: v["required"] for k, v in real["inputs"].items()}
    assert sorted(stub.get("outputs") or {}) == sorted(real["outputs"])


def setup_steps(action: str):
    return [(w, job, step) for w, job, step, name, _ in all_uses() if name == action]


def test_setup_uv_installs_the_locked_uv():
    """One source for uv's version: the action reads the dev dependency from uv.lock (its
    `version-file`), which is also the uv `make install` puts in .venv/bin."""
    assert uv_lock_version()
    steps = setup_steps("astral-sh/setup-uv")
    assert steps
    for workflow, job, step in steps:
        given = step.get("with") or {}
        assert given.get("version-file") == "uv.lock", f"{workflow}/{job}"
        assert "version" not in given, f"{workflow}/{job}: a second source of uv's version"
        if workflow == "promote.yml":  # a tag push publishes: no cache (zizmor cache-poisoning)
            assert given.get("enable-cache") is False, f"{workflow}/{job}"
            continue
        assert given.get("enable-cache") is True, f"{workflow}/{job}"
        assert given.get("cache-dependency-glob") == "uv.lock", f"{workflow}/{job}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_jobs_running_make_set_up_uv_after_checkout(workflow):
    """The Makefile takes uv from PATH: the pinned one, not a bootstrap from PyPI. (test.yml
    runs .ci/run, which tests a new machine's PATH on purpose.)"""
    for job_id, job in yaml.safe_load(workflow.read_text())["jobs"].items():
        steps = job.get("steps", [])
        if not any(s.get("run", "").startswith("make ") for s in steps):
            continue
        names = [s.get("uses", "").partition("@")[0] for s in steps]
        assert names[:2] == ["actions/checkout", "astral-sh/setup-uv"], f"{workflow.name}/{job_id}"


def test_setup_cml_installs_a_pinned_cml_without_vega():
    steps = setup_steps("iterative/setup-cml")
    assert steps
    for workflow, job, step in steps:
        given = step.get("with") or {}
        assert given.get("version") == RECORD["iterative/setup-cml"]["installs"]["version"]
        assert given.get("vega") is False, f"{workflow}/{job}: vega must be false"


def test_jobs_with_cml_turn_its_telemetry_off():
    workflows = {w.name: yaml.safe_load(w.read_text()) for w in WORKFLOWS}
    for workflow, job, _ in setup_steps("iterative/setup-cml"):
        env = {
            **(workflows[workflow].get("env") or {}),
            **(workflows[workflow]["jobs"][job].get("env") or {}),
        }
        assert env.get("ITERATIVE_DO_NOT_TRACK"), f"{workflow}/{job}"


def test_act_maps_a_sub_action_to_a_folder_of_its_repositorys_stub():
    """`actions/cache/save@<sha>` is the folder save/ of actions/cache at <sha>: act gets
    one --local-repository for the repository, whose stub has the sub-actions' folders."""
    from tests.workflows.act import local_repositories

    args = local_repositories(ROOT / ".github" / "workflows" / "pr.yml")
    cache = RECORD["actions/cache"]["sha"]
    assert args.count(f"actions/cache@{cache}={HERE / 'stubs' / 'cache'}") == 1
    assert not any(arg.startswith("actions/cache/") for arg in args)
    for sub in ("restore", "save"):
        assert (HERE / "stubs" / "cache" / sub / "action.yml").exists()
