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


# ------------------------------------------------- the significance-aware gate, field by field
# (exact expectations on every field of the result, so a lost interval, method or "not
# comparable" shows; the evidence is built by hand: the statistics are tested in
# test_significance.py)

SOURCE = "params.yaml on main"


def _comparison(metric: str, delta: float, interval, confidence, method: str = "paired"):
    from mlops.report.significance import WORSE, Comparison, Difference

    diff = Difference(metric, delta, interval, WORSE)
    return Comparison({metric: diff}, method, f"judged {method}", confidence)


def test_a_significant_drop_names_its_interval_level_method_and_every_field(params):
    from mlops.report.gate import Evidence, GateResult

    rules = _rules(params)
    limit = rules.max_drop
    head, base = limit, 4 * limit  # the drop, 3 * limit, is exact and beyond max_drop
    delta = head - base
    for confidence, level in ((0.95, "95% "), (None, "")):
        comparison = _comparison(HIGHER, delta, [delta - limit, delta + limit], confidence)
        got = gate(
            {HIGHER: head},
            {HIGHER: base},
            rules,
            False,
            source=SOURCE,
            evidence=Evidence(comparison),
        )
        reason = (
            f"{label(HIGHER)} dropped from {base:.4f} to {head:.4f} ({delta:+.4f}; {level}"
            f"interval {delta - limit:+.4f} to {delta + limit:+.4f}, paired); the most "
            f"allowed is {limit:.4f} (gate.max_drop in {SOURCE}); the drop is larger than noise"
        )
        assert got == GateResult(
            HIGHER,
            head,
            base,
            "worse",
            False,
            False,
            [reason],
            interval=[delta - limit, delta + limit],
            how="judged paired",
            method="paired",
            confidence=confidence,
            not_comparable=[],
        )


def test_a_comparison_without_an_interval_says_the_drop_alone_decides(params):
    from mlops.report.gate import Evidence

    rules = _rules(params)
    limit = rules.max_drop
    comparison = _comparison(HIGHER, -3 * limit, None, None, method="threshold")
    got = gate({HIGHER: limit}, {HIGHER: 4 * limit}, rules, False, evidence=Evidence(comparison))
    (reason,) = got.reasons
    assert reason.endswith(
        f"({-3 * limit:+.4f}); the most allowed is {limit:.4f} (gate.max_drop in "
        "params.yaml); with no interval to judge noise, the drop alone decides"
    )
    assert (got.interval, got.method, got.how) == (None, "threshold", "judged threshold")


def test_a_comparison_that_lacks_the_metric_falls_back_to_the_threshold(params):
    from mlops.report.gate import Evidence

    rules = _rules(params, max_drop=1.0)
    step = rules.significant
    comparison = _comparison("pr_auc", -1.0, [-1.5, -0.5], 0.95)
    got = gate({HIGHER: 3 * step}, {HIGHER: 2 * step}, rules, False, evidence=Evidence(comparison))
    assert (got.verdict, got.interval, got.passed) == ("better", None, True)
    assert (got.method, got.confidence) == ("paired", 0.95)


def test_metrics_that_are_not_comparable_fail_naming_why_and_the_label(params):
    from mlops.report.gate import Evidence, GateResult

    rules = _rules(params)
    why = ["the target differs", "the test window differs"]
    got = gate({HIGHER: 0.9}, {HIGHER: 0.5}, rules, False, evidence=Evidence(not_comparable=why))
    reason = (
        "the metrics are not comparable with the base's: the target differs; the test window "
        "differs. A reviewer confirms that this change of task is intended with the PR label "
        f"'{rules.override_label}'"
    )
    assert got == GateResult(
        HIGHER, 0.9, 0.5, "not comparable", False, False, [reason], not_comparable=why
    )
    # nothing to compare with: a new metric is not "not comparable", and nothing is reported
    new = gate({HIGHER: 0.9}, None, rules, False, evidence=Evidence(not_comparable=why))
    assert new == GateResult(HIGHER, 0.9, None, "new", True, False, [])


def _slice(name: str, head: float, base: float, verdict: str = "worse", interval=None):
    from mlops.report.significance import SliceChange

    return SliceChange(name, head, base, 500, interval, verdict)


def test_a_slice_drop_of_exactly_max_slice_drop_passes_and_a_larger_one_fails(params):
    from mlops.report.gate import Evidence

    rules = _rules(params, max_drop=1.0)
    limit = rules.max_slice_drop
    on = Evidence(slices=[_slice("a", limit, 2 * limit)])  # -limit, exactly
    assert gate({HIGHER: 0.7}, {HIGHER: 0.7}, rules, False, evidence=on).passed
    beyond = _slice("b", math.nextafter(limit, 0.0), 2 * limit, interval=[-0.5, -0.25])
    noise = _slice("c", 0.0, 2 * limit, verdict="no significant change")
    got = gate(
        {HIGHER: 0.7},
        {HIGHER: 0.7},
        rules,
        False,
        source=SOURCE,
        evidence=Evidence(slices=[noise, beyond]),
    )
    assert got.reasons == [
        f"slice b: ROC AUC dropped from {2 * limit:.4f} to {beyond.head:.4f} "
        f"({beyond.delta:+.4f}, interval of the difference -0.5000 to -0.2500), more than "
        f"gate.max_slice_drop {limit:g} in {SOURCE}"
    ]


def test_the_worst_failing_slice_is_named_with_how_many_more_failed(params):
    from mlops.report.gate import Evidence

    rules = _rules(params, max_drop=1.0)
    slices = [_slice("a", 0.5, 0.9), _slice("b", 0.1, 0.9), _slice("c", 0.6, 0.9)]
    got = gate({HIGHER: 0.7}, {HIGHER: 0.7}, rules, False, evidence=Evidence(slices=slices))
    (reason,) = got.reasons
    assert reason.startswith("slice b: ROC AUC dropped from 0.9000 to 0.1000 (-0.8000), ")
    assert reason.endswith("in params.yaml (and 2 more slices)")
    two = gate({HIGHER: 0.7}, {HIGHER: 0.7}, rules, False, evidence=Evidence(slices=slices[:2]))
    assert two.reasons[0].endswith("(and 1 more slices)")


def test_a_passing_decision_names_the_verdict_and_the_interval(params):
    from mlops.report.gate import GateResult

    rules = GateRules(_rules(params), "params.yaml")
    for confidence, level in ((0.9, "90% "), (None, "")):
        result = GateResult(
            HIGHER,
            0.7,
            0.69,
            "no significant change",
            True,
            False,
            interval=[-0.01, 0.02],
            confidence=confidence,
        )
        assert decision(result, rules, None).out == [
            f"gate: quality gate passed: {HIGHER} 0.7000 (no significant change; "
            f"{level}interval of the difference -0.0100 to +0.0200)"
        ]
    new = GateResult(HIGHER, 0.7, None, "new", True, False)
    assert decision(new, rules, None).out == [f"gate: quality gate passed: {HIGHER} 0.7000 (new)"]


def test_the_floor_of_a_metric_outside_the_direction_table_is_a_floor(params):
    rules = _rules(params, UNLISTED, floor=0.5)
    assert gate({UNLISTED: 0.5}, None, rules, False).passed
    under = gate({UNLISTED: math.nextafter(0.5, 0.0)}, None, rules, False)
    assert under.reasons == [
        "my score 0.5000 is below the floor of 0.5000 (gate.floor in params.yaml)"
    ]


def test_floats_in_rule_changes_print_short(params):
    from mlops.report.gate import _plain

    assert (_plain(1.0), _plain(0.1 + 0.2)) == ("1", "0.3")


def test_every_problem_of_an_unreadable_base_gate_is_listed(params):
    from mlops.report.gate import gate_rules

    head = params.gate
    got = gate_rules(head, {"gate": {**head.model_dump(), "max_drop": -1, "significant": -1}}, "m")
    problems = got.warning.split(" is not valid (", 1)[1].split("): ", 1)[0]
    assert [p.split(": ", 1)[0] for p in problems.split("; ")] == ["max_drop", "significant"]
