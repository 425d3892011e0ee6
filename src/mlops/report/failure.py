"""Whether this branch's pipeline run failed, where, and why.

A failed pipeline is never reported as "unchanged": its metrics, plots and data profile in
the workspace are not the branch's, so the report leaves them out and says so, and the gate
fails whatever label the pull request carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VALIDATE_STAGE = "validate"  # the dvc.yaml stage that writes the data profile (paths.validation)


@dataclass(frozen=True)
class PipelineFailure:
    """Where the pipeline stopped and why: the stage, the validation problems, the log's end."""

    stage: str | None  # None: before any stage ran (or the run left no record)
    problems: list[str] = field(default_factory=list)
    source: str | None = None  # what was validated, e.g. "data (modelling table)"
    hint: str | None = None
    log_tail: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"at stage `{self.stage}`" if self.stage else "before any stage ran"

    @property
    def counted(self) -> str:
        """E.g. ": 7 data problems"; empty when the failure has no validation problems."""
        n = len(self.problems)
        return f": {n} data problem{'s' if n != 1 else ''}" if n else ""

    def summary(self) -> str:
        """E.g. "the pipeline failed at stage `validate`: 7 data problems"."""
        return f"the pipeline failed {self.where}{self.counted}"


def pipeline_failure(
    run: dict[str, Any] | list[Any] | None,
    validation: dict[str, Any] | None,
    outcome: str | None = None,
) -> PipelineFailure | None:
    """Whether the pipeline of this branch failed, and where; None when it succeeded.

    ``run`` is the record `make repro` writes (``repro.record``); ``validation`` the
    validate stage's report, which holds the problems when the data failed; ``outcome``
    the CI step's outcome (``success``, ``failure``, ...; None outside CI). A run counts as
    failed when any of the three says so: the record, a validation report with problems (it
    is rewritten by every validate run), or the CI step.
    """
    record = run if isinstance(run, dict) else {}
    failed_validation = bool(validation) and validation.get("passed") is False
    recorded = record.get("exit_code", 0) != 0
    ci_failed = outcome not in (None, "", "success")
    if not (recorded or failed_validation or ci_failed):
        return None
    stage = record.get("failed_stage") if recorded else None
    if failed_validation and stage in (None, VALIDATE_STAGE):
        problems = [str(p.get("message", p)) for p in validation.get("problems") or []]
        stage = VALIDATE_STAGE
    else:
        problems = []
    return PipelineFailure(
        stage=stage,
        problems=problems,
        source=validation.get("source") if problems and validation else None,
        hint=validation.get("hint") if problems and validation else None,
        log_tail=list(record.get("log_tail") or []),
    )
