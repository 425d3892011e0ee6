"""The service's container image: built from the latest bento by BentoML (needs Docker),
tagged with the commit and the model version, optionally pushed."""

from __future__ import annotations

import sys
from pathlib import Path

from mlops.core.github import commit, set_output
from mlops.release.tools import run

BUILT_IMAGE = Path("build/image.txt")  # the image built last: what `make deploy` deploys


def image_tags(image: str, version: str) -> list[str]:
    """IMAGE:<commit sha> and IMAGE:model-<model version>."""
    if not image or ":" in image.rsplit("/", 1)[-1]:
        raise ValueError(f"--image must be a repository without a tag, got {image!r}")
    return [f"{image}:{commit().removesuffix('-dirty')}", f"{image}:model-{version}"]


def containerize(bento: str, tags: list[str], push: bool) -> None:
    """Build the image of ``bento`` with every tag of ``tags``, push them if asked, and
    record the first in build/image.txt and the step output ``image`` (the deploy jobs')."""
    command = [str(Path(sys.executable).parent / "bentoml"), "containerize", bento]
    for tag in tags:
        command += ["-t", tag]
    run(command, "containerize")
    if push:
        for tag in tags:
            run(["docker", "push", tag], "push")
    BUILT_IMAGE.parent.mkdir(exist_ok=True)
    BUILT_IMAGE.write_text(tags[0] + "\n")
    set_output("image", tags[0])


def built_image() -> str:
    """The image `make push` built (build/image.txt)."""
    if not BUILT_IMAGE.exists():
        raise ValueError("no --image given and no build/image.txt: run `make push` first")
    return BUILT_IMAGE.read_text().strip()
