"""The quality gate on its exact limits, with the rules of ``gate`` in params.yaml: a drop
of exactly ``max_drop`` passes and the next float fails, the ``floor`` itself passes and the
next float under it fails, a change of exactly ``significant`` counts, and a metric outside
the direction table is judged higher-is-better (benchmarks/mutation.yaml runs these
against the gate's mutants).

Values are chosen so that the differences are exact in floating point: the base is twice
the limit, so ``head - base`` is exactly ``-limit`` (Sterbenz)."""

from __future__ import annotations

import json
import math

import pytest

from mlops.report.gate import GateRules, decision, gate
from mlops.report.metrics import DIRECTIONS, compare_metrics, label

HIGHER = "roc_auc"
LOWER = "log_loss"
UNLISTED = "my_score"  # a fork's metric that the direction table does not list


def _rules(params, metric: str = HIGHER, floor: float | None = None, **changes):
    return params.gate.model_copy(update={"metric": metric, "floor": floor, **changes})


def test_a_drop_of_exactly_max_drop_passes_and_the_next_float_fails(params):
    rules = _rules(params)
    limit = rules.max_drop
    base = {HIGHER: 2 * limit}
    on = gate({HIGHER: limit}, base, rules, False)
    assert (on.passed, on.reasons) == (True, [])
    assert on.delta == -limit
    beyond = gate({HIGHER: math.nextafter(limit, 0.0)}, base, rules, False)
    assert not beyond.passed
    (reason,) = beyond.reasons
    assert reason.startswith(f"{label(HIGHER)} dropped from {2 * limit:.4f} to")
    assert reason.endswith(
        f"the most allowed is {limit:.4f} (gate.max_drop in params.yaml); "
        "with no interval to judge noise, the drop alone decides"
    )


def test_a_rise_of_exactly_max_drop_passes_for_lower_is_better(params):
    rules = _rules(params, LOWER)
    limit = rules.max_drop
    base = {LOWER: limit}
    assert gate({LOWER: 2 * limit}, base, rules, False).passed
    beyond = gate({LOWER: math.nextafter(2 * limit, 1.0)}, base, rules, False)
    assert not beyond.passed
    assert beyond.reasons[0].startswith(f"{label(LOWER)} rose from {limit:.4f} to")


def test_a_metric_outside_the_direction_table_is_judged_higher_is_better(params):
    assert UNLISTED not in DIRECTIONS
    rules = _rules(params, UNLISTED)
    limit = rules.max_drop
    base = {UNLISTED: 2 * limit}
    assert gate({UNLISTED: limit}, base, rules, False).passed
    fails = gate({UNLISTED: math.nextafter(limit, 0.0)}, base, rules, False)
    assert not fails.passed
    assert fails.reasons[0].startswith("my score dropped from")
    assert gate({UNLISTED: 4 * limit}, base, rules, False).verdict == "better"


def test_the_floor_itself_passes_and_the_next_float_under_it_fails(params):
    floor = params.gate.floor if params.gate.floor is not None else 0.5
    rules = _rules(params, floor=floor)
    on = gate({HIGHER: floor}, None, rules, False)
    assert (on.passed, on.verdict) == (True, "new")
    under = gate({HIGHER: math.nextafter(floor, 0.0)}, None, rules, False)
    assert not under.passed
    (reason,) = under.reasons
    assert reason == (
        f"{label(HIGHER)} {math.nextafter(floor, 0.0):.4f} is below the floor of "
        f"{floor:.4f} (gate.floor in params.yaml)"
    )


def test_the_ceiling_of_a_lower_is_better_metric_passes_and_above_it_fails(params):
    ceiling = 0.5
    rules = _rules(params, LOWER, floor=ceiling)
    assert gate({LOWER: ceiling}, None, rules, False).passed
    over = gate({LOWER: math.nextafter(ceiling, 1.0)}, None, rules, False)
    assert not over.passed
    assert "is above the ceiling of 0.5000" in over.reasons[0]


def test_without_a_floor_any_value_passes_without_a_base(params):
    assert gate({HIGHER: 0.0}, None, _rules(params, floor=None), False).passed


def test_a_change_of_exactly_significant_counts_and_a_smaller_one_does_not(params):
    rules = _rules(params, max_drop=1.0)
    step = rules.significant
    if step == 0:
        pytest.skip("gate.significant is 0: every change counts")
    base = {HIGHER: 2 * step}
    assert gate({HIGHER: step}, base, rules, False).verdict == "worse"
    assert gate({HIGHER: 3 * step}, base, rules, False).verdict == "better"
    inside = math.nextafter(step, 1.0)  # 2 * step - inside < step
    assert gate({HIGHER: inside}, base, rules, False).verdict == "no significant change"
    lower = _rules(params, LOWER, max_drop=1.0)
    assert gate({LOWER: step}, {LOWER: 2 * step}, lower, False).verdict == "better"
    assert gate({LOWER: 3 * step}, {LOWER: 2 * step}, lower, False).verdict == "worse"


def test_the_report_rows_mark_a_change_of_exactly_significant(params):
    step = params.gate.significant
    rows = {r.name: r for r in compare_metrics({HIGHER: step}, {HIGHER: 2 * step}, step)}
    assert rows[HIGHER].significant is True
    assert rows[HIGHER].change == "worse"
    inside = {
        r.name: r
        for r in compare_metrics({HIGHER: math.nextafter(step, 1.0)}, {HIGHER: 2 * step}, step)
    }
    assert inside[HIGHER].change == "unchanged"


def test_a_failing_gate_says_what_unblocks_it(params):
    rules = _rules(params)
    result = gate({HIGHER: 0.0}, {HIGHER: 1.0}, rules, False)
    said = decision(result, GateRules(rules, "params.yaml"), None)
    assert said.passes is False
    assert said.err[-1] == (
        f"gate: to merge anyway, a reviewer adds the label '{rules.override_label}'"
    )
    overridden = gate({HIGHER: 0.0}, {HIGHER: 1.0}, rules, True)
    assert overridden.ok and not overridden.passed
    assert decision(overridden, GateRules(rules, "params.yaml"), None).passes is True


def test_a_failed_pipeline_fails_the_gate_whole_and_no_label_overrides_it(params):
    from mlops.report.failure import PipelineFailure

    rules = _rules(params)
    failure = PipelineFailure("validate", ["bad rows"])
    change = [("gate.max_drop", 0.005, 0.5)]
    result = gate({}, {HIGHER: 0.7}, rules, True, changes=change, failure=failure)
    assert (result.metric, result.head, result.base) == (HIGHER, None, 0.7)
    assert (result.verdict, result.passed, result.overridden) == ("failed", False, False)
    assert result.reasons[0] == failure.summary()
    assert result.reasons[1].startswith("this branch changes the quality gate's rules")
    assert "the rules in params.yaml apply" in result.reasons[1]
    assert result.message() == "quality gate failed: " + "; ".join(result.reasons)
    said = decision(result, GateRules(rules, "params.yaml", warning="w"), failure)
    assert said == type(said)(
        False,
        [],
        [
            "gate: warning: w",
            f"gate: {result.message()}",
            "gate: fix the pipeline (see the report): no label overrides a failed run",
        ],
    )


def test_passing_and_overridden_decisions_carry_the_warning(params):
    rules = _rules(params)
    passed = gate({HIGHER: 0.9}, {HIGHER: 0.9}, rules, False)
    said = decision(passed, GateRules(rules, "params.yaml", warning="w"), None)
    assert (said.passes, said.err) == (True, ["gate: warning: w"])
    overridden = gate({HIGHER: 0.0}, {HIGHER: 0.9}, rules, True)
    said = decision(overridden, GateRules(rules, "params.yaml", warning="w"), None)
    assert (said.passes, said.err) == (True, ["gate: warning: w"])


def test_the_unknown_metric_error_lists_the_metrics(params):
    with pytest.raises(ValueError, match=r"\(roc_auc, f1\)$"):
        gate({HIGHER: 0.7, "f1": 0.5}, None, _rules(params, "auc"), False)


def test_rule_changes_print_none_and_floats_plainly(params):
    from mlops.report.gate import _plain

    assert (_plain(None), _plain(0.5), _plain(3), _plain("x")) == ("(none)", "0.5", "3", "x")


def test_override_labels_come_from_the_environment_by_default(params, monkeypatch):
    from mlops.report.gate import override_requested

    rules = _rules(params)
    monkeypatch.setenv("PR_LABELS", json.dumps([rules.override_label]))
    assert override_requested(rules) is True
    monkeypatch.delenv("PR_LABELS")
    assert override_requested(rules) is False
    assert override_requested(rules, {"PR_LABELS": '{"a": 1}'}) is False


def test_an_unreadable_base_gate_applies_the_branchs_rules_naming_the_problems(params):
    from mlops.report.gate import gate_rules

    head = params.gate
    got = gate_rules(head, {"gate": {**head.model_dump(), "max_drop": -1}}, "main")
    assert got.rules == head
    assert got.warning.startswith("the `gate` section of params.yaml on `main` is not valid (")
    assert "max_drop: " in got.warning
    assert got.warning.endswith("): this branch's rules apply.")
    assert got.changes == [("gate.max_drop", -1, head.max_drop)]
    not_a_table = gate_rules(head, {"gate": ["x"]}, "main")
    assert "(gate: " in not_a_table.warning
    assert sorted(not_a_table.changes, key=str) == sorted(
        [(f"gate.{key}", None, value) for key, value in head.model_dump().items()], key=str
    )


def test_a_context_metric_that_moved_is_changed_not_judged(params):
    (row,) = compare_metrics({"threshold": 0.5}, {"threshold": 0.3}, params.gate.significant)
    assert (row.direction, row.change) == (0, "changed")
