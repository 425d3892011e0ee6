"""The report's plots as Mermaid charts, which GitHub renders in a comment itself: base and
branch on one chart (base grey, this branch blue)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

BASE_COLOUR, HEAD_COLOUR = "#9e9e9e", "#1f77b4"


def _grid_line(curve: list[dict[str, float]], x: str, y: str, grid: np.ndarray) -> list[float]:
    frame = pd.DataFrame(curve).sort_values([x, y], kind="stable")
    return np.interp(grid, frame[x].to_numpy(), frame[y].to_numpy()).round(3).tolist()


def xychart(
    title: str,
    x_label: str,
    y_label: str,
    grid: np.ndarray,
    lines: list[list[float]],
    y_range: tuple[float, float] = (0.0, 1.0),
) -> str:
    """A Mermaid xychart (GitHub renders it in comments): base grey, this branch blue."""
    colours = [BASE_COLOUR, HEAD_COLOUR] if len(lines) == 2 else [HEAD_COLOUR]
    init = {"themeVariables": {"xyChart": {"plotColorPalette": ", ".join(colours)}}}
    body = [
        f"%%{{init: {json.dumps(init)}}}%%",
        "xychart-beta",
        f'  title "{title}"',
        f'  x-axis "{x_label}" {grid[0]:g} --> {grid[-1]:g}',
        f'  y-axis "{y_label}" {y_range[0]:g} --> {y_range[1]:g}',
        *(f"  line [{', '.join(f'{v:g}' for v in line)}]" for line in lines),
    ]
    return "```mermaid\n" + "\n".join(body) + "\n```"


def curve_chart(
    title: str,
    head: list[dict[str, float]] | None,
    base: list[dict[str, float]] | None,
    x: str,
    y: str,
    x_label: str,
    y_label: str,
    points: int = 21,
    fit: bool = False,
) -> str | None:
    """Base and head curves resampled on one x grid (Mermaid lines share their x values).

    ``fit``: the grid and y axis span only the observed range, rounded up to a tenth
    (calibration curves rarely reach 1), instead of [0, 1].
    """
    if not head:
        return None
    curves = [c for c in (base, head) if c]
    top = 1.0
    if fit:
        seen = [float(p[k]) for c in curves for p in c for k in (x, y)]
        top = min(1.0, math.ceil(max([*seen, 0.1]) * 10) / 10)
    grid = np.linspace(0.0, top, points)
    lines = [_grid_line(c, x, y, grid) for c in curves]
    legend = "grey: base, blue: this branch" if base else "this branch"
    return xychart(f"{title} ({legend})", x_label, y_label, grid, lines, (0.0, top))


def importance_chart(head: list[dict[str, Any]] | None, top: int = 10) -> str | None:
    if not head:
        return None
    rows = head[:top]
    names = ", ".join(f'"{r["feature"]}"' for r in rows)
    values = ", ".join(f"{max(float(r['importance']), 0.0):.4f}" for r in rows)
    high = max([float(r["importance"]) for r in rows] + [0.001])
    body = [
        "xychart-beta horizontal",
        f'  title "Permutation importance, top {len(rows)} (drop in ROC AUC)"',
        f"  x-axis [{names}]",
        f'  y-axis "drop in ROC AUC" 0 --> {high * 1.1:.3f}',
        f"  bar [{values}]",
    ]
    return "```mermaid\n" + "\n".join(body) + "\n```"


# ------------------------------------------------------------- the charts of the report
# ``head`` and ``base`` are the plot data evaluate writes (paths.plots), by plot name.


def curves(head: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """The ROC and precision-recall charts (the report's "Curves")."""
    charts = [
        curve_chart(
            "ROC",
            head.get("roc"),
            base.get("roc"),
            "fpr",
            "tpr",
            "false positive rate",
            "true positive rate",
        ),
        curve_chart(
            "Precision-recall",
            head.get("prc"),
            base.get("prc"),
            "recall",
            "precision",
            "recall",
            "precision",
        ),
    ]
    return [c for c in charts if c]


def more_plots(head: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """The calibration curve and the permutation importance (the report's "More plots")."""
    charts = [
        curve_chart(
            "Calibration",
            head.get("calibration"),
            base.get("calibration"),
            "mean_predicted",
            "observed_rate",
            "mean predicted probability",
            "observed rate",
            points=11,
            fit=True,
        ),
        importance_chart(head.get("importance")),
    ]
    return [c for c in charts if c]
