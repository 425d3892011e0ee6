"""FIXME::REQUIRED: everything specific to the data set lives in this module.

An example fork's version of ``src/mlops/yours/dataset.py`` (used by ``tests/adapt``): a
customer churn table, one CSV file per snapshot of the customer base. The task: predict whether a
customer cancels within the month after the snapshot.

Same three functions, same signatures as the template's module; only their bodies and the
constants changed. Everything else (validation, split, training, report, service, monitor)
follows from the ``schema`` section of ``params.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from mlops.core.errors import DataFetchError
from mlops.pipeline.schema import check_frame, read_raw_csv

CUSTOMERS = "customers.csv"

# The raw file's columns, checked before anything else so a broken file is reported by
# file and column.
RAW_SCHEMA = pa.DataFrameSchema(
    {
        "customer_id": pa.Column(str, unique=True),
        "snapshot_at": pa.Column(str),
        "plan": pa.Column(str),
        "region": pa.Column(str, nullable=True),
        "autopay": pa.Column(str, pa.Check.isin(["Y", "N"])),
        "tenure_months": pa.Column(int),
        "monthly_charges": pa.Column(float, nullable=True),
        "support_calls": pa.Column(float, nullable=True),  # missing = not recorded
        "churn": pa.Column(str, pa.Check.isin(["Yes", "No"]), nullable=True),
    },
    coerce=True,
)
RAW_HINT = f"Fix {CUSTOMERS} (`make data` restores the version data.dvc pins)."


def raw_files(raw_dir: Path) -> list[Path]:
    """The raw files the pipeline reads, in the order they are loaded."""
    return [raw_dir / CUSTOMERS]


def load_table(raw_dir: Path) -> pd.DataFrame:
    """One row per customer snapshot: the features, ``churned`` (1, 0, or missing while the
    month after the snapshot is not over) and the snapshot time."""
    (path,) = raw_files(raw_dir)
    raw = check_frame(
        read_raw_csv(path, dtype={"churn": "string"}), RAW_SCHEMA, str(path), RAW_HINT
    )
    churned = raw["churn"].map({"Yes": 1, "No": 0})
    return pd.DataFrame(
        {
            "snapshot_at": pd.to_datetime(raw["snapshot_at"]),
            "plan": raw["plan"],
            "region": raw["region"],
            "autopay": raw["autopay"].map({"Y": "yes", "N": "no"}),
            "tenure_months": raw["tenure_months"],
            "monthly_charges": raw["monthly_charges"],
            "support_calls": raw["support_calls"].astype("Int64"),
            "churned": pd.array(np.where(churned.isna(), None, churned), dtype="Int8"),
        }
    )


def materialize_embedded(raw_dir: Path) -> list[Path]:
    """No embedded copy: the data lives in the fork's DVC remote."""
    raise DataFetchError(
        f"no embedded copy of {CUSTOMERS}: configure the DVC remote that holds it "
        "(docs/data-remotes.md) and run `make data` again"
    )
