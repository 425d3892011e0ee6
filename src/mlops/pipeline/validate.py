"""Stage ``validate``: check the modelling table against its schema before anything learns from it.

Pure core: :func:`validate` takes the table and params, returns the labelled rows and a
summary, or raises ``DataValidationError`` listing every broken rule (column, rule, rows).
Besides the schema and the table-wide rules, two rules against leaks hold on any data: no
``schema.forbidden`` column (an outcome, an identifier) in the table, and no feature that
alone ranks the labelled rows by their target with ROC AUC >= ``validate.leak_auc``
(:func:`target_auc`: such a feature is a near-copy of the outcome).
The validation report (``paths.validation``) is written either way: the summary and data
profile when the data passed, :func:`failure_report` (every problem, machine-readable) when
it did not, so the pull-request report can list the problems of a failed run.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mlops.core.config import SchemaParams, ValidateParams
from mlops.core.errors import DataValidationError, Failure
from mlops.pipeline.profile import profile
from mlops.pipeline.schema import SCHEMA_HINT, check_frame, table_schema
from mlops.yours import dataset


def _quality_failures(
    table: pd.DataFrame, schema: SchemaParams, rules: ValidateParams
) -> list[Failure]:
    """Rules on the whole table that a per-value schema cannot express."""
    failures = []
    rows = len(table)
    if rows < rules.min_rows:
        failures.append(Failure("(table)", f"at least {rules.min_rows} rows", rows))
        return failures  # rates on a handful of rows say nothing
    for name, spec in schema.features.items():
        missing = int(table[name].isna().sum())
        if spec.nullable and missing > spec.max_missing * rows:
            rule = f"at most {spec.max_missing:.0%} missing (found {missing / rows:.1%})"
            failures.append(Failure(name, rule, missing))
    unlabelled = int(table[schema.target].isna().sum())
    if unlabelled > rules.max_unlabelled * rows:
        rule = f"at most {rules.max_unlabelled:.0%} unlabelled (found {unlabelled / rows:.1%})"
        failures.append(Failure(schema.target, rule, unlabelled))
    labelled = table[schema.target].dropna()
    if len(labelled):
        rate = float(labelled.mean())
        if not rules.min_target_rate <= rate <= rules.max_target_rate:
            rule = (
                f"positive rate in [{rules.min_target_rate:.0%}, {rules.max_target_rate:.0%}] "
                f"(found {rate:.1%})"
            )
            positives = int(labelled.sum())
            failures.append(Failure(schema.target, rule, positives if rate > 0 else len(labelled)))
    return failures


class ForbiddenColumn(Failure):
    """A column of ``schema.forbidden`` (an outcome, an identifier) in the modelling table."""

    def __str__(self) -> str:
        return (
            f"column '{self.column}' is listed in schema.forbidden (an outcome or an "
            "identifier, never a feature) but load_table outputs it: drop it in "
            "src/mlops/yours/dataset.py"
        )


class TargetCopy(Failure):
    """A feature that, alone, all but determines the target: the outcome leaks into it."""

    def __str__(self) -> str:
        return (
            f"{super().__str__()}: feature '{self.column}' is a near-copy of the target "
            "(an outcome leak): remove it from schema.features and list it in "
            "schema.forbidden, or raise validate.leak_auc if it is truly known in advance"
        )


_LEAK_BINS = 100  # a numeric feature's values are grouped into this many quantiles


def _groups(values: pd.Series, category: bool) -> pd.Series:
    """The values of one feature as groups: categories as they are, numbers by quantile;
    missing values are a group of their own."""
    if category:
        return values.astype("string").fillna("\0missing")
    quantile = values.astype("float64").rank(pct=True)
    return np.ceil(quantile * _LEAK_BINS).fillna(-1.0)


def target_auc(values: pd.Series, target: pd.Series, *, category: bool) -> float:
    """How well one feature alone ranks the labelled rows by their 0/1 ``target``: the ROC
    AUC in the better direction, 0.5 = not at all, 1.0 = perfectly.

    Each value (a number: its quantile of 100) gets the positive rate it has in the even
    rows; the odd rows are ranked by that rate (a value unseen in the even rows: the
    overall rate). Measured on rows it was not learnt from, so an identifier unique to each
    row scores about 0.5, not 1. Fewer than both classes in either half: 0.5.
    """
    groups = _groups(values.reset_index(drop=True), category).to_numpy()
    labels = target.to_numpy(dtype="int64")
    fit = np.arange(len(labels)) % 2 == 0
    if min(len(np.unique(labels[fit])), len(np.unique(labels[~fit]))) < 2:
        return 0.5
    rates = pd.Series(labels[fit]).groupby(groups[fit]).mean()
    scores = pd.Series(groups[~fit]).map(rates).astype("float64").fillna(labels[fit].mean())
    auc = float(roc_auc_score(labels[~fit], scores))
    return max(auc, 1.0 - auc)


def _forbidden_failures(table: pd.DataFrame, schema: SchemaParams) -> list[Failure]:
    """The ``schema.forbidden`` columns (outcomes, identifiers) that the table carries."""
    return [
        ForbiddenColumn(name, "absent from the modelling table", len(table))
        for name in schema.forbidden
        if name in table.columns
    ]


def target_aucs(checked: pd.DataFrame, schema: SchemaParams) -> dict[str, float]:
    """:func:`target_auc` of each feature on the labelled rows of a checked table."""
    labelled = checked[checked[schema.target].notna()]
    return {
        name: target_auc(labelled[name], labelled[schema.target], category=spec.type == "category")
        for name, spec in schema.features.items()
    }


def _copy_failures(aucs: dict[str, float], labelled: int, rules: ValidateParams) -> list[Failure]:
    """The features that alone rank the labelled rows with ROC AUC >= ``leak_auc``."""
    return [
        TargetCopy(
            name, f"ROC AUC against the target below {rules.leak_auc} (found {auc:.3f})", labelled
        )
        for name, auc in aucs.items()
        if auc >= rules.leak_auc
    ]


def validate(
    table: pd.DataFrame, schema: SchemaParams, rules: ValidateParams, source: str = "table"
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Check ``table``; return its labelled rows (schema columns only) and a summary.

    Beyond the schema: no ``schema.forbidden`` column in the table and no feature that is a
    near-copy of the target (:func:`target_auc` >= ``validate.leak_auc``)."""
    forbidden = _forbidden_failures(table, schema)
    try:
        checked = check_frame(table, table_schema(schema, labelled=False), source)
    except DataValidationError as exc:
        raise DataValidationError(source, forbidden + exc.failures, exc.hint) from None
    # a handful of rows ranks perfectly by chance: no near-copy test below min_rows
    aucs = target_aucs(checked, schema) if len(checked) >= rules.min_rows else {}
    labelled_rows = int(checked[schema.target].notna().sum())
    failures = forbidden + _copy_failures(aucs, labelled_rows, rules)
    failures += _quality_failures(checked, schema, rules)
    if failures:
        raise DataValidationError(source, failures, SCHEMA_HINT)
    labelled = checked[checked[schema.target].notna()].reset_index(drop=True)
    labelled[schema.target] = labelled[schema.target].astype("int8")
    summary = {
        "rows": len(checked),
        "labelled_rows": len(labelled),
        "unlabelled_rows": len(checked) - len(labelled),
        "target_rate": round(float(labelled[schema.target].mean()), 6),
        "time_range": [str(checked[schema.time].min()), str(checked[schema.time].max())],
        "missing": {
            name: int(checked[name].isna().sum())
            for name in schema.features
            if checked[name].isna().any()
        },
        "target_auc": {name: round(auc, 4) for name, auc in aucs.items()},
        "profile": profile(labelled, schema),
    }
    return labelled, summary


def failure_report(exc: Exception) -> dict[str, Any]:
    """What went wrong, for the validation report: one problem per broken rule.

    A ``DataValidationError`` gives one problem per (column, rule) with the rows that broke
    it; any other error (a missing or unreadable raw file) is one problem, its message.
    """
    if isinstance(exc, DataValidationError):
        problems = [
            {**asdict(f), "examples": list(f.examples), "message": str(f)} for f in exc.failures
        ]
        return {"passed": False, "source": exc.source, "problems": problems, "hint": exc.hint}
    return {"passed": False, "source": None, "problems": [{"message": str(exc)}], "hint": None}


def main(raw: Path, out: Path, report: Path, schema: SchemaParams, rules: ValidateParams) -> None:
    """Load the raw files with the dataset module, validate, write the table and a summary
    (or, when the data fails, the problems) to ``report``."""
    report.parent.mkdir(parents=True, exist_ok=True)
    try:
        table = dataset.load_table(raw)
        labelled, summary = validate(table, schema, rules, source=f"{raw} (modelling table)")
    except Exception as exc:
        report.write_text(json.dumps(failure_report(exc), indent=2) + "\n")
        raise
    out.parent.mkdir(parents=True, exist_ok=True)
    labelled.to_parquet(out, index=False)
    report.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"validate: {summary['labelled_rows']:,} labelled rows "
        f"({summary['unlabelled_rows']:,} without a label dropped), "
        f"target rate {summary['target_rate']:.1%} -> {out}"
    )
