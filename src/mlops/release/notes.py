"""What went live, recorded: release notes (model version, commit, data, metrics, image) and
the GitHub release ``model-<version>`` that carries them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mlops.core.config import Params
from mlops.core.github import GhError, gh
from mlops.release.bento import labels_and_metadata
from mlops.release.tools import ReleaseError
from mlops.serving.model import locked_md5, model_version


def release_tag(params: Params) -> str:
    """``model-<version>`` of the model dvc.lock records."""
    return f"model-{model_version(locked_md5(params.serve.lock, params.paths.model))}"


def release_notes(params: Params, image: str, target: str) -> str:
    """The notes in markdown: where the model went (``target``, the deploy target, or ''),
    its commit, data and model MD5, the image and the metrics."""
    md5 = locked_md5(params.serve.lock, params.paths.model)
    labels, metadata = labels_and_metadata(params, md5)
    metrics = {k: v for k, v in metadata["metrics"].items() if isinstance(v, int | float)}
    where = (
        f"is live on the `{target}` target"
        if target
        else "was published (no deploy target configured: smoke-tested on kind only)"
    )
    lines = [
        f"Model `{params.serve.name}:{model_version(md5)}` {where}.",
        "",
        f"- commit: `{labels['git_commit']}`",
        f"- registry version: `{labels['registry_version']}` (`make registry`)",
        f"- model MD5 (dvc.lock): `{md5}`",
        f"- data MD5 (dvc.lock): `{labels['data_md5']}`",
        f"- image: `{image}`" if image else "",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {k} | {v:.4f} |" for k, v in metrics.items()),
    ]
    return "\n".join(lines) + "\n"


def write_notes(params: Params, image: str, folder: Path) -> tuple[str, Path]:
    """Write the release notes to ``folder``/release-notes.md; the release tag and the file.
    The deploy target comes from DEPLOY_TARGET (set by the deploy workflow)."""
    folder.mkdir(parents=True, exist_ok=True)
    notes = folder / "release-notes.md"
    notes.write_text(release_notes(params, image, os.environ.get("DEPLOY_TARGET", "")))
    return release_tag(params), notes


def _released(tag: str) -> bool:
    try:
        gh("release", "view", tag)
    except GhError:  # `gh release view` of an unknown tag fails
        return False
    return True


def publish(tag: str, notes: Path) -> None:
    """Create the GitHub release ``tag`` with ``notes`` (gh, GH_TOKEN) at GITHUB_SHA when
    set; a release that exists already is left as it is."""
    if not shutil.which("gh"):
        raise ReleaseError("the GitHub CLI `gh` is not installed: cannot record the release")
    if _released(tag):
        print(f"release {tag} already exists: this model was released before")
        return
    target = os.environ.get("GITHUB_SHA", "")
    command = ["release", "create", tag, "--title", tag, "--notes-file", str(notes)]
    command += ["--target", target] if target else []
    print("+ gh " + " ".join(command), flush=True)
    print(gh(*command), end="")
