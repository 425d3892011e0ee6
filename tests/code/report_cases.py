"""Inputs the report and gate tests share: the base branch's gate rules and metrics."""

from mlops.core.config import GateParams

RULES = GateParams(
    metric="roc_auc",
    max_drop=0.005,
    floor=0.65,
    significant=0.001,
    override_label="ok",
    min_slice_rows=100,
    max_slice_drop=0.02,
)
BASE = {"roc_auc": 0.70, "log_loss": 0.41, "threshold": 0.3, "confusion": {"tn": 1}}
