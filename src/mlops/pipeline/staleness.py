"""How fast the model goes stale (ML Test Score M4): quality against age, period by period.

The evaluate stage scores the model on the production window (``paths.split``'s
``production.parquet``: the rows after the test window, which the model never saw) one
period (``evaluate.staleness_period``, a month by default) at a time, and writes the curve
nested under ``staleness`` in ``metrics.json``. Age counts periods after the test window:
the period holding ``prepare.production_start`` is age 1, the first period the model serves
after it was evaluated. A period's drop is the test window's ROC AUC minus its own; the model
is stale from the first age whose drop exceeds ``gate.max_drop``.

Pure core: :func:`staleness_curve` on a frame of (time, target, probability);
:func:`score_production` scores the rows; :func:`curve_problems` is the verdict the model
test passes on the curve (``evaluate.max_age_periods``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mlops.core.config import EvaluateParams, GateParams, PrepareParams, SchemaParams
from mlops.pipeline.scores import DIGITS, ranking, two_classes
from mlops.pipeline.train import features_and_target

# evaluate.staleness_period -> pandas period frequency
_FREQUENCIES = {"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}


def _auc(group: pd.DataFrame) -> float | None:
    """ROC AUC of one period, None when it holds only one class (undefined)."""
    target = group["target"].to_numpy()
    if not two_classes(target):
        return None
    return ranking(target, group["probability"].to_numpy())["roc_auc"]


def _periods(times: pd.Series, period: str) -> pd.Series:
    return pd.to_datetime(times).dt.to_period(_FREQUENCIES[period])


def staleness_curve(
    scored: pd.DataFrame, test_auc: float, production_start: date, period: str, max_drop: float
) -> dict[str, Any]:
    """The quality-vs-age curve of ``scored`` (columns time, target, probability: the
    production rows with the model's probability), against the test window's ``test_auc``.

    Each period with rows gives ``period``, ``age_periods`` (1 = the period holding
    ``production_start``), ``rows``, ``roc_auc`` and ``drop`` (``test_auc - roc_auc``; both
    None when the period holds one class); ``stale_after`` is the first age whose drop
    exceeds ``max_drop``, None if none does."""
    start = pd.Period(pd.Timestamp(production_start), _FREQUENCIES[period])
    labelled = scored.dropna(subset=["target"])
    points = []
    for name, group in labelled.groupby(_periods(labelled["time"], period), sort=True):
        auc = _auc(group)
        points.append(
            {
                "period": str(name),
                "age_periods": (name - start).n + 1,
                "rows": len(group),
                "roc_auc": auc,
                "drop": None if auc is None else round(test_auc - auc, DIGITS),
            }
        )
    stale = [p["age_periods"] for p in points if p["drop"] is not None and p["drop"] > max_drop]
    return {
        "period": period,
        "test": {"roc_auc": test_auc},
        "periods": points,
        "stale_after": stale[0] if stale else None,
    }


def score_production(
    model: Pipeline,
    production: pd.DataFrame,
    schema: SchemaParams,
    test_auc: float,
    windows: PrepareParams,
    params: EvaluateParams,
    gate: GateParams,
) -> dict[str, Any]:
    """Score ``model`` on the labelled production rows and return :func:`staleness_curve`
    (``prepare.production_start``, ``evaluate.staleness_period``, ``gate.max_drop``)."""
    labelled = production.dropna(subset=[schema.target])
    features, target = features_and_target(labelled, schema)
    probability = model.predict_proba(features)[:, 1] if len(labelled) else np.array([])
    scored = pd.DataFrame(
        {"time": labelled[schema.time], "target": target, "probability": probability}
    )
    return staleness_curve(
        scored, test_auc, windows.production_start, params.staleness_period, gate.max_drop
    )


def curve_problems(
    curve: dict[str, Any], production_times: pd.Series, max_age: int, max_drop: float
) -> list[str]:
    """What is wrong with ``curve`` (from :func:`staleness_curve`): a period of the production
    window (``production_times``) it does not score, or staleness within ``max_age`` periods."""
    problems = []
    expected = sorted(set(_periods(production_times, curve["period"]).astype(str)))
    missing = sorted(set(expected) - {p["period"] for p in curve["periods"]})
    if missing:
        problems.append(
            f"the staleness curve has no point for {', '.join(missing)} of the production "
            "window: re-run the evaluate stage (make repro) so it scores every period"
        )
    stale_after = curve["stale_after"]
    if stale_after is not None and stale_after <= max_age:
        point = next(p for p in curve["periods"] if p["age_periods"] == stale_after)
        problems.append(
            f"the model is stale after {stale_after} {curve['period']}(s): ROC AUC "
            f"{point['roc_auc']:.4f} in {point['period']} against {curve['test']['roc_auc']:.4f} "
            f"on the test window, a drop of {point['drop']:.4f} > gate.max_drop {max_drop:g}, "
            f"within evaluate.max_age_periods {max_age} in params.yaml: retrain on more recent "
            "data (move the prepare windows) or lower the promise"
        )
    return problems
