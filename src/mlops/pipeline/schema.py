"""Schema checks shared by the validate stage and the data-set loader (src/mlops/yours/).

The modelling table's schema is declared once, in the ``schema`` section of ``params.yaml``;
:func:`table_schema` turns it into a pandera schema. :func:`check_frame` runs any
pandera schema and turns its findings into :class:`~mlops.core.errors.Failure` rows that
name the column, the rule and how many rows broke it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

from mlops.core.config import FeatureSpec, SchemaParams
from mlops.core.errors import DataFetchError, DataValidationError, Failure

SCHEMA_HINT = (
    "Fix the data, or, if the data is right and the rule is out of date, update the "
    "schema / validate sections of params.yaml."
)
_DTYPES = {"category": str, "float": float, "int": "int64"}
_MAX_EXAMPLES = 3


def read_raw_csv(path: Path, **read_csv_args: Any) -> pd.DataFrame:
    """``pd.read_csv`` for a raw file, with errors that name the file and say what to do
    (missing, empty, not a CSV file). For ``load_table`` in ``dataset.py``, a fork's too."""
    if not path.exists():
        raise DataFetchError(
            f"{path} is missing: run `make data` to fetch the raw data tracked by data.dvc"
        )
    try:
        return pd.read_csv(path, **read_csv_args)
    except pd.errors.EmptyDataError:
        raise pd.errors.EmptyDataError(
            f"{path} is empty (no header, no rows): restore it with `make data` "
            "or `dvc checkout data.dvc`"
        ) from None
    except (zipfile.BadZipFile, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise pd.errors.ParserError(f"{path} is not a readable CSV file: {exc}") from None


def _column(spec: FeatureSpec) -> pa.Column:
    checks = []
    if spec.values is not None:
        checks.append(pa.Check.isin(spec.values))
    if spec.min is not None or spec.max is not None:
        low = -float("inf") if spec.min is None else spec.min
        high = float("inf") if spec.max is None else spec.max
        checks.append(pa.Check.in_range(low, high))
    # pandas' nullable integer type keeps missing ints as <NA> instead of turning them float
    dtype = "Int64" if spec.type == "int" and spec.nullable else _DTYPES[spec.type]
    return pa.Column(dtype, checks=checks, nullable=spec.nullable)


def table_schema(schema: SchemaParams, *, labelled: bool = True) -> pa.DataFrameSchema:
    """The pandera schema of the modelling table (features, target, time column)."""
    columns = {name: _column(spec) for name, spec in schema.features.items()}
    columns[schema.time] = pa.Column("datetime64[ns]", nullable=False)
    columns[schema.target] = pa.Column("Int8", pa.Check.isin([0, 1]), nullable=not labelled)
    return pa.DataFrameSchema(columns, coerce=True, strict="filter")


def feature_schema(schema: SchemaParams) -> pa.DataFrameSchema:
    """The pandera schema of model inputs alone (what a prediction request carries)."""
    columns = {name: _column(spec) for name, spec in schema.features.items()}
    return pa.DataFrameSchema(columns, coerce=True, strict="filter")


def _example(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


class MissingValues(Failure):
    """Missing values in a column that may not have any (``nullable`` is false)."""

    def __str__(self) -> str:
        values = f"{self.rows} missing value{'s' if self.rows != 1 else ''}"
        return f"{values} in column '{self.column}' (not nullable)"


def _without_missing(cases: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Pandera's failure cases without those that missing values caused, and the missing
    values per column. A missing value in a non-nullable column fails ``not_nullable``; in an
    int column it also fails the type coercion (NaN is no int), which would read as a type
    error. Both say one thing: the value is missing."""
    nulls = cases[cases["check"] == "not_nullable"]
    missing = {str(c): int(g["index"].nunique()) for c, g in nulls.groupby("column", sort=False)}
    caused = cases["column"].isin(list(missing)) & (
        (cases["check"] == "not_nullable")
        | (cases["failure_case"].isna() & cases["index"].notna())  # the same rows, other rules
        | cases["check"].str.startswith("dtype(")  # the column's type, off because of them
    )
    return cases[~caused], missing


def failures_from(errors: pa.errors.SchemaErrors) -> list[Failure]:
    """Summarize pandera's failure cases: one Failure per (column, rule), rows counted;
    missing values in a non-nullable column as :class:`MissingValues`, whatever its type."""
    cases = errors.failure_cases
    failures: list[Failure] = []
    absent = cases[cases["check"] == "column_in_dataframe"]
    for name in absent["failure_case"]:
        failures.append(Failure(str(name), "column must be present", 0))
    cases, missing = _without_missing(cases[cases["check"] != "column_in_dataframe"])
    failures += [MissingValues(column, "not nullable", rows) for column, rows in missing.items()]
    not_coercible = set(cases.loc[cases["check"].str.startswith("coerce_dtype"), "column"])
    for (column, check), group in cases.groupby(["column", "check"], sort=False):
        if column in not_coercible and not str(check).startswith("coerce_dtype"):
            continue  # the type error explains these; other rules cannot run on bad values
        examples = tuple(
            dict.fromkeys(_example(v) for v in group["failure_case"] if v is not None)
        )[:_MAX_EXAMPLES]
        rule = str(check).replace("coerce_dtype", "type")
        failures.append(Failure(str(column), rule, int(group["index"].nunique()), examples))
    return failures


def check_frame(
    df: pd.DataFrame, schema: pa.DataFrameSchema, source: str, hint: str = SCHEMA_HINT
) -> pd.DataFrame:
    """Validate (and coerce) ``df`` against ``schema``; raise one error listing every failure."""
    try:
        return schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as errors:
        raise DataValidationError(source, failures_from(errors), hint) from None
