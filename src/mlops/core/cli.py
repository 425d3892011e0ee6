"""How every command of the CLI is declared: each area's ``commands.py`` holds a
``typer.Typer`` named ``app`` (:func:`new_app`) whose commands are registered with
:func:`command` under the names CI runs; :mod:`mlops.cli` mounts those apps. This module
holds what they share: the --params option and the one list of errors a user can act on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

from mlops.core.config import DEFAULT_PARAMS
from mlops.core.errors import UserError

ParamsOption = Annotated[Path, typer.Option("--params", help="params.yaml to read", dir_okay=False)]
__all__ = ["DEFAULT_PARAMS", "USER_ERRORS", "ParamsOption", "command", "new_app"]

# A user can act on these: a message and exit code 1 instead of a traceback. ValueError and
# FileNotFoundError come from the libraries (pandas, pydantic, open) with useful messages.
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, FileNotFoundError, ValueError)


def new_app(help_text: str, group: str | None = None) -> typer.Typer:
    """An area's commands. ``group`` names a sub-command group (``mlops service build``);
    without one, :mod:`mlops.cli` mounts the commands at the top level."""
    return typer.Typer(
        name=group,
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )


def command(
    app: typer.Typer, name: str | None = None, **settings: Any
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a function as the command ``name`` (default: its name, ``_`` -> ``-``) of
    ``app``. A :data:`USER_ERRORS` error becomes ``error in `<command>`: ...`` on stderr
    and exit code 1, instead of a traceback."""

    def register(function: Callable[..., None]) -> Callable[..., None]:
        called = name or function.__name__.rstrip("_").replace("_", "-")
        where = f"{app.info.name} {called}" if app.info.name else called

        @wraps(function)
        def run(*args: Any, **kwargs: Any) -> None:
            try:
                function(*args, **kwargs)
            except USER_ERRORS as exc:
                print(f"error in `{where}`: {exc}", file=sys.stderr)
                raise typer.Exit(1) from None

        app.command(called, **settings)(run)
        return function

    return register
