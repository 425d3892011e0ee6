"""The trend of the monitor's signals over runs: small inline SVG charts (no script, no
network: the site renders offline), one per signal, with the alert threshold drawn.

:func:`series` turns the history (:mod:`.history`) into one series per signal;
:func:`chart` draws one; :func:`trend_html` all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 360, 170, 34


@dataclass(frozen=True)
class Series:
    title: str
    values: list[float | None]  # one per run, oldest first
    threshold: float | None
    bad_above: bool  # True: alert when the value is at or above the threshold
    labels: list[str]  # run dates


def series(runs: list[dict[str, Any]]) -> list[Series]:
    """One series per signal of the history (pure): drift share, prediction drift, each
    production metric, each feature's score; the latest run's threshold."""
    if not runs:
        return []
    labels = [str(r.get("generated_at") or "")[:16].replace("T", " ") for r in runs]
    last = runs[-1]

    def one(title: str, pick: Any, threshold: float | None, bad_above: bool = True) -> Series:
        return Series(title, [_number(pick(r)) for r in runs], threshold, bad_above, labels)

    prediction = last["prediction_drift"]
    out = [
        one("data drift: share of features drifted", lambda r: r["data_drift"]["share"],
            last["data_drift"]["threshold"]),
        one(f"prediction drift ({prediction.get('method') or 'n/a'})",
            lambda r: r["prediction_drift"].get("score"), prediction.get("threshold")),
    ]  # fmt: skip
    for name, row in last.get("performance", {}).items():
        out.append(
            one(
                f"production {name} (late labels)",
                lambda r, n=name: r.get("performance", {}).get(n, {}).get("current"),
                row.get("floor"),
                bad_above=False,
            )
        )
    for name, row in last["features"].items():
        out.append(
            one(
                f"{name} ({row.get('method')})",
                lambda r, n=name: r["features"].get(n, {}).get("score"),
                row.get("threshold"),
            )
        )
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def chart(s: Series) -> str:
    """One line chart as inline SVG: the values over runs, runs past the threshold as red
    dots, the threshold on top as a red dashed line."""
    known = [v for v in s.values if v is not None]
    top = max([*known, s.threshold or 0.0, 1e-9]) * 1.15
    n = len(s.values)

    def x(i: int) -> float:
        return PAD + (WIDTH - 2 * PAD) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v / top)

    points = [(x(i), y(v), v) for i, v in enumerate(s.values) if v is not None]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(s.title)}">',
        f'<text x="{PAD}" y="16" font-size="12" font-weight="600">{escape(s.title)}</text>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#8c959f"/>',
        f'<text x="4" y="{y(top / 1.15) + 4:.1f}" font-size="10">{top / 1.15:.3g}</text>',
        f'<text x="4" y="{HEIGHT - PAD + 4}" font-size="10">0</text>',
        f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="10">{escape(s.labels[0])}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" font-size="10" text-anchor="end">'
        f"{escape(s.labels[-1])}</text>",
    ]
    if len(points) > 1:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#0969da" stroke-width="2"/>')
    for px, py, v in points:
        parts.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{_colour(s, v)}">'
            f"<title>{v:.4f}</title></circle>"
        )
    if s.threshold is not None:
        ty = y(s.threshold)
        parts.append(
            f'<line x1="{PAD}" y1="{ty:.1f}" x2="{WIDTH - PAD}" y2="{ty:.1f}" stroke="#cf222e" '
            f'stroke-dasharray="5 4"/><text x="{WIDTH - PAD}" y="{ty - 4:.1f}" font-size="10" '
            f'fill="#cf222e" text-anchor="end" stroke="#fff" stroke-width="3" paint-order="stroke">'
            f"alert {s.threshold:.3g}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _colour(s: Series, value: float) -> str:
    if s.threshold is None:
        return "#0969da"
    past = value >= s.threshold if s.bad_above else value < s.threshold
    return "#cf222e" if past else "#0969da"


def trend_html(runs: list[dict[str, Any]]) -> str:
    """Every chart of the history, or a line saying there is no history yet."""
    charts = series(runs)
    if not charts:
        return "<p>No history yet: the trend appears from the first run on.</p>"
    return (
        f'<h2>Trend over {len(runs)} run(s)</h2>\n<div class="trend">'
        + "".join(f"<figure>{chart(s)}</figure>" for s in charts)
        + "</div>"
    )
