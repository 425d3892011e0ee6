"""A failed pipeline run is reported as failed: the record `make repro` writes, the problems
the validate stage writes, and the report and gate built from them."""

import json

import pytest

from mlops.core.config import ReportParams
from mlops.core.errors import DataFetchError
from mlops.pipeline import validate as validate_stage
from mlops.pipeline.repro import record
from mlops.report.diffs import DataDiff, data_diff
from mlops.report.failure import PipelineFailure, pipeline_failure
from mlops.report.gate import GateRules, decision, gate
from mlops.report.render import ReportInputs, render
from tests.code.report_cases import BASE, RULES
from tests.conftest import feature

PROBLEMS = [
    f"column '{name}': rule at most 5% missing (found 10.1%) broken by 33,000 rows"
    for name in ("temp", "dewp", "humid", "wind_dir", "wind_speed", "pressure", "visib")
]
VALIDATION_FAILED = {
    "passed": False,
    "source": "data (modelling table)",
    "problems": [{"message": text} for text in PROBLEMS],
    "hint": "Fix the data, or update the schema / validate sections of params.yaml.",
}
FAILED_LOG = [
    (0.0, "Running stage 'validate':\n"),
    (0.1, "> python -m mlops validate --raw data\n"),
    (3.0, "error in `validate`: data (modelling table): 7 problems found\n"),
    (3.1, "ERROR: failed to reproduce 'validate': failed to run: python -m mlops validate\n"),
]


# --------------------------------------------------------------------------- the run record
def test_the_record_names_the_stage_dvc_says_failed():
    run = record(FAILED_LOG, finished=3.2, exit_code=1)
    assert run["exit_code"] == 1 and run["failed_stage"] == "validate"
    assert run["stages"] == [{"stage": "validate", "status": "failed", "seconds": 3.2}]
    assert run["log_tail"][-1].startswith("ERROR: failed to reproduce 'validate'")
    json.dumps(run)


def test_the_record_falls_back_to_the_running_stage_and_to_none():
    lines = [(0.0, "Stage 'validate' didn't change, skipping\n"), (1.0, "Running stage 'train':\n")]
    assert record(lines, 5.0, exit_code=137)["failed_stage"] == "train"  # killed: no ERROR line
    assert record([(0.0, "ERROR: bad dvc.yaml\n")], 1.0, exit_code=1)["failed_stage"] is None
    assert record(lines, 5.0, exit_code=0)["failed_stage"] is None


# --------------------------------------------------------------------------- validate's problems
def test_validate_writes_its_problems_when_the_data_fails(
    tmp_path, params, table_factory, monkeypatch
):
    column = feature(params, "closed category")
    table = table_factory()
    table.loc[:4, column] = "ZZ"
    monkeypatch.setattr(validate_stage.dataset, "load_table", lambda raw: table)
    report = tmp_path / "reports" / "validation.json"
    with pytest.raises(Exception, match="1 problem found"):
        validate_stage.main(
            tmp_path / "raw", tmp_path / "t.parquet", report, params.schema, params.validation
        )
    written = json.loads(report.read_text())
    assert written["passed"] is False
    assert "(modelling table)" in written["source"]
    (problem,) = written["problems"]
    assert problem["column"] == column and problem["rows"] == 5 and "'ZZ'" in problem["examples"]
    assert problem["message"].startswith(f"column '{column}': rule isin")
    assert "params.yaml" in written["hint"]
    assert not (tmp_path / "t.parquet").exists()


def test_validate_writes_a_missing_file_as_one_problem(tmp_path, params):
    report = tmp_path / "validation.json"
    with pytest.raises(DataFetchError):
        validate_stage.main(
            tmp_path / "nothing", tmp_path / "t.parquet", report, params.schema, params.validation
        )
    written = json.loads(report.read_text())
    assert written["passed"] is False
    assert "is missing" in written["problems"][0]["message"]


# --------------------------------------------------------------------------- failed or not
def test_a_successful_run_is_no_failure():
    ok = record([(0.0, "Running stage 'train':\n")], 1.0, exit_code=0)
    assert pipeline_failure(ok, {"profile": {}}, "success") is None
    assert pipeline_failure(None, None, None) is None  # local run without a record


def test_failure_at_validate_carries_the_problems():
    failure = pipeline_failure(record(FAILED_LOG, 3.2, 1), VALIDATION_FAILED, "failure")
    assert failure.stage == "validate" and failure.problems == PROBLEMS
    assert failure.summary() == "the pipeline failed at stage `validate`: 7 data problems"


def test_the_ci_outcome_counts_when_the_run_left_no_record():
    failure = pipeline_failure(None, {"profile": {}}, "failure")
    assert failure.stage is None and failure.problems == []
    assert failure.summary() == "the pipeline failed before any stage ran"


def test_a_later_stage_failure_does_not_blame_the_data():
    run = record(
        [(0.0, "Stage 'validate' didn't change, skipping\n"), (1.0, "Running stage 'train':\n")],
        2.0,
        1,
    )
    failure = pipeline_failure(run, {"profile": {}}, "failure")
    assert failure.stage == "train" and failure.problems == []


# --------------------------------------------------------------------------- the report
def _failed_inputs(
    failure: PipelineFailure, data: DataDiff, overridden: bool = False
) -> ReportInputs:
    result = gate({}, BASE, RULES, overridden, failure=failure)
    return ReportInputs(
        head_ref="drop-weather",
        base_ref="main",
        head_sha="a" * 40,
        base_sha="b" * 40,
        head_metrics={},
        base_metrics=BASE,
        head_params={},
        base_params={},
        data=data,
        head_plots={},
        base_plots={"roc": [{"fpr": 0.0, "tpr": 0.0}, {"fpr": 1.0, "tpr": 1.0}]},
        stages=record(FAILED_LOG, 3.2, 1)["stages"],
        gate=result,
        gate_rules=GateRules(RULES, "params.yaml on main"),
        settings=ReportParams(psi_threshold=0.2, max_chars=60_000),
        artifact_url="https://github.com/o/r/actions/runs/1",
        failure=failure,
    )


DVC = "outs:\n- md5: {}.dir\n  path: data\n"
BASE_VALIDATION = {"profile": {"rows": 10, "target_rate": 0.2, "columns": {}, "features": {}}}


def test_report_of_a_failed_validate_names_the_stage_and_lists_the_problems():
    failure = pipeline_failure(record(FAILED_LOG, 3.2, 1), VALIDATION_FAILED, "failure")
    data = data_diff(
        DVC.format("b" * 32),
        DVC.format("a" * 32),
        VALIDATION_FAILED,
        BASE_VALIDATION,
        base_ref="main",
        failure=failure,
        where="reports/validation.json",
    )
    text = render(_failed_inputs(failure, data))
    first = text.splitlines()[0]
    assert (
        first == "## ❌ Pipeline failed at stage `validate`: 7 data problems · quality gate failed"
    )
    for problem in PROBLEMS:
        assert f"- {problem}" in text
    assert "Fix the data" in text
    assert "No significant change" not in text and "quality gate passed" not in text
    assert (
        "Not computed: the pipeline failed at stage `validate`. "
        "For reference, ROC AUC on main: 0.7000." in text
    )
    assert "xychart" not in text  # no curves of a model that was not trained
    # the branch's profile is the missing one, and the report says why; main's is there
    assert "This branch has no data profile: its `validate` stage failed" in text
    assert "main` has no data profile" not in text and "No data profile on main" not in text
    assert "| `validate` | ❌ **failed** | 3.2 s |" in text
    assert "ERROR: failed to reproduce 'validate'" in text  # the end of the log, collapsed
    assert text.index("### Pipeline failed at stage `validate`") < text.index("### Metrics")


def test_a_failed_run_fails_the_gate_and_no_label_overrides_it():
    failure = pipeline_failure(record(FAILED_LOG, 3.2, 1), VALIDATION_FAILED, "failure")
    result = gate({"roc_auc": 0.70}, BASE, RULES, True, failure=failure)
    assert not result.ok and result.verdict == "failed" and result.head is None
    assert result.message() == (
        "quality gate failed: the pipeline failed at stage `validate`: 7 data problems"
    )


def test_the_gate_command_says_that_no_label_overrides_a_failed_run():
    failure = PipelineFailure(stage="train")
    result = gate({}, BASE, RULES, True, failure=failure)
    said = decision(result, GateRules(RULES, "params.yaml on main"), failure)
    assert not said.passes and said.out == []
    assert said.err == [
        "gate: quality gate failed: the pipeline failed at stage `train`",
        "gate: fix the pipeline (see the report): no label overrides a failed run",
    ]


def test_a_stale_profile_is_not_used_after_a_run_that_stopped_before_validate():
    failure = PipelineFailure(stage=None)
    stale = {"profile": BASE_VALIDATION["profile"]}
    data = data_diff(
        DVC.format("b" * 32), DVC.format("a" * 32), stale, BASE_VALIDATION, failure=failure
    )
    assert data.rows == (None, None)
    assert data.missing == [
        "This branch has no data profile: the pipeline stopped before `validate` ran, so the "
        "profile in the workspace is not this branch's."
    ]
    text = render(_failed_inputs(failure, data))
    assert text.startswith("## ❌ Pipeline failed before any stage ran · quality gate failed")
    assert "see the job log" in text


def test_a_missing_profile_on_main_is_blamed_on_main_only():
    head = {"profile": BASE_VALIDATION["profile"]}
    data = data_diff(DVC.format("b" * 32), DVC.format("a" * 32), head, None, base_ref="main")
    assert data.missing == ["`main` has no data profile to compare with."]


def test_the_log_cannot_break_out_of_its_code_block():
    failure = PipelineFailure(stage="train", log_tail=["```", "<script>", "````x"])
    text = render(_failed_inputs(failure, DataDiff(False, "x", "x")))
    assert "`````text\n```\n<script>\n````x\n`````" in text
    assert text.startswith("## ❌ Pipeline failed at stage `train` · quality gate failed")
