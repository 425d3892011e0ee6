"""Command line of the pipeline: one command per stage, each a thin wrapper.

dvc.yaml calls these with the paths from params.yaml (``${paths.*}``); every command also
runs on its own, e.g. ``uv run mlops validate --help``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mlops.clikit import ParamsOption, friendly
from mlops.errors import DataFetchError, DataValidationError
from mlops.gitio import GitError
from mlops.params import DEFAULT_PARAMS, Params, ParamsError, load_params

app = typer.Typer(
    help="ML CI/CD template: pipeline stages and helpers (see `make help`).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _user_errors() -> tuple[type[BaseException], ...]:
    from mlops.cloudauth import CloudAuthError

    return (
        DataValidationError,
        DataFetchError,
        ParamsError,
        FileNotFoundError,
        ValueError,
        GitError,
        CloudAuthError,
    )


_friendly = friendly("", _user_errors)


def _in(help_text: str) -> Any:
    return typer.Option(..., help=help_text)


def _params(path: Path) -> Params:
    return load_params(path)


@app.command()
@_friendly
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
    from mlops.fetch import fetch as run_fetch

    raw = raw or _params(params).paths.raw
    how = run_fetch(raw, dvc_file)
    print(f"fetch: {raw}/ matches {dvc_file} ({how})")


@app.command("pull-cache")
@_friendly
def pull_cache(
    dvc_file: Annotated[Path, typer.Option(help="the .dvc file of the raw data")] = Path(
        "data.dvc"
    ),
) -> None:
    """Pull outputs and run-cache from the DVC remote when one is configured (never fails)."""
    from mlops.fetch import pull_cache as run_pull

    message = run_pull(dvc_file)
    print(f"pull-cache: {message}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a") as f:
            f.write(f"**DVC cache:** {message}\n\n")


@app.command("cloud-auth")
@_friendly
def cloud_auth() -> None:
    """In GitHub Actions: OIDC credentials for the DVC remote's cloud (DVC_* variables)."""
    from mlops.cloudauth import configure

    message = configure()
    print(f"cloud-auth: {message}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a") as f:
            f.write(f"**DVC remote credentials:** {message}\n\n")


@app.command()
@_friendly
def validate(
    raw: Annotated[Path, _in("folder of raw files (paths.raw)")],
    out: Annotated[Path, _in("validated table, parquet (paths.dataset)")],
    report: Annotated[Path, _in("validation summary, JSON (paths.validation)")],
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Build the modelling table from the raw files and check it against the schema."""
    from mlops import validate as stage

    p = _params(params)
    stage.main(raw, out, report, p.schema, p.validation)


@app.command()
@_friendly
def prepare(
    dataset: Annotated[Path, _in("validated table (paths.dataset)")],
    out: Annotated[Path, _in("folder for train/test/production parquet (paths.split)")],
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Split the validated table into training, test and production windows by time."""
    from mlops import prepare as stage

    p = _params(params)
    stage.main(dataset, out, p.schema, p.prepare)


@app.command()
@_friendly
def train(
    split: Annotated[Path, _in("folder with train.parquet (paths.split)")],
    model: Annotated[Path, _in("where to write the fitted pipeline (paths.model)")],
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Fit the preprocessing + estimator pipeline on the training window."""
    from mlops import train as stage

    p = _params(params)
    stage.main(split / "train.parquet", model, p.schema, p.train)


@app.command()
@_friendly
def evaluate(
    model: Annotated[Path, _in("fitted pipeline (paths.model)")],
    split: Annotated[Path, _in("folder with train/test parquet (paths.split)")],
    metrics: Annotated[Path, _in("metrics JSON to write (paths.metrics)")],
    plots: Annotated[Path, _in("folder for plot data (paths.plots)")],
    figures: Annotated[Path, _in("folder for PNG renderings (paths.figures)")],
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Score the model on the test window: metrics, plot data and PNG figures."""
    from mlops import evaluate as stage

    p = _params(params)
    stage.main(model, split, metrics, plots, figures, p.schema, p.evaluate, p.train.seed)


@app.command()
@_friendly
def show(params: ParamsOption = DEFAULT_PARAMS) -> None:
    """Print the metrics table and where the plots are (after `make run`)."""
    p = _params(params)
    if not p.paths.metrics.exists():
        raise FileNotFoundError(f"{p.paths.metrics} not found: run `make run` first")
    metrics = json.loads(p.paths.metrics.read_text())
    scalars = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    width = max(map(len, scalars))
    print(f"\nMetrics on the test window ({p.paths.metrics}):")
    for name, value in scalars.items():
        print(f"  {name:<{width}}  {value:.4f}")
    rows = metrics.get("rows", {})
    print("  " + ", ".join(f"{k} rows {v:,}" for k, v in rows.items()))
    confusion = metrics.get("confusion")
    if confusion:
        print("  confusion: " + ", ".join(f"{k} {v:,}" for k, v in confusion.items()))
    pngs = sorted(p.paths.figures.glob("*.png"))
    print(f"\nPlots: {', '.join(str(f) for f in pngs)}")
    print(f"Plot data for `dvc plots show`: {p.paths.plots}/")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def repro(ctx: typer.Context, params: ParamsOption = DEFAULT_PARAMS) -> None:
    """Run `dvc repro` (extra arguments are passed on) and record each stage's status and time."""
    from mlops import repro as stage

    p = _params(params)
    code = stage.main(p.paths.report / stage.RECORD_FILE, list(ctx.args))
    if code:
        print(f"error in `repro`: dvc repro failed (exit code {code}); see above", file=sys.stderr)
        raise typer.Exit(code)


BaseOption = Annotated[
    str, typer.Option("--base", help="base branch or revision (origin/<base> is preferred)")
]
OutcomeOption = Annotated[
    str | None,
    typer.Option(
        "--pipeline-outcome",
        envvar="PIPELINE_OUTCOME",
        help="outcome of the CI step that ran `make repro` (success, failure, ...); without "
        "it, the record `make repro` wrote decides",
    ),
]


@app.command()
@_friendly
def report(
    base: BaseOption = "main",
    pipeline_outcome: OutcomeOption = None,
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Write the pull-request report (paths.report/report.md) against the base branch."""
    import yaml

    from mlops import report as stage

    p = _params(params)
    stage.main(p, yaml.safe_load(params.read_text()), base, pipeline_outcome, params)


@app.command()
@_friendly
def gate(
    base: BaseOption = "main",
    pipeline_outcome: OutcomeOption = None,
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Fail (exit 1) when the pipeline failed, the primary metric regressed against the base
    branch, or the branch changes the gate's rules, unless the PR has the override label.
    The rules and the label come from the base branch's params.yaml."""
    import yaml

    from mlops import report as stage
    from mlops.repro import RECORD_FILE

    p = _params(params)
    inputs = stage.collect(
        p,
        yaml.safe_load(params.read_text()),
        base,
        p.paths.report / RECORD_FILE,
        pipeline_outcome,
        params,
    )
    result, rules = inputs.gate, inputs.gate_rules
    if rules.warning:
        print(f"gate: warning: {rules.warning}", file=sys.stderr)
    if result.passed:
        print(f"gate: {result.message()}: {result.metric} {result.head:.4f} ({result.verdict})")
    elif result.overridden:
        print(f"gate: {result.message()}; passing because the PR has the override label")
    else:
        print(f"gate: {result.message()}", file=sys.stderr)
        if inputs.failure is not None:
            print(
                "gate: fix the pipeline (see the report): no label overrides a failed run",
                file=sys.stderr,
            )
        else:
            print(
                f"gate: to merge anyway, a reviewer adds the label '{rules.rules.override_label}'",
                file=sys.stderr,
            )
        raise typer.Exit(1)


@app.command("gate-label")
@_friendly
def gate_label(
    label: Annotated[
        str,
        typer.Option("--label", envvar="LABEL", help="the label a labeled/unlabeled event names"),
    ],
    base: BaseOption = "main",
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Whether a label event can change the gate's verdict: only the base branch's override
    label can. Writes gate=true|false to $GITHUB_OUTPUT, so pr.yml re-runs only the gate
    and the comment for that label, and nothing for any other."""
    import yaml

    from mlops import gitio
    from mlops import report as stage

    text = gitio.read_at(gitio.resolve(base), params)
    base_params = yaml.safe_load(text) if text else None
    rules = stage.gate_rules(_params(params).gate, base_params, base).rules
    affects = label == rules.override_label
    if affects:
        print(f"gate-label: '{label}' is the override label on {base}: the gate runs again")
    else:
        print(
            f"gate-label: '{label}' is not the override label on {base} "
            f"('{rules.override_label}'): the gate's verdict cannot change, nothing to do"
        )
    if output := os.environ.get("GITHUB_OUTPUT"):
        with Path(output).open("a", encoding="utf-8") as out:
            out.write(f"gate={'true' if affects else 'false'}\n")


def _register_subcommands() -> None:
    from mlops import monitor_cli
    from mlops.fork import app as fork_app
    from mlops.serving_cli import app as service_app

    app.add_typer(service_app, name="service", help="Build, serve, smoke-test and deploy.")
    app.add_typer(fork_app, name="fork", help="Make the template your own: rename it.")
    for command in (
        monitor_cli.monitor,
        monitor_cli.replay,
        monitor_cli.alert,
        monitor_cli.retrain,
    ):
        app.command()(command)
    for name, command in (
        ("monitor-site", monitor_cli.site),
        ("monitor-pages-off", monitor_cli.pages_off),
        ("monitor-comment", monitor_cli.comment),
    ):
        app.command(name)(command)


_register_subcommands()


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
