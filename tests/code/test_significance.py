"""The report's statistics: paired and unpaired intervals of a difference, a gate that fails
on a significant regression but not on noise, slices judged against the base, and the
"not comparable" verdict for a fork that swapped the data and the target."""

import numpy as np
import pandas as pd
import yaml

from mlops.pipeline.bootstrap import JUDGED, Resampling, intervals
from mlops.pipeline.scores import ranking
from mlops.report.comparable import not_comparable, schema_summary
from mlops.report.diffs import params_diff
from mlops.report.gate import Evidence, gate
from mlops.report.render import render
from mlops.report.significance import compare, slice_changes
from tests.adapt.forks import FORKS
from tests.code.report_cases import RULES
from tests.code.test_report import _inputs
from tests.conftest import ROOT, merged

BOOT = Resampling(resamples=300, confidence=0.95, seed=5)
THRESHOLD = 0.5


def _scored(probability: np.ndarray, target: np.ndarray) -> tuple[dict, pd.DataFrame]:
    """What evaluate writes for these predictions: the metrics with intervals, and the
    per-row predictions."""
    predicted = probability >= THRESHOLD
    metrics = ranking(target, probability) | {
        "accuracy": float((predicted == target).mean()),
        "brier": float(((probability - target) ** 2).mean()),
        "threshold": THRESHOLD,
    }
    metrics["intervals"] = {"confidence": 0.95, "resamples": 300} | intervals(
        target, probability, THRESHOLD, BOOT, ("roc_auc", "pr_auc", "accuracy", "brier")
    )
    rows = pd.DataFrame(
        {"key": np.arange(len(target)), "target": target, "probability": probability}
    )
    return metrics, rows


def _model(target: np.ndarray, signal: float, noise_seed: int) -> np.ndarray:
    noise = np.random.default_rng(noise_seed).normal(0, 1, len(target))
    return 1 / (1 + np.exp(-(signal * (target - 0.5) * 2 + noise)))


TARGET = np.random.default_rng(0).integers(0, 2, 3000)
BASE_P = _model(TARGET, 1.0, 1)
# a "seed-only" change: the same model up to small jitter in its scores
SEED_P = np.clip(BASE_P + np.random.default_rng(2).normal(0, 0.02, len(TARGET)), 0, 1)
WEAK_P = _model(TARGET, 0.7, 1)  # a real regression: less signal, same noise
NOISE_RULES = RULES.model_copy(update={"max_drop": 0.0005})


def _judge(head_p: np.ndarray, paired: bool, rules=NOISE_RULES):
    head, head_rows = _scored(head_p, TARGET)
    base, base_rows = _scored(BASE_P, TARGET)
    found = (head_rows, base_rows, "the DVC cache") if paired else (head_rows, None, "none")
    comparison = compare(head, base, found, BOOT, rules.significant)
    result = gate(head, base, rules, False, evidence=Evidence(comparison))
    return result, comparison


def test_a_seed_only_change_passes_as_no_significant_change_on_both_paths():
    for paired in (True, False):
        result, comparison = _judge(SEED_P, paired)
        assert result.delta < -NOISE_RULES.max_drop  # larger than max_drop: noise decides
        assert result.verdict == "no significant change", comparison.how
        assert result.passed and result.interval[0] < 0 < result.interval[1]


def test_a_real_regression_fails_naming_its_interval():
    result, comparison = _judge(WEAK_P, paired=True)
    assert comparison.method == "paired" and "same 3,000 test rows" in comparison.how
    assert result.verdict == "worse" and not result.passed
    assert result.interval[1] < 0
    (reason,) = result.reasons
    assert "ROC AUC dropped from" in reason and "95% interval" in reason and "paired" in reason


def test_the_paired_interval_is_narrower_than_the_two_intervals_combined():
    _, paired = _judge(SEED_P, paired=True)
    _, unpaired = _judge(SEED_P, paired=False)
    assert unpaired.method == "intervals" and "not paired" in unpaired.how
    width = {c.method: np.diff(c.differences["roc_auc"].interval)[0] for c in (paired, unpaired)}
    assert width["paired"] < width["intervals"] / 3


def test_other_rows_or_a_base_without_intervals_fall_back_and_say_so():
    head, head_rows = _scored(SEED_P, TARGET)
    base, base_rows = _scored(BASE_P, TARGET)
    moved = base_rows.assign(key=base_rows["key"] + 10_000)  # not the same test rows
    other = compare(head, base, (head_rows, moved, "the DVC cache"), BOOT, 0.001)
    assert other.method == "intervals"
    assert "do not hold the same test rows" in other.how
    old = {k: v for k, v in base.items() if k != "intervals"}
    legacy = compare(head, old, (head_rows, None, "none"), BOOT, 0.001)
    assert legacy.method == "threshold" and "gate.significant 0.001" in legacy.how
    assert set(legacy.differences) <= set(JUDGED)


def test_the_gate_fails_on_the_worst_slice_that_dropped_significantly():
    def side(auc: float, low: float, high: float, rows: int = 500) -> dict:
        return {"rows": rows, "roc_auc": auc, "intervals": {"roc_auc": [low, high]}}

    base = {
        "roc_auc": 0.7,
        "slices": {
            "a": side(0.70, 0.68, 0.72),
            "b": side(0.7, 0.68, 0.72),
            "tiny": side(0.9, 0.5, 1.0, rows=20),
        },
    }
    head = {
        "roc_auc": 0.7,
        "slices": {
            "a": side(0.60, 0.58, 0.62),
            "b": side(0.69, 0.67, 0.71),
            "tiny": side(0.3, 0.1, 0.5, rows=20),
        },
    }
    changes = slice_changes(head, base, RULES.min_slice_rows, RULES.significant)
    assert [c.name for c in changes] == ["a", "b"]  # largest move first; "tiny" not judged
    assert changes[0].verdict == "worse" and changes[1].verdict == "no significant change"
    result = gate(head, base, RULES, False, evidence=Evidence(slices=changes))
    (reason,) = result.reasons
    assert reason.startswith("slice a: ROC AUC dropped from 0.7000 to 0.6000 (-0.1000")
    assert "gate.max_slice_drop 0.02" in reason


def _fork_params() -> tuple[dict, dict, tuple[int, int]]:
    """A data swap: this repository's params.yaml (the base) and the same file with the
    schema and windows of a fork that predicts another target (the branch); the number of
    features it adds and removes."""
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    fork = next(f for f in FORKS if yaml.safe_load(f.schema)["schema"]["target"] != _target(base))
    swap = yaml.safe_load(fork.schema) | yaml.safe_load(fork.prepare)
    head = merged(base, {"prepare": swap["prepare"]}) | {"schema": swap["schema"]}
    new, old = set(swap["schema"]["features"]), set(base["schema"]["features"])
    return head, base, (len(new - old), len(old - new))


def _target(params: dict) -> str:
    return params["schema"]["target"]


def test_a_forks_data_swap_is_not_comparable_and_needs_a_reviewer():
    head_params, base_params, (added, removed) = _fork_params()
    why = not_comparable(head_params, base_params)
    target = f"the target differs (`schema.target`: {_target(base_params)!r} on the base"
    assert any(r.startswith(target) for r in why), why
    if head_params["prepare"] != base_params["prepare"]:
        assert any("the test window differs" in r for r in why)
    assert any(
        r.startswith(f"the feature set differs ({added} added, {removed} removed") for r in why
    )
    head, base = {"roc_auc": 0.9672}, {"roc_auc": 0.6932}
    result = gate(head, base, RULES, False, evidence=Evidence(not_comparable=why))
    assert result.verdict == "not comparable" and not result.passed
    assert "PR label 'ok'" in result.reasons[0] and "better" not in result.reasons[0]
    assert gate(head, base, RULES, True, evidence=Evidence(not_comparable=why)).ok
    assert not_comparable(base_params, base_params) == []


def test_a_forks_schema_changes_are_one_line_with_details_folded():
    head_params, base_params, (added, removed) = _fork_params()
    line, inside = schema_summary(params_diff(head_params, base_params))
    assert line.startswith(f"schema: {added} added, {removed} removed, ")
    assert "`schema.target`" in line and len(inside) > added + removed
    inputs = _inputs(head_params, base_params=base_params)
    why = not_comparable(head_params, base_params)
    inputs.evidence = Evidence(not_comparable=why)
    inputs.gate = gate({"roc_auc": 0.71}, {"roc_auc": 0.7}, RULES, False, evidence=inputs.evidence)
    text = render(inputs)
    assert text.startswith("## ❌ Not comparable: ROC AUC 0.7100 here, 0.7000 on main")
    assert "### Not comparable" in text and "Better" not in text.splitlines()[0]
    assert "<details><summary>" in text and "schema keys changed</summary>" in text
    assert text.index("### Not comparable") < text.index("### Metrics")


def test_the_report_shows_intervals_and_how_the_difference_was_judged():
    result, comparison = _judge(WEAK_P, paired=True, rules=RULES)
    head, _ = _scored(WEAK_P, TARGET)
    base, _ = _scored(BASE_P, TARGET)
    inputs = _inputs({})
    inputs.head_metrics, inputs.base_metrics = head, base
    inputs.evidence, inputs.gate = Evidence(comparison), result
    text = render(inputs)
    first = text.splitlines()[0]
    assert first.startswith("## ❌ Worse: ROC AUC") and "95% interval -0.0" in first
    assert "| metric | this branch | interval | main | Δ | interval of Δ | |" in text
    assert "judged paired on the same 3,000 test rows" in text
