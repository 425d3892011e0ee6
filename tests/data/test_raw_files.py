"""A broken raw file is reported by file, column, rule and row count; never a traceback."""

import pandas as pd
import pytest

from mlops import dataset
from mlops.errors import DataValidationError
from mlops.validate import validate
from tests.bad_inputs import CASES
from tests.conftest import write_sample_raw


@pytest.fixture(scope="module")
def sample_raw(real_raw_dir, tmp_path_factory):
    raw = tmp_path_factory.mktemp("sample") / "data"
    write_sample_raw(real_raw_dir, raw, flights_per_month=200)
    return raw


@pytest.fixture
def raw(sample_raw, tmp_path):
    copy = tmp_path / "data"
    copy.mkdir()
    for path in dataset.raw_files(sample_raw):
        (copy / path.name).write_bytes(path.read_bytes())
    return copy


def test_sample_is_valid(raw, params):
    labelled, _ = validate(dataset.load_table(raw), params.schema, params.validation)
    assert len(labelled) > 2000


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_raw_input_is_explained(raw, params, case):
    corrupt, fragments = CASES[case]
    corrupt(raw)
    with pytest.raises((DataValidationError, pd.errors.EmptyDataError)) as excinfo:
        validate(dataset.load_table(raw), params.schema, params.validation, source=str(raw))
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from:\n{message}"


def test_missing_raw_file(raw):
    (raw / dataset.WEATHER).unlink()
    with pytest.raises(Exception, match=r"weather\.csv is missing: run `make data`"):
        dataset.load_table(raw)
