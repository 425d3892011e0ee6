"""The `report` command's work: collect the inputs, render the report, and write it where CI
picks it up (report.md, gate.json, the interactive plots page, the branch's model card, the
job summary)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlops.core import github
from mlops.core.config import DEFAULT_PARAMS, Params
from mlops.pipeline.repro import RECORD_FILE
from mlops.report.card import write_card
from mlops.report.collect import collect
from mlops.report.gate import GateResult
from mlops.report.render import render


def render_plots_page(base_sha: str, out_dir: Path) -> Path | None:
    """`dvc plots diff` against the base: the interactive page uploaded with the artifacts.

    The page loads Vega from a CDN, so it renders in a browser with network access; the
    PNG figures in the artifact need nothing.
    """
    target = out_dir / "plots"
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "plots", "diff", base_sha, "--out", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        print(f"report: warning: `dvc plots diff` failed, no plots page:\n{result.stderr}")
        return None
    return target / "index.html"


def main(
    params: Params,
    raw_params: dict[str, Any],
    base: str,
    outcome: str | None = None,
    params_file: Path = DEFAULT_PARAMS,
) -> GateResult:
    """Write report.md and gate.json to ``paths.report``; also after a failed pipeline run
    (``outcome``: the CI step's), which the report then describes."""
    out_dir = params.paths.report
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = collect(params, raw_params, base, out_dir / RECORD_FILE, outcome, params_file)
    if inputs.failure is None:  # after a failure there are no plots of this branch to diff
        render_plots_page(inputs.base_sha, out_dir)
        inputs.card = write_card(params, out_dir / "model-card.md")  # the report links it
    text = render(inputs)
    (out_dir / "report.md").write_text(text)
    (out_dir / "gate.json").write_text(json.dumps(asdict(inputs.gate), indent=2) + "\n")
    github.step_summary(text)
    print(text.splitlines()[0].lstrip("# "))
    print(f"report: {out_dir / 'report.md'} ({len(text):,} characters)")
    return inputs.gate
