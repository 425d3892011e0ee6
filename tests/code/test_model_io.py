import io
import zipfile

import numpy as np
import pytest
import skops.io as sio

from mlops.core import model_io
from mlops.pipeline.train import features_and_target, train


@pytest.fixture(scope="module")
def fitted(params):
    from tests.conftest import make_table

    small = params.train.model_copy(update={"hist_gradient_boosting": {"max_iter": 20}})
    table = make_table(params)
    return train(table, params.schema, small), features_and_target(table, params.schema)[0]


def test_round_trip_predicts_the_same(tmp_path, fitted):
    model, features = fitted
    path = tmp_path / "models" / "model.skops"
    model_io.save(model, path)
    loaded = model_io.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))


def test_same_model_same_bytes(fitted):
    # dvc.lock records the model's MD5: it must not change when nothing changed
    model, _ = fitted
    assert model_io.dumps(model) == model_io.dumps(model)


class Payload:
    """Stands for code an attacker smuggles into a model file."""

    def __init__(self) -> None:
        self.command = "rm -rf /"


def test_untrusted_type_is_refused(fitted):
    model, _ = fitted
    model.named_steps["model"].payload = Payload()
    try:
        data = sio.dumps(model)
    finally:
        del model.named_steps["model"].payload
    with pytest.raises(model_io.UntrustedModelError, match=r"test_model_io\.Payload"):
        model_io.loads(data, source="evil.skops")


def test_no_pickle_inside(fitted):
    model, _ = fitted
    with zipfile.ZipFile(io.BytesIO(model_io.dumps(model))) as archive:
        assert not [n for n in archive.namelist() if n.endswith((".pkl", ".pickle"))]


def test_missing_model_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="make run"):
        model_io.load(tmp_path / "model.skops")
