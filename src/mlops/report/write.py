"""The `report` command's work: collect the inputs, render the report, and write it where CI
picks it up (report.md, gate.json, the gate's verdict, the interactive plots page, the
branch's model card, the job summary)."""

from __future__ import annotations

import hashlib
import json
import os
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
from mlops.report.gate import GateDecision, GateResult, decision
from mlops.report.render import render

VERDICT_FILE = "verdict.json"


def verdict_key(params: Params, base: str, outcome: str | None, params_file: Path) -> str:
    """A digest of everything the gate's verdict depends on: the base commit, the pipeline's
    outcome, the PR's labels (PR_LABELS), this branch's params, dvc.lock, metrics and
    predictions, and the stages record. Equal keys, equal verdicts."""
    digest = hashlib.sha256()
    for part in (github.resolve(base), outcome or "", os.environ.get("PR_LABELS") or "[]"):
        digest.update(part.encode() + b"\0")
    files = [params_file, Path("dvc.lock"), params.paths.metrics, params.paths.predictions]
    for path in [*files, params.paths.report / RECORD_FILE]:
        digest.update(path.read_bytes() if path.is_file() else b"-")
        digest.update(b"\0")
    return digest.hexdigest()


def save_decision(
    params: Params, base: str, outcome: str | None, params_file: Path, said: GateDecision
) -> None:
    key = verdict_key(params, base, outcome, params_file)
    path = params.paths.report / VERDICT_FILE
    path.write_text(json.dumps({"key": key, **asdict(said)}, indent=2) + "\n")


def saved_decision(
    params: Params, base: str, outcome: str | None, params_file: Path
) -> GateDecision | None:
    """The verdict `report` wrote for exactly this state (CI runs `gate` right after it, in
    the same job: the report's comparison is not computed twice), or None."""
    path = params.paths.report / VERDICT_FILE
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    try:
        key = verdict_key(params, base, outcome, params_file)
    except github.GitError:
        return None  # judging again says what is wrong with the base
    if saved.get("key") != key:
        return None  # another base, outcome, label set or pipeline output: judge again
    return GateDecision(saved["passes"], saved["out"], saved["err"])


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
    said = decision(inputs.gate, inputs.gate_rules, inputs.failure)
    save_decision(params, base, outcome, params_file, said)
    github.step_summary(text)
    print(text.splitlines()[0].lstrip("# "))
    print(f"report: {out_dir / 'report.md'} ({len(text):,} characters)")
    return inputs.gate
