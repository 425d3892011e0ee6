"""Errors a user can act on: each says what was wrong, where, and what to do.

Every such error derives from :class:`UserError`; the CLI (:mod:`mlops.core.cli`) prints its
message and exits 1 instead of showing a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class UserError(Exception):
    """An error whose message tells the user what to fix (not a bug in the template)."""


@dataclass(frozen=True)
class Failure:
    """One broken rule: which column, which rule, how many rows, a few examples."""

    column: str
    rule: str
    rows: int
    examples: tuple[str, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        rows = f"{self.rows} row{'s' if self.rows != 1 else ''}"
        text = f"column '{self.column}': rule {self.rule} broken by {rows}"
        if self.examples:
            text += f" (e.g. {', '.join(self.examples)})"
        return text


class DataValidationError(UserError):
    """The data does not satisfy its schema; carries every failure found, not just the first."""

    def __init__(self, source: str, failures: list[Failure], hint: str) -> None:
        self.source = source
        self.failures = failures
        self.hint = hint
        lines = [f"{source}: {len(failures)} problem{'s' if len(failures) != 1 else ''} found"]
        lines += [f"  - {failure}" for failure in failures]
        lines.append(hint)
        super().__init__("\n".join(lines))


class DataFetchError(UserError):
    """The raw data could not be obtained or does not match data.dvc."""
