"""A broken raw file is reported by file, column, rule and row count; never a traceback."""

import pytest

from mlops.core.errors import DataFetchError, DataValidationError
from mlops.pipeline.validate import validate
from mlops.yours import dataset
from tests.bad_inputs import CASES, case_params, fragments
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
    assert len(labelled) >= params.validation.min_rows


@pytest.mark.parametrize("case", case_params())
def test_bad_raw_input_is_explained(raw, params, case):
    expected = fragments(case, raw)
    CASES[case][0](raw)
    with pytest.raises((DataValidationError, DataFetchError, ValueError)) as excinfo:
        validate(dataset.load_table(raw), params.schema, params.validation, source=str(raw))
    message = str(excinfo.value)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} missing from:\n{message}"


@pytest.mark.parametrize("index", [0, -1], ids=["first", "last"])
def test_every_raw_file_is_checked(raw, index):
    """Whichever raw file goes missing, the loader names it (a fork with one file: twice)."""
    path = dataset.raw_files(raw)[index]
    path.unlink()
    with pytest.raises(DataFetchError, match=rf"{path.name} is missing: run `make data`"):
        dataset.load_table(raw)
