"""PNG renderings of the evaluation plots, for people (DVC renders the same data as HTML).

Uses matplotlib's object API (``Figure``), not pyplot: no global state, no display needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from mlops.pipeline.evaluate import Evaluation

_SIZE = (5.5, 4.5)
_DPI = 120


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI, metadata={"Software": None})
    return path


def roc(result: Evaluation, path: Path) -> Path:
    fig = Figure(figsize=_SIZE)
    ax = fig.subplots()
    ax.plot(result.roc["fpr"], result.roc["tpr"], label=f"AUC {result.metrics['roc_auc']:.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    return _save(fig, path)


def prc(result: Evaluation, path: Path) -> Path:
    fig = Figure(figsize=_SIZE)
    ax = fig.subplots()
    ax.plot(
        result.prc["recall"],
        result.prc["precision"],
        label=f"average precision {result.metrics['pr_auc']:.3f}",
    )
    base = result.metrics["positive_rate"]
    ax.axhline(base, linestyle="--", color="grey", label=f"positive rate {base:.3f}")
    ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve", ylim=(0, 1))
    ax.legend(loc="upper right")
    return _save(fig, path)


def calibration(result: Evaluation, path: Path) -> Path:
    fig = Figure(figsize=_SIZE)
    ax = fig.subplots()
    cal = result.calibration
    ax.plot(cal["mean_predicted"], cal["observed_rate"], marker="o", label="model")
    top = float(max(cal["mean_predicted"].max(), cal["observed_rate"].max(), 0.05))
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfectly calibrated")
    ax.set(
        xlabel="Mean predicted probability",
        ylabel="Observed positive rate",
        title=f"Calibration (Brier {result.metrics['brier']:.4f})",
    )
    ax.legend(loc="upper left")
    return _save(fig, path)


def importance(result: Evaluation, path: Path) -> Path:
    imp = result.importance.iloc[::-1]  # largest at the top
    fig = Figure(figsize=(_SIZE[0], max(3.0, 0.3 * len(imp) + 1)))
    ax = fig.subplots()
    ax.barh(imp["feature"], imp["importance"], xerr=imp["std"], color="tab:blue")
    ax.set(xlabel="Drop in ROC AUC when shuffled", title="Permutation feature importance")
    return _save(fig, path)


def confusion(result: Evaluation, path: Path) -> Path:
    c = result.metrics["confusion"]
    matrix = np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])
    fig = Figure(figsize=(4.5, 4))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        ax.text(j, i, f"{count:,}", ha="center", va="center", color=colour)
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=["0", "1"],
        yticklabels=["0", "1"],
        xlabel="Predicted",
        ylabel="Actual",
        title=f"Confusion matrix (threshold {result.metrics['threshold']})",
    )
    return _save(fig, path)


RENDERERS = {
    "roc": roc,
    "prc": prc,
    "calibration": calibration,
    "importance": importance,
    "confusion": confusion,
}


def render_all(result: Evaluation, figures_dir: Path) -> list[Path]:
    figures_dir.mkdir(parents=True, exist_ok=True)
    return [render(result, figures_dir / f"{name}.png") for name, render in RENDERERS.items()]
