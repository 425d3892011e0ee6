"""The pull-request report and the quality gate: pure functions on small inputs."""

import json
import re
from dataclasses import replace

import pandas as pd
import pytest

from mlops.core.config import ReportParams
from mlops.pipeline.profile import profile, psi
from mlops.pipeline.repro import parse
from mlops.report.charts import curve_chart
from mlops.report.diffs import DataDiff, data_diff, params_diff
from mlops.report.gate import GateRules, decision, gate, gate_rules, override_requested
from mlops.report.metrics import compare_metrics
from mlops.report.render import ReportInputs, render
from tests.code.report_cases import BASE, RULES
from tests.conftest import feature


def test_gate_passes_a_small_drop_and_fails_a_large_one():
    assert gate({"roc_auc": 0.697}, BASE, RULES, False).passed
    failed = gate({"roc_auc": 0.69}, BASE, RULES, False)
    assert not failed.passed and not failed.ok
    assert failed.verdict == "worse"
    (reason,) = failed.reasons
    assert "ROC AUC dropped from 0.7000 to 0.6900 (-0.0100)" in reason
    assert "the most allowed is 0.0050 (gate.max_drop in params.yaml)" in reason


def test_gate_floor_applies_without_a_base():
    result = gate({"roc_auc": 0.6}, None, RULES, False)
    assert result.verdict == "new"
    assert "below the floor of 0.6500" in result.reasons[0]


def test_gate_knows_lower_is_better():
    rules = RULES.model_copy(update={"metric": "log_loss", "floor": 0.5})
    assert gate({"log_loss": 0.40}, BASE, rules, False).verdict == "better"
    worse = gate({"log_loss": 0.42}, BASE, rules, False)
    assert not worse.passed
    assert "log loss rose from 0.4100 to 0.4200" in worse.reasons[0]
    assert "above the ceiling" in gate({"log_loss": 0.6}, None, rules, False).reasons[0]


def test_unchanged_within_significance():
    assert gate({"roc_auc": 0.7004}, BASE, RULES, False).verdict == "no significant change"


def test_override_keeps_the_failure_visible():
    result = gate({"roc_auc": 0.5}, BASE, RULES, True)
    assert not result.passed and result.ok
    assert result.message().endswith("(overridden by label)")


def test_unknown_gate_metric_is_explained():
    with pytest.raises(ValueError, match=r"gate\.metric in params\.yaml is 'auc'"):
        gate({"roc_auc": 0.7}, BASE, RULES.model_copy(update={"metric": "auc"}), False)


@pytest.mark.parametrize(
    ("labels", "expected"), [('["ok", "x"]', True), ('["x"]', False), ("", False), ("{", False)]
)
def test_override_comes_from_the_pr_labels(labels, expected):
    assert override_requested(RULES, {"PR_LABELS": labels}) is expected


def test_metric_rows_know_direction_and_significance():
    rows = {
        r.name: r
        for r in compare_metrics({"roc_auc": 0.71, "log_loss": 0.42, "threshold": 0.3}, BASE, 0.001)
    }
    assert rows["roc_auc"].change == "better"
    assert rows["log_loss"].change == "worse"  # lower is better
    assert rows["threshold"].change == "unchanged"
    assert list(rows) == ["roc_auc", "log_loss", "threshold"]  # judged first, in given order


def test_params_diff_ignores_paths_and_sees_added_keys():
    head = {"paths": {"model": "b"}, "train": {"lr": 0.2, "new": 1}}
    base = {"paths": {"model": "a"}, "train": {"lr": 0.1}}
    assert params_diff(head, base) == [("train.lr", 0.1, 0.2), ("train.new", None, 1)]


def test_data_diff_reports_rows_columns_and_drift(params, table_factory):
    base_table = table_factory(rows=2000, seed=1)
    head_table = table_factory(rows=2500, seed=2)
    shifted = feature(params, "bounded")
    spec = params.schema.features[shifted]
    head_table[shifted] = head_table[shifted] - (spec.max - (spec.min or 0)) / 2  # a shift
    base_v = {"profile": profile(base_table, params.schema)}
    head_v = {"profile": profile(head_table.assign(extra=1), params.schema)}
    dvc = "outs:\n- md5: {}.dir\n  path: data\n"
    diff = data_diff(dvc.format("b" * 32), dvc.format("a" * 32), head_v, base_v)
    assert diff.changed
    assert diff.rows == (2000, 2500)
    assert diff.added_columns == ["extra"]
    assert diff.drift[0][0] == shifted and diff.drift[0][1] > 0.2
    same = dvc.format("a" * 32)
    assert not data_diff(same, same, head_v, base_v).changed


def test_psi_is_zero_for_identical_profiles(params, table_factory):
    category, number = feature(params, "closed category"), feature(params, "numeric")
    p = profile(table_factory(), params.schema)["features"]
    assert psi(p[category], p[category]) == 0.0
    assert psi(p[category], p[number]) is None  # different kinds are not comparable


def test_curve_chart_puts_base_and_head_on_one_grid():
    curve = [{"fpr": 0.0, "tpr": 0.0}, {"fpr": 0.5, "tpr": 0.8}, {"fpr": 1.0, "tpr": 1.0}]
    chart = curve_chart("ROC", curve, curve, "fpr", "tpr", "x", "y", points=5)
    lines = re.findall(r"line \[(.*)\]", chart)
    assert len(lines) == 2
    assert lines[0] == "0, 0.4, 0.8, 0.9, 1"
    assert chart.startswith("```mermaid") and "xychart-beta" in chart


def _inputs(
    head_params: dict, rules: GateRules | None = None, base_params: dict | None = None
) -> ReportInputs:
    rules = rules or GateRules(RULES, "params.yaml on main")
    result = gate(
        {"roc_auc": 0.71}, BASE, rules.rules, False, source=rules.source, changes=rules.changes
    )
    return ReportInputs(
        head_ref="feature",
        base_ref="main",
        head_sha="a" * 40,
        base_sha="b" * 40,
        head_metrics={
            "roc_auc": 0.71,
            "log_loss": 0.4,
            "confusion": {"tn": 5, "fp": 1, "fn": 2, "tp": 3},
        },
        base_metrics=BASE,
        head_params=head_params,
        base_params=base_params or {},
        data=DataDiff(False, "x", "x"),
        head_plots={},
        base_plots={},
        stages=[{"stage": "train", "status": "ran", "seconds": 3.2}],
        gate=result,
        gate_rules=rules,
        settings=ReportParams(psi_threshold=0.2, max_chars=60_000),
    )


def test_report_starts_with_the_verdict():
    text = render(_inputs({"train": {"lr": 0.2}}))
    assert text.startswith("## ✅ Better: ROC AUC 0.7100 vs 0.7000 on main (+0.0100)")
    assert "| `train.lr` | – | 0.2000 |" in text
    assert "| `train` | ran | 3.2 s |" in text
    assert "| **actual 1** | 2 | 3 |" in text  # base had no full matrix: no deltas


def test_the_header_says_which_version_merging_registers():
    line = "**Registry:** merging registers `model@v0.2.1` (params or code changed)"
    text = render(replace(_inputs({}), registry=line))
    head, _ = text.split("### ", 1)  # before the first section
    assert head.rstrip().endswith(line)
    assert "Registry" not in render(_inputs({}))  # no line when collect has none


def test_long_report_degrades_but_stays_under_the_limit():
    huge = {"many": {f"p{i}": "x" * 50 for i in range(3000)}}  # ~200k characters of params
    text = render(_inputs(huge), limit=20_000)
    assert len(text) <= 20_000
    assert text.startswith("## ✅ Better")
    assert "### Metrics" in text
    assert "Left out to fit GitHub's comment limit: Params changed (3000)" in text
    assert "Pipeline stages" in text  # small sections survive


# --------------------------------------------------------------------------- the gate's own rules
BASE_PARAMS = {"gate": RULES.model_dump(), "train": {"lr": 0.1}}
LOOSER = RULES.model_copy(update={"max_drop": 0.05, "floor": 0.5})


def test_a_branch_that_raises_max_drop_still_fails_on_the_base_rule():
    rules = gate_rules(LOOSER, BASE_PARAMS, "main")
    assert rules.rules == RULES and rules.source == "params.yaml on main"
    assert rules.changes == [("gate.floor", 0.65, 0.5), ("gate.max_drop", 0.005, 0.05)]
    result = gate(
        {"roc_auc": 0.69}, BASE, rules.rules, False, source=rules.source, changes=rules.changes
    )
    assert not result.ok
    assert "the most allowed is 0.0050 (gate.max_drop in params.yaml on main)" in result.reasons[0]


def test_a_gate_change_without_the_label_fails_naming_change_and_label():
    rules = gate_rules(LOOSER, BASE_PARAMS, "main")
    result = gate({"roc_auc": 0.71}, BASE, rules.rules, False, changes=rules.changes)
    assert result.verdict == "better" and not result.ok
    (reason,) = result.reasons
    assert (
        "changes the quality gate's rules (gate.floor 0.65 → 0.5, gate.max_drop 0.005 → 0.05)"
        in (reason)
    )
    assert "needs the PR label 'ok'" in reason


def test_a_gate_change_with_the_label_passes_visibly():
    rules = gate_rules(LOOSER, BASE_PARAMS, "main")
    labelled = override_requested(rules.rules, {"PR_LABELS": '["ok"]'})
    result = gate({"roc_auc": 0.71}, BASE, rules.rules, labelled, changes=rules.changes)
    assert result.ok and not result.passed
    assert result.message().endswith("(overridden by label)")


def test_the_override_label_is_the_base_branchs():
    renamed = RULES.model_copy(update={"override_label": "yolo", "max_drop": 1.0})
    rules = gate_rules(renamed, BASE_PARAMS, "main")
    assert rules.rules.override_label == "ok"
    assert not override_requested(rules.rules, {"PR_LABELS": '["yolo"]'})
    result = gate({"roc_auc": 0.5}, BASE, rules.rules, False, changes=rules.changes)
    assert "gate.override_label ok → yolo" in result.message()


def test_unchanged_rules_need_no_label():
    rules = gate_rules(RULES, BASE_PARAMS, "main")
    assert rules.changes == [] and rules.warning is None
    assert gate({"roc_auc": 0.70}, BASE, rules.rules, False, changes=rules.changes).passed


@pytest.mark.parametrize(
    ("base_params", "warning"),
    [
        ({"train": {}}, "`main` has no `gate` section in params.yaml: this branch's rules apply"),
        (None, "`main` has no `gate` section"),
        (
            {"gate": {"metric": "roc_auc"}},
            "the `gate` section of params.yaml on `main` is not valid",
        ),
    ],
)
def test_without_rules_on_the_base_the_branchs_apply_with_a_warning(base_params, warning):
    rules = gate_rules(LOOSER, base_params, "main")
    assert rules.rules == LOOSER and rules.source == "params.yaml"
    assert warning in rules.warning
    text = render(_inputs({}, rules))
    assert f"⚠️ {warning}" in text
    assert "Gate (rules from params.yaml)" in text


def test_the_report_shows_a_gate_change_above_the_metrics_not_in_the_params():
    rules = gate_rules(LOOSER, BASE_PARAMS, "main")
    head = {"gate": LOOSER.model_dump(), "train": {"lr": 0.2}}
    text = render(_inputs(head, rules, BASE_PARAMS))
    first = text.splitlines()[0]
    assert first.startswith("## ❌ Better: ROC AUC 0.7100") and "needs the PR label 'ok'" in first
    assert "Gate (rules from params.yaml on main)" in text
    assert text.index("**This branch changes the quality gate.**") < text.index("### Metrics")
    assert "| `gate.max_drop` | 0.0050 | 0.0500 |" in text
    assert "### Params changed (1)" in text  # train.lr only
    assert text.count("`gate.max_drop`") == 1


# ------------------------------------------------------------------ the gate command's words
def test_a_passing_gate_says_the_metric_and_its_verdict():
    said = decision(gate({"roc_auc": 0.7004}, BASE, RULES, False), GateRules(RULES, "p"), None)
    assert said.passes and said.err == []
    assert said.out == ["gate: quality gate passed: roc_auc 0.7004 (no significant change)"]


def test_a_failing_gate_names_the_label_that_unblocks_it_after_the_warning():
    rules = GateRules(RULES, "params.yaml", [], "`main` has no `gate` section")
    said = decision(gate({"roc_auc": 0.69}, BASE, RULES, False), rules, None)
    assert not said.passes and said.out == []
    assert said.err[0] == "gate: warning: `main` has no `gate` section"
    assert said.err[1].startswith("gate: quality gate failed: ROC AUC dropped from 0.7000")
    assert said.err[2:] == ["gate: to merge anyway, a reviewer adds the label 'ok'"]


def test_an_overridden_gate_passes_and_says_why():
    said = decision(gate({"roc_auc": 0.5}, BASE, RULES, True), GateRules(RULES, "p"), None)
    assert said.passes and said.err == []
    (line,) = said.out
    assert line.startswith("gate: quality gate failed: ROC AUC dropped")
    assert line.endswith("(overridden by label); passing because the PR has the override label")


def test_repro_log_is_parsed_into_stages():
    lines = [
        (0.0, "Stage 'validate' is cached - skipping run, checking out outputs\n"),
        (1.0, "Stage 'prepare' didn't change, skipping\n"),
        (2.0, "Running stage 'train':\n"),
        (2.5, "> python -m mlops train\n"),
        (12.0, "Running stage 'evaluate':\n"),
    ]
    stages = parse(lines, finished=20.0)
    assert [(s["stage"], s["status"]) for s in stages] == [
        ("validate", "cached"),
        ("prepare", "skipped"),
        ("train", "ran"),
        ("evaluate", "ran"),
    ]
    assert stages[2]["seconds"] == 10.0 and stages[3]["seconds"] == 8.0
    json.dumps(stages)


def test_profile_is_plain_json(params, table_factory):
    text = json.dumps(profile(table_factory(), params.schema))
    assert "NaN" not in text
    assert pd.notna(json.loads(text)["target_rate"])
