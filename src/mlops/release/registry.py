"""The model registry: GTO's git tags over the artifact ``dvc.yaml`` declares.

A version is a tag ``<artifact>@vX.Y.Z`` on the commit whose dvc.lock records the model; a
stage is a tag ``<artifact>#<stage>#<n>`` (the highest ``n`` of a stage is in effect), made
by ``gto register`` / ``gto assign``. The pure part reads those tags (:func:`stages`,
:func:`registered`) and decides what a commit registers (:func:`bump_of`,
:func:`next_version`); the rest runs gto and git (:mod:`mlops.core.github`) on them.

Rule: a commit whose model MD5 is that of the latest version registers nothing (a docs or
code-only merge); a changed model with changed data or ``schema`` params is a minor
version; any other changed model (params, code) is a patch. A major version is made by
hand (``gto register model --version v1.0.0``); the next merges bump from it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlops.core.config import Params
from mlops.core.errors import UserError
from mlops.core.github import git, git_out, head, read_at

STAGING, PROD = "staging", "prod"  # the merge assigns STAGING; a promotion assigns PROD
FIRST = (0, 1, 0)  # the first registered version: v0.1.0
# the tagger of GTO's annotated tags where git has no identity (a runner)
TAGGER = ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")
_VERSION = re.compile(r"^(?P<name>[^@#!]+)@v(?P<v>\d+\.\d+\.\d+)$")
_ASSIGN = re.compile(r"^(?P<name>[^@#!]+)#(?P<stage>[^@#!]+)(?P<gone>!?)#(?P<n>\d+)$")
MAX_CLOCK_LAG = 30  # seconds this clock may be behind the newest tag before we refuse


class RegistryError(UserError, RuntimeError):
    """The registry refused: an unknown version or stage, gto or git failing."""


# --------------------------------------------------------------------------- tags (pure)
def parse_version(text: str) -> tuple[int, int, int]:
    found = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", text.strip())
    if not found:
        raise RegistryError(
            f"{text!r} is not a version: give it as vMAJOR.MINOR.PATCH, e.g. v1.2.0"
        )
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch


def normal(version: str) -> str:
    """``version`` as GTO spells it: v1.2.0 (``1.2.0`` is accepted)."""
    return "v{}.{}.{}".format(*parse_version(version))


def registered(tags: Mapping[str, str], artifact: str) -> dict[str, str]:
    """Version -> commit of every ``<artifact>@vX.Y.Z`` tag (``tags``: tag name -> commit)."""
    found = {}
    for tag, sha in tags.items():
        match = _VERSION.match(tag)
        if match and match["name"] == artifact:
            found[f"v{match['v']}"] = sha
    return found


def latest(versions: Mapping[str, str]) -> str | None:
    """The highest of ``versions`` (semantic order), None when there is none."""
    return max(versions, key=parse_version) if versions else None


def stages(tags: Mapping[str, str], artifact: str) -> dict[str, str]:
    """Stage -> version in effect, from GTO's tags (``tags``: tag name -> commit): per stage
    the assignment with the highest number wins; an unassignment (``#stage!#n``) empties it.
    The version is the one registered on the assignment's commit (the highest if several)."""
    versions = registered(tags, artifact)
    by_commit: dict[str, str] = {}
    for version in sorted(versions, key=parse_version):
        by_commit[versions[version]] = version
    newest: dict[str, tuple[int, str, bool]] = {}
    for tag, sha in tags.items():
        match = _ASSIGN.match(tag)
        if match and match["name"] == artifact:
            number = int(match["n"])
            if number > newest.get(match["stage"], (-1, "", False))[0]:
                newest[match["stage"]] = (number, sha, bool(match["gone"]))
    return {
        stage: by_commit[sha]
        for stage, (_, sha, gone) in sorted(newest.items())
        if not gone and sha in by_commit
    }


def stages_line(in_stage: Mapping[str, str], artifact: str) -> str:
    """``model: prod v1.2.0, staging v1.3.0`` (what the monitor and the drift issue say)."""
    if not in_stage:
        return f"{artifact}: no stage assigned in the registry yet"
    return f"{artifact}: " + ", ".join(f"{stage} {v}" for stage, v in sorted(in_stage.items()))


# --------------------------------------------------------------------------- rule (pure)
def _outs_md5(lock: Mapping[str, Any], path: str) -> str | None:
    for stage in (lock.get("stages") or {}).values():
        for entry in stage.get("outs") or []:
            if entry.get("path") == path:
                return entry.get("md5")
    return None


def _data_md5s(lock: Mapping[str, Any], path: str) -> set[str]:
    return {
        str(entry.get("md5"))
        for stage in (lock.get("stages") or {}).values()
        for entry in stage.get("deps") or []
        if entry.get("path") == path
    }


def _schema_params(lock: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for stage in (lock.get("stages") or {}).values():
        for values in (stage.get("params") or {}).values():
            found.update({k: v for k, v in values.items() if k.split(".")[0] == "schema"})
    return found


def bump_of(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], model: str, data: str
) -> str | None:
    """What the change from lock ``old`` (the latest version's; None: nothing registered)
    to lock ``new`` registers: None (same model), "first", "minor" (data or schema
    changed) or "patch". ``model``/``data``: their paths as dvc.lock writes them."""
    new_md5 = _outs_md5(new, model)
    if new_md5 is None:
        raise RegistryError(f"dvc.lock records no output {model}: run `make repro` first")
    if old is None:
        return "first"
    if _outs_md5(old, model) == new_md5:
        return None
    same_data = _data_md5s(old, data) == _data_md5s(new, data)
    return "patch" if same_data and _schema_params(old) == _schema_params(new) else "minor"


def next_version(current: str | None, bump: str) -> str:
    """``current`` bumped (``minor`` or ``patch``); v0.1.0 when nothing is registered."""
    if current is None:
        return "v{}.{}.{}".format(*FIRST)
    major, minor, patch = parse_version(current)
    return f"v{major}.{minor + 1}.0" if bump == "minor" else f"v{major}.{minor}.{patch + 1}"


# --------------------------------------------------------------------------- the repository
def artifact_name(dvc_yaml: Path = Path("dvc.yaml")) -> str:
    """The artifact of type ``model`` that ``dvc.yaml`` declares (``artifacts:``)."""
    if not dvc_yaml.is_file():
        raise RegistryError(f"{dvc_yaml} not found: run this in the project's root folder")
    artifacts = (yaml.safe_load(dvc_yaml.read_text()) or {}).get("artifacts") or {}
    models = [name for name, spec in artifacts.items() if (spec or {}).get("type") == "model"]
    if len(models) != 1:
        raise RegistryError(
            f"{dvc_yaml} must declare exactly one artifact of type model under `artifacts:` "
            f"(found {models or 'none'}): the registry's versions and stages are its tags"
        )
    return models[0]


def read_tags(cwd: Path | None = None) -> dict[str, str]:
    """Every tag of the repository -> the commit it names (annotated tags peeled)."""
    out = git_out(
        "for-each-ref", "refs/tags", "--format=%(refname:short) %(*objectname) %(objectname)",
        cwd=cwd,
    )  # fmt: skip
    tags = {}
    for line in out.splitlines():
        name, *shas = line.split()
        tags[name] = shas[0]  # the peeled commit of an annotated tag comes first
    return tags


@dataclass(frozen=True)
class Plan:
    """The version of HEAD's model: ``new`` when registering it is the merge's job."""

    version: str
    new: bool
    bump: str | None
    artifact: str


def _lock(text: str | None, where: str) -> dict[str, Any]:
    if text is None:
        raise RegistryError(f"no dvc.lock at {where}: the registered commit must record the model")
    return yaml.safe_load(text) or {}


def plan(params: Params, cwd: Path | None = None) -> Plan:
    """What HEAD registers: the latest version again when its model is HEAD's (nothing new),
    else the next version by the rule of :func:`bump_of`."""
    artifact = artifact_name((cwd or Path()) / "dvc.yaml")
    versions = registered(read_tags(cwd), artifact)
    current = latest(versions)
    lock = params.serve.lock
    new = _lock(read_at("HEAD", lock, cwd), "HEAD")
    old = _lock(read_at(versions[current], lock, cwd), current) if current else None
    bump = bump_of(old, new, params.paths.model.as_posix(), params.paths.raw.as_posix())
    if bump is None and current:
        return Plan(current, False, None, artifact)
    return Plan(next_version(current, bump or "first"), True, bump, artifact)


REASONS = {"first": "the first version", "minor": "data or schema changed",
           "patch": "params or code changed"}  # fmt: skip


def plan_line(found: Plan) -> str:
    """One sentence about :func:`plan`'s answer."""
    if not found.new:
        return f"registry: the model is {found.artifact}@{found.version} already: registers nothing"
    reason = REASONS[found.bump or "first"]
    return f"registry: this model registers {found.artifact}@{found.version} ({reason})"


def report_line(params: Params) -> str:
    """The PR report's line: the version merging this head registers (or none); why it is
    unknown when the registry cannot be read (the tags not fetched)."""
    try:
        found = plan(params)
    except UserError as exc:
        return f"**Registry:** unknown ({exc})"
    name = f"`{found.artifact}@{found.version}`"
    if not found.new:
        return f"**Registry:** the model is {name} already: merging registers nothing."
    reason = REASONS[found.bump or "first"]
    return f"**Registry:** merging registers {name} ({reason}) and assigns it `{STAGING}`."


def stages_now(cwd: Path | None = None) -> str:
    """:func:`stages_line` of the repository's tags (the drift issue's line); says so when
    they cannot be read."""
    try:
        artifact = artifact_name((cwd or Path()) / "dvc.yaml")
        return stages_line(stages(read_tags(cwd), artifact), artifact)
    except (UserError, OSError) as exc:
        return f"registry stages unknown ({exc})"


def gto(*args: str, cwd: Path | None = None) -> str:
    """Run GTO (installed with DVC, next to this Python); its output, or a RegistryError."""
    command = [str(Path(sys.executable).parent / "gto"), *args]
    print("+ gto " + " ".join(args), flush=True)
    env = dict(os.environ)
    if not git("config", "user.email", cwd=cwd).stdout.strip():  # a runner has no identity
        for role in ("AUTHOR", "COMMITTER"):  # the tagger of GTO's annotated tags
            env.setdefault(f"GIT_{role}_NAME", TAGGER[0])
            env.setdefault(f"GIT_{role}_EMAIL", TAGGER[1])
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).removeprefix("❌ ")
        raise RegistryError(f"`gto {' '.join(args[:2])}` failed (exit {done.returncode}): {said}")
    return done.stdout


def newest_tag_time(artifact: str, cwd: Path | None = None) -> int | None:
    """The tagger time (Unix seconds) of the newest of ``artifact``'s GTO tags."""
    out = git_out("for-each-ref", "refs/tags", "--format=%(taggerdate:unix) %(refname:short)",
                  cwd=cwd)  # fmt: skip
    times = [
        int(when)
        for when, _, tag in (line.partition(" ") for line in out.splitlines())
        if when
        and (found := _VERSION.match(tag) or _ASSIGN.match(tag))
        and found["name"] == artifact
    ]
    return max(times, default=None)


def wait_for_next_second(artifact: str, cwd: Path | None = None) -> None:
    """Make the next tag's time later than every earlier tag's of ``artifact``.

    GTO (``gto show``, DVC Studio, the VS Code extension) orders assignments by their tag's
    time in whole seconds, :func:`stages` by their number: two assignments in one second
    could make them name different versions. A clock behind the newest tag by more than
    MAX_CLOCK_LAG is refused: its tag would sort before the older ones in GTO."""
    newest = newest_tag_time(artifact, cwd)
    if newest is None:
        return
    lag = newest + 1 - time.time()
    if lag > MAX_CLOCK_LAG:
        raise RegistryError(
            f"this machine's clock is {lag:.0f} s behind {artifact}'s newest tag: GTO would "
            "order a new tag before it. Set the clock right (NTP) and run this again."
        )
    if lag > 0:
        time.sleep(lag)


def register(plan_: Plan, message: str, cwd: Path | None = None) -> list[str]:
    """Tag HEAD as ``plan_.version`` and assign it STAGING; the tags created."""
    sha = head(cwd)
    wait_for_next_second(plan_.artifact, cwd)
    gto("register", plan_.artifact, sha, "--version", plan_.version, "-m", message, cwd=cwd)
    return [
        f"{plan_.artifact}@{plan_.version}",
        *assign(plan_.artifact, plan_.version, STAGING, cwd),
    ]


def assign(artifact: str, version: str, stage: str, cwd: Path | None = None) -> list[str]:
    """Put the registered ``version`` in ``stage`` (a new ``#stage#n`` tag; --force when it
    was there before: a rollback); [] when it is in that stage already."""
    tags = read_tags(cwd)
    versions = registered(tags, artifact)
    version = normal(version)
    if version not in versions:
        known = ", ".join(sorted(versions, key=parse_version)) or "none yet"
        raise RegistryError(
            f"{artifact}@{version} is not registered (registered: {known}). A merge to main "
            "registers each new model; `make registry` lists them."
        )
    if stages(tags, artifact).get(stage) == version:
        print(f"registry: {artifact} {version} is in {stage} already")
        return []
    message = f"{artifact} {version} -> {stage}"
    wait_for_next_second(artifact, cwd)
    gto("assign", artifact, "--version", version, "--stage", stage, "--force", "-m", message,
        cwd=cwd)  # fmt: skip
    now = read_tags(cwd)
    return sorted(set(now) - set(tags))


def tags_push_url() -> str:
    """Where tags are pushed: REGISTRY_PUSH_URL (any git URL, e.g. a local bare repository
    in the tests), else in Actions the workflow's repository with the job's token, else
    origin."""
    if explicit := os.environ.get("REGISTRY_PUSH_URL"):
        return explicit
    token, repo = os.environ.get("GH_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
    if not token or not repo:
        return "origin"
    scheme, host = os.environ.get("GITHUB_SERVER_URL", "https://github.com").split("://", 1)
    return f"{scheme}://x-access-token:{token}@{host}/{repo}.git"


def push_tags(tags: list[str], cwd: Path | None = None) -> None:
    """Push ``tags`` (GTO's annotated tags) to :func:`tags_push_url`."""
    if not tags:
        return
    url = tags_push_url()
    shown = re.sub(r"//[^@/]*@", "//", url)  # never the token
    print(f"+ git push {shown} " + " ".join(tags), flush=True)
    done = git("push", url, *(f"refs/tags/{tag}" for tag in tags), cwd=cwd)
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).replace(url, shown)
        raise RegistryError(
            f"pushing {' '.join(tags)} to {shown} failed: {said}. In Actions the job that "
            "tags needs `permissions: contents: write` and GH_TOKEN; locally, push rights."
        )


def commit_of(artifact: str, version: str, cwd: Path | None = None) -> str:
    """The commit registered as ``version``."""
    versions = registered(read_tags(cwd), artifact)
    version = normal(version)
    if version not in versions:
        raise RegistryError(f"{artifact}@{version} is not registered: `make registry` lists them")
    return versions[version]


def check_out(sha: str, cwd: Path | None = None) -> None:
    """Make the working tree the commit ``sha`` (detached): the deploy of a registered
    version reads its dvc.lock, params.yaml and deploy/, not those of the branch."""
    git_out("checkout", "--quiet", "--detach", sha, cwd=cwd)


def tag_message(params: Params, version: str) -> str:
    """The annotated tag's message, the version's release notes: model and data MD5
    (dvc.lock), the commit and the metrics (metrics.json) of the registered model."""
    from mlops.serving.model import locked_md5

    lock = params.serve.lock
    metrics = json.loads(params.paths.metrics.read_text()) if params.paths.metrics.exists() else {}
    numbers = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    lines = [
        f"{params.serve.name} {version}",
        "",
        f"model MD5 (dvc.lock): {locked_md5(lock, params.paths.model)}",
        f"data MD5 (dvc.lock): {locked_md5(lock, params.paths.raw, kind='deps')}",
        f"commit: {head()}",
        "metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in numbers.items()),
    ]
    return "\n".join(lines)
