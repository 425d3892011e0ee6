"""YOURS: the estimators ``train.estimator`` in ``params.yaml`` may name.

# ========================== the code a fork edits (1 of 2) ==========================
# Add an estimator: write a function (schema, hyper-parameters, seed) -> unfitted sklearn
# Pipeline that takes the schema's features as a DataFrame, register it in ESTIMATORS, and
# name it in params.yaml (`train.estimator`, with a mapping of the same name for its
# hyper-parameters). Everything else (fitting, the model file, evaluation, serving) follows.
# ====================================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from mlops.core.config import SchemaParams


def _gradient_boosting(
    schema: SchemaParams, hyperparameters: dict[str, Any], seed: int
) -> Pipeline:
    # Categories become ordinal codes that the booster splits on natively; a category never
    # seen in training becomes NaN, which the booster treats as missing instead of failing.
    encode = ColumnTransformer(
        [
            (
                "categories",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                ),
                schema.categorical,
            ),
            ("numbers", "passthrough", schema.numeric),
        ],
        verbose_feature_names_out=False,
    )
    booster = HistGradientBoostingClassifier(
        categorical_features=schema.categorical, random_state=seed, **hyperparameters
    )
    return Pipeline([("preprocess", encode), ("model", booster)]).set_output(transform="pandas")


def _logistic_regression(
    schema: SchemaParams, hyperparameters: dict[str, Any], seed: int
) -> Pipeline:
    encode = ColumnTransformer(
        [
            (
                "categories",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="(missing)"),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=20),
                ),
                schema.categorical,
            ),
            (
                "numbers",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                schema.numeric,
            ),
        ],
        verbose_feature_names_out=False,
    )
    model = LogisticRegression(random_state=seed, **hyperparameters)
    return Pipeline([("preprocess", encode), ("model", model)])


ESTIMATORS: dict[str, Callable[[SchemaParams, dict[str, Any], int], Pipeline]] = {
    "hist_gradient_boosting": _gradient_boosting,
    "logistic_regression": _logistic_regression,
}
