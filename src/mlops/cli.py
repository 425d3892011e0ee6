"""The command line: ``mlops <command>`` (or ``python -m mlops``), the one surface the
Makefile and the workflows call. Each area declares its commands in its own ``commands.py``
(:mod:`mlops.core.cli` says how); this module only mounts them, under the names CI runs.
"""

from __future__ import annotations

from mlops.core.cli import new_app
from mlops.monitoring.commands import app as monitoring
from mlops.pipeline.commands import app as pipeline
from mlops.release.commands import app as release
from mlops.release.registry_commands import app as registry
from mlops.report.commands import app as report
from mlops.tooling.commands import app as tooling

app = new_app("ML CI/CD template: pipeline stages and helpers (see `make help`).")
app.add_typer(pipeline)  # fetch, pull-cache, validate, prepare, train, evaluate, show, repro
app.add_typer(report)  # report, gate, gate-label
app.add_typer(monitoring)  # monitor, replay, alert, retrain, monitor-site, monitor-comment, ...
app.add_typer(release)  # service build, serve, smoke, containerize, deploy, release, ...
app.add_typer(registry)  # registry plan, register, promote, resolve (GTO tags)
app.add_typer(tooling)  # cloud-auth, fork rename


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
