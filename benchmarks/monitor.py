"""Benchmark the monitor on large prediction logs, against plain Evidently in the same run.

- ``monitor`` on 1M and 10M logged predictions (streamed, reservoir-sampled, bounded memory),
  the whole command as a user runs it (reads the log, scores the reference, Evidently,
  writes report.html / summary.json / summary.md);
- baseline: what one writes without the monitor: ``pandas.read_json(lines=True)`` of the
  1M-row log, flattened, and Evidently's ``DataDriftPreset`` on every row against the whole
  training window.

Logs are real: 50,000 production-window flights scored by the model in ``models/``, written
in the service's format and repeated with fresh request ids up to the row count. Each
measurement runs in its own process (wall time and peak RSS). Targets on a 2-core machine
for 10M rows: <= 60 s and <= 2 GB. Writes benchmarks/monitor.json and prints a table.

    uv run python benchmarks/monitor.py [--rows 1000000 10000000] [--no-baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"seconds": 60.0, "peak_rss_mb": 2048.0}  # for 10M rows
BLOCK = 50_000


def write_log(path: Path, rows: int) -> float:
    """A JSON-lines log of ``rows`` real predictions; returns the seconds it took."""
    started = time.perf_counter()
    _repeat(_logged_predictions(), path, rows)
    return time.perf_counter() - started


def _logged_predictions() -> list[str]:
    """``BLOCK`` production-window flights scored by the model, one JSON line each in the
    service's format; the request ids start with ``@@`` (replaced per repetition)."""
    import numpy as np
    import pandas as pd

    from mlops.core import model_io
    from mlops.core.config import load_params

    params = load_params(ROOT / "params.yaml")
    schema = params.schema
    table = pd.read_parquet(ROOT / params.paths.split / "production.parquet")
    table = table.sample(min(BLOCK, len(table)), random_state=0, replace=len(table) < BLOCK)
    model = model_io.load(ROOT / params.paths.model)
    probability = model.predict_proba(table[schema.feature_names])[:, 1]
    kinds = {name: spec.type for name, spec in schema.features.items()}

    def value(raw: object, kind: str) -> object:
        if isinstance(raw, float) and np.isnan(raw):
            return None
        return int(raw) if kind == "int" else raw

    lines = []
    for i, (row, p) in enumerate(zip(table.to_dict("records"), probability, strict=True)):
        label = schema.positive_label if p >= params.evaluate.threshold else schema.negative_label
        record = {
            "timestamp": f"2026-11-26T00:00:{i % 60:02d}.000000+00:00",
            "request_id": f"@@-{i}",
            "model_version": "0123456789ab",
            "features": {name: value(row[name], kind) for name, kind in kinds.items()},
            "probability": round(float(p), 6),
            "prediction": label,
            "unknown_categories": [],
        }
        lines.append(json.dumps(record, separators=(",", ":")))
    return lines


def _repeat(lines: list[str], path: Path, rows: int) -> None:
    """Write ``lines`` repeated up to ``rows`` lines, with fresh request ids each time."""
    block = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        written = 0
        for b in range(0, rows, len(lines)):
            take = min(len(lines), rows - b)
            chunk = block if take == len(lines) else "\n".join(lines[:take]) + "\n"
            out.write(chunk.replace("@@", f"b{b // len(lines)}"))
            written += take
            if (b // len(lines)) % 20 == 0:
                print(f"  writing {path.name}: {written:,}/{rows:,} rows", flush=True)


def child_monitor(log: Path, out: Path) -> dict:
    from mlops.core.config import load_params
    from mlops.monitoring import run

    os.chdir(ROOT)
    params = load_params(ROOT / "params.yaml")
    rules = params.monitor
    summary = run.main(params, rules, logs=str(log), labels="", out=out, say=lambda m: None)
    return {"verdict": summary["verdict"], "rows": summary["log"]["rows"]}


def child_baseline(log: Path, out: Path) -> dict:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from mlops.core.config import load_params

    params = load_params(ROOT / "params.yaml")
    schema = params.schema
    raw = pd.read_json(log, lines=True)
    current = pd.json_normalize(raw["features"].tolist())
    del raw
    reference = pd.read_parquet(ROOT / params.paths.split / "train.parquet")[schema.feature_names]
    definition = DataDefinition(
        numerical_columns=schema.numeric, categorical_columns=schema.categorical
    )
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current[schema.feature_names], data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    out.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out / "baseline.html"))
    return {"rows": len(current)}


def measure(kind: str, log: Path, out: Path) -> dict:
    """Run one measurement in a fresh process: wall seconds and peak RSS."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--log", str(log), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"benchmark: {kind} on {log} failed:\n{result.stderr[-3000:]}")
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    return {**payload, "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "monitor.json")
    parser.add_argument("--child", choices=["monitor", "baseline"])
    parser.add_argument("--log", type=Path)
    args = parser.parse_args()
    if args.child:
        run = child_monitor if args.child == "monitor" else child_baseline
        payload = run(args.log, args.out)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({**payload, "peak_rss_mb": round(peak)}))
        return
    results = run_cases(sorted(args.rows), baseline=not args.no_baseline)
    write_results(results, args.out)


def run_cases(row_counts: list[int], baseline: bool) -> list[dict]:
    """The monitor on a log of each size (and the plain baseline on 1M rows), in a
    temporary folder that is removed after."""
    work = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    results = []
    try:
        for rows in row_counts:
            log = work / f"log-{rows}.jsonl"
            print(f"benchmark: writing a {rows:,}-row prediction log ...", flush=True)
            write_log(log, rows)
            size = log.stat().st_size / 1e9
            print(f"benchmark: monitor on {rows:,} rows ({size:.1f} GB) ...", flush=True)
            entry = {"case": "monitor", "rows": rows, "log_gb": round(size, 2)}
            results.append({**entry, **measure("monitor", log, work / f"out-{rows}")})
            print(f"  {results[-1]}", flush=True)
            if rows == 1_000_000 and baseline:
                print("benchmark: baseline (plain pandas + Evidently) on 1M rows ...", flush=True)
                base = measure("baseline", log, work / "baseline")
                results.append({"case": "baseline_plain_evidently", "rows": rows, **base})
                print(f"  {results[-1]}", flush=True)
            log.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def write_results(results: list[dict], out: Path) -> None:
    """``out`` (JSON, with the machine and whether the largest run met the targets) and a
    table on stdout."""
    largest = max((r for r in results if r["case"] == "monitor"), key=lambda r: r["rows"])
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "targets_for_10M_rows": TARGETS,
        "results": results,
        "largest_within_targets": largest["seconds"] <= TARGETS["seconds"]
        and largest["peak_rss_mb"] <= TARGETS["peak_rss_mb"],
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'case':<26} {'rows':>11} {'seconds':>8} {'peak MB':>8}")
    for r in results:
        print(f"{r['case']:<26} {r['rows']:>11,} {r['seconds']:>8.1f} {r['peak_rss_mb']:>8,}")
    print(f"\nbenchmark: results -> {out}")


if __name__ == "__main__":
    main()
