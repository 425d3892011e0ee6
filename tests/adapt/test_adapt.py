"""Adapting the template to other data: the three-file edit, proven end to end.

The template promises that a fork points it at its own data by editing only
``src/mlops/yours/dataset.py`` (the FIXME::REQUIRED module), the ``schema`` and ``prepare``
sections of ``params.yaml`` (and, optionally, the names in ``serve``), and the data itself
(``dvc add`` -> ``data.dvc``). This test makes such forks (``forks.py``): in a temporary git
repository holding the template's files, it writes a synthetic data set whose columns,
types, size and time range share nothing with the flights default, swaps in the fork's
``dataset.py``, rewrites those params sections, and runs the fork's own fast suite and model
tests. Two forks: a customer-churn table (``fork/dataset.py``) and hourly air-quality
readings whose first feature is a required int, with balanced classes and other years
(``fork_air/dataset.py``). On the churn fork it then runs, with no other change, what CI
runs: the pipeline (``mlops repro``), the PR report against the adapted main branch, the
service's request schema and prediction path, and the monitor on a prediction log of the
new data's production window.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from mlops.core import model_io
from mlops.core.config import load_params
from mlops.monitoring.replay import months_after, window_records
from mlops.serving.api import record_model
from mlops.serving.predictor import Predictor
from mlops.serving.predlog import PredictionLog, read_log
from tests.adapt.forks import CHURN, CHURN_ROWS, FORKS, Fork
from tests.repocopy import copy_files

pytestmark = pytest.mark.slow

FORK_EDITS = {"data.dvc", "params.yaml", "src/mlops/yours/dataset.py"}
FEATURES = CHURN.features  # the end-to-end checks below are written for the churn fork


# --------------------------------------------------------------------------- the fork's edit
def replace_section(text: str, name: str, block: str) -> str:
    """``params.yaml`` text with the top-level section ``name`` replaced by ``block``
    (comments elsewhere kept, as a person editing the file would)."""
    pattern = re.compile(rf"^{name}:\n(?:(?:[ #].*)?\n)*?(?=^\S)", re.MULTILINE)
    assert pattern.search(text), f"no top-level section '{name}:' in params.yaml"
    return pattern.sub(lambda _: block + "\n", text, count=1)


# --------------------------------------------------------------------------- running things
def _env(repo: Path) -> dict[str, str]:
    env = dict(os.environ)
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        # compile each module once for all of this test's subprocesses, in a private folder,
        # instead of once per subprocess (about 10 s of CPU each on a 2-core runner)
        env["PYTHONPYCACHEPREFIX"] = f"{repo}-pycache"
    return {
        **env,
        # `python` in dvc.yaml is this interpreter; `mlops` is the fork's copy, not ours
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(repo / "src"),
        "DVC_NO_ANALYTICS": "1",
        # one OpenMP thread: on a shared runner, the booster's busy-waiting threads make
        # training 20-50x slower than one thread; the wiring is under test, not the speed
        "OMP_NUM_THREADS": "1",
        "BENTOML_HOME": f"{repo}-bentoml",
        "BENTOML_DO_NOT_TRACK": "True",
    }


def run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=repo, env=_env(repo), capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed in the fork:\n{result.stdout}\n{result.stderr}")
    return result


def mlops(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(repo, sys.executable, "-m", "mlops", *args, check=check)


def git(repo: Path, *args: str) -> str:
    return run(repo, "git", *args).stdout


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", params=FORKS, ids=str)
def fork(request, tmp_path_factory) -> Path:
    """Each example fork: the template's tracked files, committed on main, then the fork's
    three-file edit."""
    return build_fork(tmp_path_factory.mktemp(request.param.name), request.param)


@pytest.fixture(scope="module")
def churn(tmp_path_factory) -> Path:
    """The churn fork, for the end-to-end checks (pipeline, report, service, monitor)."""
    return build_fork(tmp_path_factory.mktemp("churn"), CHURN)


def build_fork(repo: Path, fork: Fork) -> Path:
    """In the empty folder ``repo``: the template as forked (committed on main), then the
    fork's three-file edit, not committed. ``python -c 'from tests.adapt.test_adapt import
    build_fork; from tests.adapt.forks import AIR; build_fork(Path(...), AIR)'`` makes one
    to look around in."""
    copy_files(repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "fork@example.com")
    git(repo, "config", "user.name", "fork")
    git(repo, "config", "commit.gpgsign", "false")
    commit_all(repo, "the template, as forked")

    # The fork's edit: the dataset module, the params' schema/prepare (and serve name), data.
    shutil.copyfile(fork.dataset, repo / "src/mlops/yours/dataset.py")
    params = repo / "params.yaml"
    text = replace_section(params.read_text(), "schema", fork.schema)
    text = replace_section(text, "prepare", fork.prepare)
    serve_name = rf"\g<1>{fork.serve_name}"
    text, renamed = re.subn(r"(?m)^(serve:\n(?:.*\n)*?  name: )\S+", serve_name, text)
    assert renamed == 1, "params.yaml has no serve.name to rename"
    params.write_text(text)
    fork.write_data(repo / "data")
    run(repo, sys.executable, "-m", "dvc", "add", "-q", "data")
    return repo


def run_fork_tests(repo: Path, name: str, *args: str) -> ElementTree.Element:
    """The fork's own pytest on ``args``; its JUnit report's summary (fails on exit != 0)."""
    report = repo.parent / f"{repo.name}-{name}-junit.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs",
         f"--junitxml={report}", *args],
        cwd=repo, env=_env(repo), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, f"the fork's tests failed:\n{result.stdout[-6000:]}"
    return ElementTree.parse(report).getroot().find("testsuite")


@pytest.fixture(scope="module")
def adapted(churn: Path) -> Path:
    """The churn fork after `mlops repro`, committed on main (what CI runs on the first
    push)."""
    result = mlops(churn, "repro")
    for stage in ("validate", "prepare", "train", "evaluate"):
        assert f"Running stage '{stage}'" in result.stdout, result.stdout
    commit_all(churn, "adapt the template to the churn data")
    return churn


# --------------------------------------------------------------------------- the tests
def test_the_fork_edits_three_files_and_keeps_every_other_param(fork, request):
    changed = {line[3:] for line in git(fork, "status", "--porcelain").splitlines()}
    assert changed == FORK_EDITS, f"a fork had to touch more than {sorted(FORK_EDITS)}"
    before = yaml.safe_load(git(fork, "show", "HEAD:params.yaml"))
    after = yaml.safe_load((fork / "params.yaml").read_text())
    edited = ("schema", "prepare", "serve")
    assert {k: v for k, v in before.items() if k not in edited} == {
        k: v for k, v in after.items() if k not in edited
    }
    assert {k: v for k, v in before["serve"].items() if k != "name"} == {
        k: v for k, v in after["serve"].items() if k != "name"
    }
    declared = yaml.safe_load(request.node.callspec.params["fork"].schema)["schema"]
    assert after["schema"] == declared


# The fork's own suite, before its pipeline runs: every test that is not slow (what `make
# test-fast` runs), and the model tests on the fork's real data. Facts of the flights data are
# marked default_data; every other test derives what it needs from params.yaml.
def test_the_forks_own_tests_pass_and_skip_only_the_default_data_facts(fork):
    before = git(fork, "status", "--porcelain")
    fast = run_fork_tests(fork, "fast", "-m", "not slow")
    model = run_fork_tests(fork, "model", "tests/model")
    for suite, at_least in [(fast, 100), (model, 4)]:
        ran = int(suite.get("tests")) - int(suite.get("skipped"))
        assert ran >= at_least, f"only {ran} of the fork's tests ran"
        assert suite.get("failures") == suite.get("errors") == "0"
    skipped = [
        case.find("skipped").get("message", "")
        for suite in (fast, model)
        for case in suite.iter("testcase")
        if case.find("skipped") is not None
    ]
    default_only = [m for m in skipped if "embedded default data" in m]
    assert len(default_only) >= 15, skipped  # row counts, flights files, directions, ...
    assert all("data.dvc pins other data" in m for m in default_only)
    # and a test that needs a kind of feature this schema lacks (an open category, ...)
    lacking = {m for m in skipped if re.fullmatch(r"schema\.features .* has no .* feature.*", m)}
    others = set(skipped) - set(default_only) - lacking
    assert others <= {
        "this dataset.py has no embedded copy (a fork): no default_data tests run",
        "the spread needs an idle core (load average >= cores - 1)",  # the machine, not the data
    }
    assert git(fork, "status", "--porcelain") == before, "the fork's tests changed its files"


def test_the_pipeline_trains_on_the_new_data(adapted):
    validation = json.loads((adapted / "reports/validation.json").read_text())
    assert validation["rows"] == CHURN_ROWS
    assert 0.15 < validation["target_rate"] < 0.4
    assert list(validation["profile"]["features"]) == FEATURES
    assert validation["missing"].keys() == {"region", "monthly_charges", "support_calls"}
    metrics = json.loads((adapted / "reports/metrics.json").read_text())
    assert metrics["roc_auc"] > 0.7, metrics  # chance is 0.5; the signal is learnable
    assert metrics["rows"]["test"] > 500
    importance = json.loads((adapted / "reports/plots/importance.json").read_text())
    assert {row["feature"] for row in importance["importance"]} == set(FEATURES)
    assert len(list((adapted / "reports/figures").glob("*.png"))) == 5
    status = run(adapted, sys.executable, "-m", "dvc", "status", "--json").stdout
    assert status.strip() == "{}"


def _production_requests(repo: Path, schema):
    production = pd.read_parquet(repo / "artifacts/split/production.parquet")
    start = load_params(repo / "params.yaml").prepare.production_start
    return [
        request
        for month in months_after(production[schema.time], start)
        for request in window_records(production, schema, month, count=len(production))
    ]


def test_the_service_schema_and_prediction_follow_the_params(adapted):
    params = load_params(adapted / "params.yaml")
    record = record_model(params.schema)
    properties = record.model_json_schema()["properties"]
    assert list(properties) == FEATURES
    assert "basic, standard, premium" in properties["plan"]["description"]
    assert properties["tenure_months"]["type"] == "integer"
    assert {t.get("type") for t in properties["monthly_charges"]["anyOf"]} == {"number", "null"}
    assert properties["autopay"]["type"] == "string"

    requests = _production_requests(adapted, params.schema)
    model = model_io.load(adapted / params.paths.model)
    predictor = Predictor(model, params.schema, params.evaluate.threshold, "fork")
    good = record.model_validate(requests[0].record).model_dump()
    (prediction,) = predictor.predict([good])
    assert 0.0 <= prediction["probability"] <= 1.0
    assert prediction["label"] in {"churned", "stayed"}

    for bad, field in [
        ({**good, "tenure_months": "ten"}, "tenure_months"),
        ({k: v for k, v in good.items() if k != "autopay"}, "autopay"),
        ({**good, "carrier": "AA"}, "carrier"),  # the default's feature is no field here
        ({**good, "monthly_charges": float("inf")}, "monthly_charges"),
    ]:
        with pytest.raises(ValidationError) as error:
            record.model_validate(bad)
        assert field in str(error.value)


def test_the_bentoml_service_serves_the_new_schema(adapted):
    """The real service module, imported in the fork with the fork's model in its store."""
    script = (
        "import json\n"
        "from mlops.release.bento import import_model\n"
        "from mlops.core.config import load_params\n"
        "p = load_params('params.yaml')\n"
        "import_model(p)  # what `make bento` does first\n"
        "import mlops.serving.service as s\n"
        "print(s.MODEL_TAG)\n"
        "print(json.dumps(s.ModelService.openapi_spec.asdict()))\n"
    )
    lines = run(adapted, sys.executable, "-c", script).stdout.strip().splitlines()
    assert lines[0].startswith(f"{CHURN.serve_name}:")
    spec = json.dumps(json.loads(lines[-1]))
    for name in FEATURES:
        assert f'"{name}"' in spec
    for leftover in ("carrier", "scheduled_departure", "ORD"):  # nothing of the default
        assert f'"{leftover}"' not in spec
    assert '"north"' in spec  # schema.features.region.example


def test_the_monitor_judges_a_log_of_the_new_production_window(adapted):
    params = load_params(adapted / "params.yaml")
    schema = params.schema
    record = record_model(schema)
    model = model_io.load(adapted / params.paths.model)
    predictor = Predictor(model, schema, params.evaluate.threshold, "fork")
    requests = _production_requests(adapted, schema)
    assert len(requests) > params.monitor.min_rows
    logs = adapted / "logs"
    log = PredictionLog(logs / "predictions", params.serve)  # the service's log writer
    records = [record.model_validate(r.record).model_dump() for r in requests]
    try:
        log.write(
            records,
            predictor.predict(records),
            version="fork",
            request_ids=[r.request_id for r in requests],
        )
    finally:
        log.close()
    assert len(read_log(logs / "predictions")) == len(requests)
    with (logs / "labels.jsonl").open("w") as labels:
        for r in requests:
            labels.write(json.dumps({"request_id": r.request_id, schema.target: r.label}) + "\n")

    logs = ("--logs", "logs/predictions", "--labels", "logs/labels.jsonl")
    mlops(adapted, "monitor", *logs)
    summary = json.loads((adapted / "monitor-report/summary.json").read_text())
    assert list(summary["data_drift"]["features"]) == FEATURES
    drifted = set(summary["data_drift"]["drifted_features"])
    assert {"monthly_charges", "support_calls"} <= drifted  # the price rise from November
    assert "plan" not in drifted and "autopay" not in drifted
    assert summary["verdict"] == "drift"
    assert summary["performance"]["labelled"] == len(requests)
    assert "monthly_charges" in (adapted / "monitor-report/summary.md").read_text()


def test_the_pr_report_compares_a_branch_with_the_adapted_main(adapted):
    """Last in this module: it leaves the fork on a branch with a changed threshold."""
    base = json.loads((adapted / "reports/metrics.json").read_text())
    git(adapted, "checkout", "-q", "-b", "higher-threshold")
    params = adapted / "params.yaml"
    params.write_text(params.read_text().replace("threshold: 0.3 ", "threshold: 0.45", 1))
    git(adapted, "commit", "-qam", "a higher decision threshold")  # the PR's change
    result = mlops(adapted, "repro")  # what the PR workflow runs, then the report
    assert "Running stage 'evaluate'" in result.stdout
    assert "Running stage 'train'" not in result.stdout
    mlops(adapted, "report", "--base", "main")
    report = (adapted / "pr-report/report.md").read_text()
    head = json.loads((adapted / "reports/metrics.json").read_text())
    assert head["f1"] != base["f1"]
    assert f"ROC AUC {head['roc_auc']:.4f} vs {base['roc_auc']:.4f} on main" in report
    f1 = rf"\| F1 ↑ \| \**{head['f1']:.4f}\** \| [^|]* \| {base['f1']:.4f} \|"  # | interval |
    assert re.search(f1, report), report
    assert "| `evaluate.threshold` | 0.3000 | 0.4500 |" in report
    assert "Data unchanged" in report
    assert "support_calls" in report  # the importance chart names the new features
    assert "carrier" not in report
    assert "flight" not in report.lower()
