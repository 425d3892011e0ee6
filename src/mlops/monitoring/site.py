"""The GitHub Pages site of the monitor: the latest report and its summary.

The monitor workflow publishes the latest report to GitHub Pages when the repository
variable MONITOR_PAGES is "true": a small site whose index page shows since when drift
lasts, one chart per signal over the runs of the history (``monitor.history``) with its
alert threshold, the latest summary, and links the full Evidently report.
"""

from __future__ import annotations

import json
import shutil
from html import escape
from pathlib import Path
from typing import Any

from mlops.monitoring import history
from mlops.monitoring.errors import MonitorError
from mlops.monitoring.summary import summary_markdown
from mlops.monitoring.trend import trend_html

SITE_FILES = ("report.html", "summary.json", "summary.md", "history.jsonl")

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1f2328; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; }}
code {{ background: #f6f8fa; padding: .1rem .3rem; border-radius: 4px; }}
.trend {{ display: flex; flex-wrap: wrap; gap: .5rem; }}
.trend figure {{ margin: 0; border: 1px solid #d0d7de; border-radius: 6px; padding: .3rem; }}
.latest {{ font-size: 1.2rem; padding: .8rem 1rem; background: #f6f8fa;
          border: 1px solid #d0d7de; border-radius: 6px; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="latest"><a href="report.html">Latest drift report</a> (generated {generated},
verdict <strong>{verdict}</strong>) &middot; <a href="summary.json">summary.json</a>
&middot; <a href="summary.md">summary.md</a> &middot; <a href="history.jsonl">history.jsonl</a></p>
{drifting}
{trend}
{summary}
</body>
</html>
"""


def site_index(
    summary: dict[str, Any],
    runs: list[dict[str, Any]] | None = None,
    title: str = "Production monitoring",
) -> str:
    """The site's index page: a link to the latest report, the trend of every signal over
    ``runs`` (the history) and the latest summary (pure)."""
    from markdown_it import MarkdownIt

    markdown = summary_markdown(summary)
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    since = summary.get("history", {}).get("drifting_since")
    drifting = (
        f"<p><strong>Drift since {escape(str(since))}</strong> "
        f"({summary['history']['drifted_runs']} run(s) in a row).</p>"
        if since
        else ""
    )
    return _PAGE.format(
        title=escape(title),
        generated=escape(str(summary.get("generated_at", "n/a"))),
        verdict=escape(str(summary.get("verdict", "n/a"))),
        drifting=drifting,
        trend=trend_html(runs or []),
        summary=body,
    )


def build_site(report_dir: Path, site: Path) -> list[Path]:
    """Write ``site``: index.html plus the report and summaries of ``report_dir``."""
    missing = [name for name in SITE_FILES if not (report_dir / name).is_file()]
    if missing:
        raise MonitorError(
            f"{', '.join(str(report_dir / m) for m in missing)} not found: the Pages site is "
            "built from the monitor's output; run `make monitor` first"
        )
    summary = json.loads((report_dir / "summary.json").read_text())
    runs = history.read_runs(str(report_dir / "history.jsonl"))
    if site.exists():
        shutil.rmtree(site)  # the site is always exactly the latest run
    site.mkdir(parents=True)
    written = []
    for name in SITE_FILES:
        shutil.copy2(report_dir / name, site / name)
        written.append(site / name)
    (site / "index.html").write_text(site_index(summary, runs), encoding="utf-8")
    written.append(site / "index.html")
    return written
