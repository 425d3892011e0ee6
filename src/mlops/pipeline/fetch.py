"""Get the raw data that ``data.dvc`` pins, and prove it is that data.

``data.dvc`` is the single source of truth: whatever the source, the files under
``paths.raw`` must hash to the MD5 it records.

1. Already there and matching: nothing to do.
2. A DVC remote is configured: ``dvc pull data.dvc``.
3. No remote (the default, and any fork without secrets), or the pull failed: the embedded
   copy (see ``dataset.materialize_embedded``) is written and verified.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mlops.core.errors import DataFetchError
from mlops.yours import dataset


def _open_output(dvc_file: Path):  # -> (Repo, Output)
    from dvc.repo import Repo  # heavy import, only when fetching

    repo = Repo(str(dvc_file.parent.resolve()))
    stage = repo.stage.load_one(str(dvc_file.resolve()))
    if len(stage.outs) != 1:
        raise DataFetchError(f"{dvc_file} must track exactly one output, found {len(stage.outs)}")
    return repo, stage.outs[0]


def matches(dvc_file: Path) -> tuple[bool, str, str]:
    """(whether the workspace data hashes to what dvc_file records, expected, actual)."""
    _, out = _open_output(dvc_file)
    expected = out.hash_info.value or "(none)"
    if not Path(out.fspath).exists():
        return False, expected, "(missing)"
    actual = out.get_hash().value or "(none)"
    return actual == expected, expected, actual


def configured_remote(dvc_file: Path) -> str | None:
    repo, _ = _open_output(dvc_file)
    remotes = repo.config.get("remote", {})
    return repo.config["core"].get("remote") or next(iter(remotes), None)


def _commit_to_cache(dvc_file: Path) -> None:
    """Put the verified data in the local DVC cache, so `dvc status` is clean and
    `dvc push` can upload it once a remote is configured. The hash is unchanged."""
    repo, _ = _open_output(dvc_file)
    repo.commit(str(dvc_file), force=True, relink=False)


def fetch(raw_dir: Path, dvc_file: Path = Path("data.dvc")) -> str:
    """Make ``raw_dir`` hold exactly the data ``dvc_file`` pins; return how it was obtained."""
    if not dvc_file.exists():
        raise DataFetchError(
            f"{dvc_file} not found: run from the repository root (it pins the raw data)"
        )
    ok, expected, _ = matches(dvc_file)
    if ok:
        _commit_to_cache(dvc_file)
        return "already present"

    remote = configured_remote(dvc_file)
    if remote:
        print(f"fetch: pulling {dvc_file} from DVC remote '{remote}' ...", flush=True)
        pulled = subprocess.run(
            [sys.executable, "-m", "dvc", "pull", dvc_file.name],
            cwd=dvc_file.parent.resolve(),
            check=False,
        ).returncode
        if pulled == 0 and matches(dvc_file)[0]:  # dvc pull also fills the cache
            return f"pulled from remote '{remote}'"
        print(
            f"fetch: warning: `dvc pull` from '{remote}' failed (credentials? network?); "
            "trying the embedded copy",
            file=sys.stderr,
        )

    print(f"fetch: writing the embedded default data to {raw_dir}/ ...", flush=True)
    dataset.materialize_embedded(raw_dir)
    ok, expected, actual = matches(dvc_file)
    if not ok:
        raise DataFetchError(
            f"{raw_dir}/ does not match {dvc_file}: expected md5 {expected}, got {actual}.\n"
            "The embedded copy is not the data this commit pins. Configure the DVC remote that "
            "holds it (docs/data-remotes.md) and run `make data` again, or, if "
            f"the new data is intended, record it with `dvc add {raw_dir}`."
        )
    _commit_to_cache(dvc_file)
    return "embedded copy, verified against data.dvc"


def pull_cache(dvc_file: Path = Path("data.dvc")) -> str:
    """The pipeline's outputs and run-cache from the DVC remote (pulled) or, without one,
    from the local cache (checked out), so stages whose inputs did not change are reused
    instead of re-run. Never fails the caller: a fork without credentials simply recomputes."""
    remote = configured_remote(dvc_file)
    if not remote:
        # The outputs dvc.lock records, from the local cache (in CI: restored by
        # actions/cache) where it has them: a stage whose inputs and outputs match the lock
        # is then skipped. The run-cache alone cannot restore a stage with uncached outputs
        # (validate, evaluate). Never --force: a modified output in the workspace is kept.
        checked = subprocess.run(
            [sys.executable, "-m", "dvc", "checkout", "--allow-missing", "-q"],
            cwd=dvc_file.parent.resolve(),
            capture_output=True,
            text=True,
            check=False,
        )
        got = "outputs checked out from" if checked.returncode == 0 else "could not check out"
        return (
            f"no DVC remote configured: {got} the local DVC cache (in CI: actions/cache); "
            "unchanged stages are reused from it. To share them, configure a remote "
            "(docs/data-remotes.md) and give CI its credentials (docs/secrets.md)."
        )
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "pull", "--run-cache", "--allow-missing"],
        cwd=dvc_file.parent.resolve(),
        check=False,
    )
    if result.returncode != 0:
        return (
            f"warning: `dvc pull --run-cache` from '{remote}' failed (missing credentials? "
            "a fork has no secrets); the pipeline will recompute what it needs. CI reads the "
            "remote with the variable DVC_AWS_ROLE_ARN, DVC_GCP_WORKLOAD_PROVIDER + "
            "DVC_GCP_SERVICE_ACCOUNT or DVC_AZURE_CLIENT_ID + DVC_AZURE_TENANT_ID (OIDC), or "
            "key secrets (docs/secrets.md)"
        )
    return f"pulled outputs and run-cache from DVC remote '{remote}'"
