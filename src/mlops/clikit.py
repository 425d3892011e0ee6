"""What every command group of the CLI shares: the --params option and the error handling
that turns a fixable error into one message and exit code 1 instead of a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

ParamsOption = Annotated[Path, typer.Option("--params", help="params.yaml to read", dir_okay=False)]


def friendly(
    group: str, user_errors: Callable[[], tuple[type[BaseException], ...]]
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A decorator for the commands of ``group`` ("" for top-level commands).

    ``user_errors`` returns the exception types a user can act on; it is called only when a
    command fails, so heavy modules are imported only then.
    """

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        name = command.__name__.rstrip("_").replace("_", "-")
        where = f"{group} {name}" if group else name

        @wraps(command)
        def run(*args: Any, **kwargs: Any) -> None:
            try:
                command(*args, **kwargs)
            except Exception as exc:
                if not isinstance(exc, user_errors()):
                    raise
                print(f"error in `{where}`: {exc}", file=sys.stderr)
                raise typer.Exit(1) from None

        return run

    return decorate
