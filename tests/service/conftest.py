"""Fixtures of the service tests: a small real model in a throwaway project and server.

Nothing here touches the repository's models/, dvc.lock or the user's BentoML store: a
session-wide temporary project holds params.yaml (the repository's, with paths and a
`serve` section pointed inside it), a model trained on a synthetic table, a dvc.lock that
records its MD5 and a private BENTOML_HOME. Servers run on 127.0.0.1 with a free port and
are stopped on every exit path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops.core import model_io
from mlops.pipeline.train import train
from mlops.release.localserver import HOST, Server, bentoml_command, free_port, running
from mlops.serving.model import md5_of
from tests.conftest import ROOT, make_table, merged

MAX_BATCH = 50
SERVICE = "mlops.serving.service:ModelService"


@dataclass
class Project:
    root: Path
    params: Path
    env: dict[str, str]
    log: Path

    def write_lock(self, md5: str) -> None:
        lock = {
            "schema": "2.0",
            "stages": {
                "validate": {"deps": [{"path": "data", "md5": "0" * 32 + ".dir"}]},
                "train": {"outs": [{"path": "models/model.skops", "md5": md5}]},
            },
        }
        (self.root / "dvc.lock").write_text(yaml.safe_dump(lock))


def write_params(root: Path, **serve: Any) -> Path:
    """The repository's params.yaml in ``root`` with ``serve`` merged into its serve section
    (a small batch limit and a log under ``root`` unless given): every other setting is the
    file's, as there is no default in code."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["serve"] = merged(
        raw["serve"],
        {"max_batch_records": MAX_BATCH, "prediction_log": "logs/predictions", **serve},
    )
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def small_model(params):
    small = params.train.model_copy(update={"hist_gradient_boosting": {"max_iter": 20}})
    return train(make_table(params), params.schema, small)


@pytest.fixture(scope="session", autouse=True)
def service_root(tmp_path_factory) -> Iterator[Path]:
    """The session's throwaway project folder; its BentoML home is this process's.

    BentoML binds a process to ``$BENTOML_HOME`` the first time it touches a store, for
    good: set here, before any service test runs, so every in-process use (the project's
    import, a test's own model) is the private store, never ``~/bentoml``."""
    root = tmp_path_factory.mktemp("service")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENTOML_HOME", str(root / "bentoml"))
        yield root


@pytest.fixture(scope="session")
def project(service_root, small_model) -> Iterator[Project]:
    """A throwaway project with the model imported into a private BentoML store."""
    root = service_root
    # one worker: the session's server starts sooner and /metrics counts one process
    params_path = write_params(root, workers=1)
    model_path = root / "models" / "model.skops"
    model_io.save(small_model, model_path)
    project = Project(
        root=root,
        params=params_path,
        env={
            "BENTOML_HOME": str(root / "bentoml"),
            "MLOPS_PARAMS": str(params_path),
            "BENTOML_DO_NOT_TRACK": "True",
        },
        log=root / "logs" / "predictions",
    )
    project.write_lock(md5_of(model_path))
    with pytest.MonkeyPatch.context() as mp:
        for key, value in project.env.items():
            mp.setenv(key, value)
        mp.chdir(root)
        from mlops.core.config import load_params
        from mlops.release.bento import import_model

        tag, _ = import_model(load_params(params_path))
    stored = root / "bentoml" / "models" / tag.replace(":", "/")
    assert stored.is_dir(), (
        f"{tag} went to another BentoML store than {root / 'bentoml'}: something used BentoML "
        "in this process before the service tests (see service_root)"
    )
    assert (stored / "fastpath.npz").is_file(), "make bento stores the compiled fast path"
    yield project


def server_home(project: Project, name: str) -> Path:
    """A BentoML home of this server's own that shares the project's model store.

    Every `bentoml serve` empties ``$BENTOML_HOME/prometheus_multiproc_dir`` when it starts,
    the files its workers' counters live in: servers sharing one home would wipe each
    other's `/metrics` (seen: a counter read 0 after another test started its server)."""
    home = project.root / f"bentoml-{name}"
    home.mkdir(exist_ok=True)
    models = home / "models"
    if not models.exists():
        models.symlink_to(Path(project.env["BENTOML_HOME"]) / "models", target_is_directory=True)
    return home


def serve(project: Project, log_name: str, **env: str):
    port = free_port()
    home = server_home(project, Path(log_name).stem)
    return running(
        bentoml_command(SERVICE, port),
        f"http://{HOST}:{port}",
        project.root / log_name,
        timeout=90,
        env={**project.env, "BENTOML_HOME": str(home), **env},
        cwd=project.root,
        progress=False,
    )


@pytest.fixture(scope="session")
def server(project: Project) -> Iterator[Server]:
    """The service from source, running on 127.0.0.1 for the whole session."""
    with serve(project, "server.log") as running_server:
        yield running_server


@pytest.fixture(scope="session")
def example(params) -> dict[str, Any]:
    from mlops.serving.api import example_record

    return example_record(params.schema)
