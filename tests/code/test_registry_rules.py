"""The registry's pure rules: which stage holds which version (GTO's tag grammar) and which
version a change registers. On real git tags: tests/service/test_registry.py."""

from __future__ import annotations

import pytest

from mlops.release.registry import RegistryError, bump_of, next_version, stages, stages_line

TAGS = {
    "model@v0.1.0": "c1",
    "model@v0.1.1": "c2",
    "model@v0.2.0": "c3",
    "model#staging#1": "c1",
    "model#staging#3": "c3",
    "model#prod#2": "c3",
    "model#prod#4": "c2",  # a rollback: the highest number wins, not the highest version
    "other@v9.0.0": "c9",
    "other#prod#5": "c9",
    "v1.0": "c1",  # a tag of something else
}


def lock(model: str, data: str = "d1", schema: object = "a") -> dict:
    return {
        "stages": {
            "validate": {"deps": [{"path": "data", "md5": data}],
                         "params": {"params.yaml": {"schema.features": schema}}},
            "train": {"outs": [{"path": "models/model.skops", "md5": model}]},
        }
    }  # fmt: skip


def test_stage_is_the_highest_assignment_and_an_unassignment_empties_it():
    assert stages(TAGS, "model") == {"prod": "v0.1.1", "staging": "v0.2.0"}
    assert stages(TAGS, "other") == {"prod": "v9.0.0"}
    assert stages({**TAGS, "model#prod!#5": "c2"}, "model") == {"staging": "v0.2.0"}
    assert stages({}, "model") == {}
    assert stages_line(stages(TAGS, "model"), "model") == "model: prod v0.1.1, staging v0.2.0"
    assert "no stage assigned" in stages_line({}, "model")


@pytest.mark.parametrize(
    ("old", "new", "bump"),
    [
        (None, lock("m1"), "first"),
        (lock("m1"), lock("m1", data="d2"), None),  # same model MD5: nothing to register
        (lock("m1"), lock("m2"), "patch"),
        (lock("m1"), lock("m2", data="d2"), "minor"),
        (lock("m1"), lock("m2", schema="b"), "minor"),
    ],
)
def test_the_bump_follows_what_changed(old, new, bump):
    assert bump_of(old, new, "models/model.skops", "data") == bump


def test_a_lock_without_the_model_is_refused():
    with pytest.raises(RegistryError, match=r"records no output models/model\.skops"):
        bump_of(None, {"stages": {}}, "models/model.skops", "data")


def test_versions_bump_semantically():
    assert next_version(None, "patch") == "v0.1.0"
    assert next_version("v0.1.9", "patch") == "v0.1.10"
    assert next_version("v1.9.3", "minor") == "v1.10.0"


def test_the_artifact_is_dvc_yamls_one_model_or_a_clear_error(tmp_path):
    from mlops.release.registry import artifact_name
    from tests.conftest import ROOT

    assert artifact_name(ROOT / "dvc.yaml") == "model"
    with pytest.raises(RegistryError, match="not found: run this in the project's root"):
        artifact_name(tmp_path / "dvc.yaml")
    (tmp_path / "dvc.yaml").write_text("stages: {}\nartifacts:\n  data: {type: dataset}\n")
    with pytest.raises(RegistryError, match="exactly one artifact of type model"):
        artifact_name(tmp_path / "dvc.yaml")
