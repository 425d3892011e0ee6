"""The fast path compiled at build time (mlops.serving.prebuilt): the same probabilities as
the Pipeline, loaded without it, and refused whenever it may not be the served model's."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlops.serving import prebuilt
from mlops.serving.fastpath import compile_pipeline, pipeline_proba
from mlops.serving.predictor import Predictor, known_categories
from tests.service.test_serving import _odd_records

MD5 = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def saved(params, small_model, tmp_path) -> Path:
    path = tmp_path / prebuilt.FILE
    compiled = compile_pipeline(small_model, params.schema)
    known = known_categories(small_model, params.schema)
    assert prebuilt.store_fast_path(path, compiled, small_model, params.schema, known, MD5)
    return path


def test_the_saved_path_gives_the_pipelines_probabilities_without_the_pipeline(
    params, small_model, saved
):
    compiled, known = prebuilt.load_fast_path(saved, MD5)
    assert known == known_categories(small_model, params.schema)
    records = _odd_records(params)
    expected = pipeline_proba(small_model, params.schema, records)
    np.testing.assert_array_equal(compiled.predict_proba(records), expected)
    for i in range(0, 30):  # one record at a time: the router walk
        np.testing.assert_array_equal(
            compiled.predict_proba(records[i : i + 1]), expected[i : i + 1]
        )
    predictor = Predictor(None, params.schema, 0.3, "v", prebuilt_path=(compiled, known))
    assert predictor.engine == "compiled" and predictor.model is None
    assert [r["unknown_categories"] for r in predictor.predict(records)] == [
        predictor.unknown(r) for r in records
    ]


def rewrite(path: Path, **changes: np.ndarray) -> None:
    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    np.savez(path, **{**arrays, **changes})


def test_another_models_version_or_a_changed_answer_is_refused(saved, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger=prebuilt.__name__)
    assert prebuilt.load_fast_path(saved, "f" * 32) is None
    assert f"compiled from model {MD5}, not {'f' * 32}" in caplog.text
    assert prebuilt.load_fast_path(saved.parent / "absent.npz", MD5) is None
    assert "built before it existed" in caplog.text

    with monkeypatch.context() as patch:
        patch.setattr(prebuilt, "installed", lambda name: "0.0.1")
        assert prebuilt.load_fast_path(saved, MD5) is None
    assert "compiled with scikit-learn" in caplog.text

    with np.load(saved, allow_pickle=False) as stored:
        expected = stored["expected"]
    rewrite(saved, expected=np.nextafter(expected, 2.0))  # one bit off on every probe record
    assert prebuilt.load_fast_path(saved, MD5) is None
    assert "not the Pipeline's" in caplog.text and "loads the Pipeline" in caplog.text


def test_a_changed_tree_is_caught_by_the_probe_check(saved):
    with np.load(saved, allow_pickle=False) as stored:
        nodes = stored["tree_nodes"].copy()
    leaves = np.flatnonzero(nodes["is_leaf"] == 1)
    nodes["value"][leaves] += 0.5  # every leaf of every tree: the probe records all move
    rewrite(saved, tree_nodes=nodes)
    assert prebuilt.load_fast_path(saved, MD5) is None


def test_a_worker_serves_the_prebuilt_path_without_loading_the_pipeline(project, params):
    """In a fresh process, as a worker starts: no skops or pandas (the Pipeline is never
    loaded), and the answers are the Pipeline's, also the Pipeline's own when that process
    loads it afterwards (pandas was hidden only while scikit-learn was imported)."""
    records = _odd_records(params, rows=50)
    script = f"""
import json, sys
from pathlib import Path
from mlops.core.config import load_params
from mlops.serving.model import model_tag
from mlops.serving.predictor import serving_predictor
params = load_params({str(project.params)!r})
predictor = serving_predictor(model_tag(params), params)
records = json.loads(sys.stdin.read())
said = {{"skops": "skops" in sys.modules, "pandas": "pandas" in sys.modules,
    "model": predictor.model is not None, "engine": predictor.engine,
    "p": predictor.probabilities(records).tolist()}}
from mlops.core import model_io
from mlops.serving.fastpath import pipeline_proba
model = model_io.load(Path({str(project.root / "models" / "model.skops")!r}))
said["pipeline_p"] = pipeline_proba(model, params.schema, records).tolist()
print(json.dumps(said))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(records),
        capture_output=True,
        text=True,
        cwd=project.root,
        env={**os.environ, **project.env},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout.splitlines()[-1])
    assert said["engine"] == "compiled" and not said["model"] and not said["skops"]
    assert not said["pandas"]
    from mlops.core import model_io

    model = model_io.load(project.root / "models" / "model.skops")
    assert said["p"] == said["pipeline_p"] == pipeline_proba(model, params.schema, records).tolist()


def test_pandas_is_hidden_only_while_scikit_learn_is_first_imported():
    """Here scikit-learn is loaded already: nothing is hidden. And a failure inside the block
    leaves `import pandas` working."""
    with prebuilt.pandas_hidden():
        import pandas
    saved = {name: sys.modules.pop(name) for name in ("pandas", "sklearn")}
    try:
        with pytest.raises(RuntimeError), prebuilt.pandas_hidden():
            with pytest.raises(ImportError):
                import pandas  # noqa: F401
            raise RuntimeError("the walker failed to load")
        assert "pandas" not in sys.modules
    finally:
        sys.modules.update(saved)
