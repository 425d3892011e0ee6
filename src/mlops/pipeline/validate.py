"""Stage ``validate``: check the modelling table against its schema before anything learns from it.

Pure core: :func:`validate` takes the table and params, returns the labelled rows and a
summary, or raises ``DataValidationError`` listing every broken rule (column, rule, rows).
The validation report (``paths.validation``) is written either way: the summary and data
profile when the data passed, :func:`failure_report` (every problem, machine-readable) when
it did not, so the pull-request report can list the problems of a failed run.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

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


def validate(
    table: pd.DataFrame, schema: SchemaParams, rules: ValidateParams, source: str = "table"
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Check ``table``; return its labelled rows (schema columns only) and a summary."""
    checked = check_frame(table, table_schema(schema, labelled=False), source)
    failures = _quality_failures(checked, schema, rules)
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
