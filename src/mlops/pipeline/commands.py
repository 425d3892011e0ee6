"""Commands of the pipeline: one per DVC stage (dvc.yaml calls them with the paths from
params.yaml, ``${paths.*}``), plus getting the data, the DVC cache and the metrics table.
Every command also runs on its own, e.g. ``mlops validate --help``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mlops.core.cli import DEFAULT_PARAMS, ParamsOption, command, new_app
from mlops.core.config import load_params
from mlops.core.github import step_summary

app = new_app("The pipeline's stages and data.")


def _in(help_text: str) -> Any:
    return typer.Option(..., help=help_text)


@command(app)
def fetch(
    raw: Annotated[
        Path | None, typer.Option(help="folder of raw files [default: paths.raw]")
    ] = None,
    dvc_file: Annotated[Path, typer.Option(help="the .dvc file that pins the raw data")] = Path(
        "data.dvc"
    ),
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Get the raw data pinned by data.dvc: dvc pull, or the embedded copy, verified."""
    from mlops.pipeline.fetch import fetch as run_fetch

    raw = raw or load_params(params).paths.raw
    how = run_fetch(raw, dvc_file)
    print(f"fetch: {raw}/ matches {dvc_file} ({how})")


@command(app, "pull-cache")
def pull_cache(
    dvc_file: Annotated[Path, typer.Option(help="the .dvc file of the raw data")] = Path(
        "data.dvc"
    ),
) -> None:
    """Pull outputs and run-cache from the DVC remote when one is configured (never fails)."""
    from mlops.pipeline.fetch import pull_cache as run_pull

    message = run_pull(dvc_file)
    print(f"pull-cache: {message}")
    step_summary(f"**DVC cache:** {message}")


@command(app)
def validate(
    raw: Annotated[Path, _in("folder of raw files (paths.raw)")],
    out: Annotated[Path, _in("validated table, parquet (paths.dataset)")],
    report: Annotated[Path, _in("validation summary, JSON (paths.validation)")],
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Build the modelling table from the raw files and check it against the schema."""
    from mlops.pipeline import validate as stage

    p = load_params(params)
    stage.main(raw, out, report, p.schema, p.validation)


@command(app)
def prepare(
    dataset: Annotated[Path, _in("validated table (paths.dataset)")],
    out: Annotated[Path, _in("folder for train/test/production parquet (paths.split)")],
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Split the validated table into training, test and production windows by time."""
    from mlops.pipeline import prepare as stage

    p = load_params(params)
    stage.main(dataset, out, p.schema, p.prepare)


@command(app)
def train(
    split: Annotated[Path, _in("folder with train.parquet (paths.split)")],
    model: Annotated[Path, _in("where to write the fitted pipeline (paths.model)")],
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Fit the preprocessing + estimator pipeline on the training window."""
    from mlops.pipeline import train as stage

    p = load_params(params)
    stage.main(split / "train.parquet", model, p.schema, p.train)


@command(app)
def evaluate(
    model: Annotated[Path, _in("fitted pipeline (paths.model)")],
    split: Annotated[Path, _in("folder with train/test parquet (paths.split)")],
    metrics: Annotated[Path, _in("metrics JSON to write (paths.metrics)")],
    plots: Annotated[Path, _in("folder for plot data (paths.plots)")],
    figures: Annotated[Path, _in("folder for PNG renderings (paths.figures)")],
    predictions: Annotated[Path, _in("per-row test predictions to write (paths.predictions)")],
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Score the model and a simpler baseline on the test window: metrics with confidence
    intervals, per-row predictions, plot data, PNGs."""
    from mlops.pipeline import evaluate as stage

    p = load_params(params)
    stage.main(
        model,
        split,
        metrics,
        plots,
        figures,
        predictions,
        p.schema,
        p.evaluate,
        p.train,
        p.prepare,
        p.gate,
    )


def metrics_text(metrics: dict[str, Any], source: Path) -> str:
    """The metrics table `show` prints (docs/ quote it through benchmarks/figures.py)."""
    scalars = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    width = max(map(len, scalars))
    lines = [f"Metrics on the test window ({source}):"]
    lines += [f"  {name:<{width}}  {value:.4f}" for name, value in scalars.items()]
    lines.append("  " + ", ".join(f"{k} rows {v:,}" for k, v in metrics.get("rows", {}).items()))
    if confusion := metrics.get("confusion"):
        lines.append("  confusion: " + ", ".join(f"{k} {v:,}" for k, v in confusion.items()))
    if baseline := metrics.get("baseline"):
        lines.append(
            f"  baseline {baseline['estimator']}: roc_auc {baseline['roc_auc']:.4f}, "
            f"pr_auc {baseline['pr_auc']:.4f} (the model's roc_auc "
            f"{metrics['roc_auc'] - baseline['roc_auc']:+.4f})"
        )
    return "\n".join(lines)


@command(app)
def show(params: ParamsOption = DEFAULT_PARAMS) -> None:
    """Print the metrics table and where the plots are (after `make run`)."""
    p = load_params(params)
    if not p.paths.metrics.exists():
        raise FileNotFoundError(f"{p.paths.metrics} not found: run `make run` first")
    print("\n" + metrics_text(json.loads(p.paths.metrics.read_text()), p.paths.metrics))
    pngs = sorted(p.paths.figures.glob("*.png"))
    print(f"\nPlots: {', '.join(str(f) for f in pngs)}")
    print(f"Plot data for `dvc plots show`: {p.paths.plots}/")


@command(app, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def repro(ctx: typer.Context, params: ParamsOption = DEFAULT_PARAMS) -> None:
    """Run `dvc repro` (extra arguments are passed on) and record each stage's status and time."""
    from mlops.pipeline import repro as stage

    p = load_params(params)
    code = stage.main(p.paths.report / stage.RECORD_FILE, list(ctx.args))
    if code:
        print(f"error in `repro`: dvc repro failed (exit code {code}); see above", file=sys.stderr)
        raise typer.Exit(code)
