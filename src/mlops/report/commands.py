"""Commands of the pull-request report: ``report`` writes it, ``gate`` decides whether the
branch may merge, ``gate-label`` whether a label event can change that decision."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mlops.core.cli import DEFAULT_PARAMS, ParamsOption, command, new_app
from mlops.core.config import load_params
from mlops.core.github import set_output

app = new_app("The pull-request report and its gate.")


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


@command(app)
def report(
    base: BaseOption = "main",
    pipeline_outcome: OutcomeOption = None,
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Write the pull-request report (paths.report/report.md) against the base branch."""
    import yaml

    from mlops.report import write

    p = load_params(params)
    write.main(p, yaml.safe_load(params.read_text()), base, pipeline_outcome, params)


@command(app)
def gate(
    base: BaseOption = "main",
    pipeline_outcome: OutcomeOption = None,
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Fail (exit 1) when the pipeline failed, the primary metric regressed against the base
    branch, or the branch changes the gate's rules, unless the PR has the override label.
    The rules and the label come from the base branch's params.yaml."""
    import yaml

    from mlops.pipeline.repro import RECORD_FILE
    from mlops.report import collect
    from mlops.report.gate import decision
    from mlops.report.write import saved_decision

    p = load_params(params)
    said = saved_decision(p, base, pipeline_outcome, params)
    if said is None:
        inputs = collect.collect(
            p,
            yaml.safe_load(params.read_text()),
            base,
            p.paths.report / RECORD_FILE,
            pipeline_outcome,
            params,
        )
        said = decision(inputs.gate, inputs.gate_rules, inputs.failure)
    for line in said.err:
        print(line, file=sys.stderr)
    for line in said.out:
        print(line)
    if not said.passes:
        raise typer.Exit(1)


@command(app, "gate-label")
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
    from mlops.core import github
    from mlops.report.collect import yaml_at
    from mlops.report.gate import gate_rules

    base_params = yaml_at(github.resolve(base), params)
    rules = gate_rules(load_params(params).gate, base_params, base).rules
    affects = label == rules.override_label
    if affects:
        print(f"gate-label: '{label}' is the override label on {base}: the gate runs again")
    else:
        print(
            f"gate-label: '{label}' is not the override label on {base} "
            f"('{rules.override_label}'): the gate's verdict cannot change, nothing to do"
        )
    set_output("gate", affects)


@command(app, "model-card")
def model_card(
    attach: Annotated[
        bool,
        typer.Option(
            "--attach",
            help="also attach the card to the GitHub release model-<version> (gh, GH_TOKEN)",
        ),
    ] = False,
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Write the model card (paths.card) from params.yaml, dvc.lock and metrics.json; with
    --attach, upload it to the release of the model dvc.lock records."""
    from mlops.core.github import gh
    from mlops.release.notes import release_tag
    from mlops.report.card import write_card

    p = load_params(params)
    path = write_card(p)
    print(f"model-card: {path}")
    if attach:
        tag = release_tag(p)
        print(f"+ gh release upload {tag} {path} --clobber", flush=True)
        gh("release", "upload", tag, str(path), "--clobber")
        print(f"model-card: attached to the release {tag}")
