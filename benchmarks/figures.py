"""What each measured figure of the documents says, rendered from the file that holds it.

One function per block name (:data:`BLOCKS`); ``benchmarks/tables.py`` (``make bench-docs``)
writes their output between the documents' ``bench:NAME`` markers. The sources: the
benchmarks' JSON (benchmarks/results.json, service.json, monitor.json, ci.json), the suite's
measured times (tests/durations.json), the committed metrics (reports/metrics.json) and the
example report (docs/pr-report-example.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class StaleSource(Exception):
    """A document names a block no renderer knows, or a source lacks what a block shows."""


# --- reading the sources ---------------------------------------------------------------------


@cache
def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise StaleSource(f"{path} not found: run the benchmark that writes it")
    return json.loads(path.read_text())


def source(name: str) -> dict[str, Any]:
    """One JSON source, by its path in the repository."""
    return _read_json(ROOT / name)


def _date(data: dict[str, Any]) -> str:
    return data.get("when", "")[:10] or "on an unrecorded date"


def _machine(data: dict[str, Any]) -> str:
    machine = data["machine"]
    return f"{machine['cpus']} CPUs, Python {machine['python']}"


def _met(flag: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "not known yet"}[flag]


def _load(values: list[float]) -> str:
    return f"load {values[0]:.1f}"


# --- the pipeline: benchmarks/results.json ---------------------------------------------------

PIPELINE_MEASURES = {
    "full_repro": "full pipeline (`dvc repro --force --no-run-cache`)",
    "noop_repro": "no-op `dvc repro`",
}


def pipeline_table() -> str:
    data = source("benchmarks/results.json")
    lines = [
        "| measure | median | runs | baseline | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in PIPELINE_MEASURES.items():
        m = data[key]
        runs = ", ".join(f"{run:.1f}" for run in m["runs"])
        lines.append(
            f"| {label} | {m['seconds']:.1f} s | {runs} | {m['baseline_seconds']:.1f} s: "
            f"{m['baseline']} | {m['overhead_ratio']:.2f} | ≤ {m['target_seconds']:g} s: "
            f"{_met(m['meets_target'])} |"
        )
    lines += ["", f"Measured {_date(data)} ({_machine(data)})."]
    return "\n".join(lines)


def repro_times() -> str:
    data = source("benchmarks/results.json")
    return (
        f"{data['full_repro']['seconds']:.1f} s of pipeline on {data['machine']['cpus']} "
        f"cores, {data['noop_repro']['seconds']:.1f} s when nothing changed"
    )


# --- the service: benchmarks/service.json ----------------------------------------------------


def _loads(server: dict[str, Any]) -> list[str]:
    """The keys of the single-record loads (c1, c16, ...), fewest connections first."""
    return sorted((k for k in server if re.fullmatch(r"c\d+", k)), key=lambda k: int(k[1:]))


SERVICE_COLUMNS = {  # benchmarks/service.json's servers, in the table's order
    "bentoml": "BentoML service",
    "bentoml_floor": "BentoML floor (constant answer)",
    "fastapi": "FastAPI + Pipeline",
    "fastapi_fast": "FastAPI + fast path",
}


def _latency(run: dict[str, Any]) -> str:
    return f"{run['rps']:,.0f}, {run['p50_ms']:.1f}/{run['p90_ms']:.1f}/{run['p99_ms']:.1f}"


def _service_load_rows(data: dict[str, Any]) -> list[str]:
    limit = data["in_process"]["single"]
    rows = []
    for key in _loads(data["bentoml"]):
        connections = int(key[1:])
        label = f"{connections} connection{'s' * (connections != 1)}: req/s, p50/p90/p99 ms"
        cells = " | ".join(_latency(data[name][key]) for name in SERVICE_COLUMNS)
        baseline = f"{limit['rps']:,.0f}, {limit['p50_ms']:.1f} (p50)" if connections == 1 else ""
        rows.append(f"| {label} | {cells} | {baseline} |")
    return rows


def _errors(server: dict[str, Any]) -> str:
    """Errors of each load, then of the batch load; "of N" where there were any."""
    runs = [server[k] for k in _loads(server)] + [server["batch"]]
    return ", ".join(f"{r['errors']} of {r['requests']:,}" if r["errors"] else "0" for r in runs)


def _row(data: dict[str, Any], label: str, cell: Any, last: str = "") -> str:
    return f"| {label} | {' | '.join(cell(data[name]) for name in SERVICE_COLUMNS)} | {last} |"


def service_table() -> str:
    data = source("benchmarks/service.json")
    limit, rows = data["in_process"], data["batch_rows"]
    at = f"c{data['target']['connections']}"
    lines = [
        f"| measure | {' | '.join(SERVICE_COLUMNS.values())} | in process |",
        "|---" * (len(SERVICE_COLUMNS) + 2) + "|",
        *_service_load_rows(data),
        _row(data, f"server CPU per request at {at[1:]} connections",
             lambda s: f"{s[at]['server_cpu_ms_per_request']:.2f} ms"),
        _row(data, f"wrk's own CPU per request at {at[1:]} connections",
             lambda s: f"{s[at]['client_cpu_ms_per_request']:.3f} ms"),
        _row(data, f"batch of {rows:,} rows: rows/s", lambda s: f"{s['batch']['rows_per_s']:,.0f}",
             f"{limit['fast_batch']['rows_per_s']:,.0f} ({limit['engine']}), "
             f"{limit['batch']['rows_per_s']:,.0f} (Pipeline)"),
        _row(data, f"errors ({', '.join(k[1:] for k in _loads(data['bentoml']))} connections, "
             "batch)", _errors),
        _row(data, "cold start to `/readyz`", lambda s: f"{s['cold_start_s']:.1f} s"),
        _row(data, "server memory (RSS)", lambda s: f"{s['memory_mb']:,.0f} MiB"),
    ]  # fmt: skip
    machine = data["machine"]
    lines += [
        "",
        f"Load generator: {data['load_generator']}; {data['seconds_per_load']:.0f} s per load; "
        f"{machine['cpus']} CPUs, load average {machine['loadavg_start'][0]:.1f} at the start.",
        "",
        *(
            f"- {'met' if c['met'] else '**not met**'}: {c['check']}: {c['measured']:,} "
            f"(target {c['target']})"
            for c in data["checks"]
        ),
        "",
        f"Verdict of `benchmarks/service.py`: {data['verdict']}.",
    ]
    return "\n".join(lines)


def service_fastpath() -> str:
    limit = source("benchmarks/service.json")["in_process"]
    return (
        f"{limit['fast_single']['p50_ms']:.2f} ms for one record where the sklearn Pipeline "
        f"takes {limit['single']['p50_ms']:.1f} ms (medians, `make bench-service`)"
    )


def service_cpu() -> str:
    data = source("benchmarks/service.json")
    run = data["bentoml"][f"c{data['target']['connections']}"]
    return f"{run['server_cpu_ms_per_request']:.1f} ms"


def service_batch() -> str:
    data = source("benchmarks/service.json")
    bento, fast = data["bentoml"]["batch"], data["in_process"]["fast_batch"]
    return (
        f"`/predict_batch` ({data['batch_rows']:,} rows) serves {bento['rows_per_s']:,.0f} "
        f"rows/s, {bento['rows_per_s'] / fast['rows_per_s']:.2f}x the fast path's "
        f"{fast['rows_per_s']:,.0f} rows/s in process (target 0.8x)"
    )


def service_floor() -> str:
    """The service against BentoML's floor (constant answers) and FastAPI + fast path."""
    data = source("benchmarks/service.json")
    at = f"c{data['target']['connections']}"
    service, floor = data["bentoml"][at]["rps"], data["bentoml_floor"][at]["rps"]
    fastapi = data["fastapi_fast"][at]["rps"]
    return (
        f"at {at[1:]} connections BentoML answering a constant (no model, no log) serves "
        f"{floor:,.0f} req/s and the service {service:,.0f} ({service / floor:.0%} of it), "
        f"where FastAPI serving the same fast path serves {fastapi:,.0f}"
    )


# --- the monitor: benchmarks/monitor.json ----------------------------------------------------

MONITOR_CASES = {
    "monitor": "`make monitor`",
    "baseline_plain_evidently": "plain pandas + Evidently (baseline)",
}


def _rows(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n:,}"


def monitor_table() -> str:
    data = source("benchmarks/monitor.json")
    lines = [
        "| case | rows | log size | seconds | peak memory | verdict |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in data["results"]:
        size = f"{r['log_gb']:.2f} GB" if "log_gb" in r else ""
        lines.append(
            f"| {MONITOR_CASES[r['case']]} | {_rows(r['rows'])} | {size} | {r['seconds']:.1f} | "
            f"{r['peak_rss_mb']:,.0f} MB | {r.get('verdict', '')} |"
        )
    target = data["targets_for_10M_rows"]
    lines += [
        "",
        f"Target for 10M rows: ≤ {target['seconds']:g} s and ≤ {target['peak_rss_mb']:,.0f} MB "
        f"of peak memory: {_met(data['largest_within_targets'])} by the largest case. "
        f"Measured {_date(data)} ({_machine(data)}).",
    ]
    return "\n".join(lines)


# --- the pull-request check: benchmarks/ci.json ----------------------------------------------

CI_JOB_NAMES = {
    "lint": "`lint`",
    "pipeline": "`pipeline and report`",
    "comment": "`report comment`",
}


def _job_order(name: str) -> tuple[int, str]:
    rank = {"lint": 0, "pipeline": 2, "comment": 3}.get(name, 1)
    return rank, name


def _job_label(name: str) -> str:
    shard = re.fullmatch(r"test \((\d+/\d+)\)", name)
    return f"`test`, shard {shard.group(1)}" if shard else CI_JOB_NAMES.get(name, f"`{name}`")


def _job_cell(run: dict[str, Any], name: str) -> str:
    job = run["jobs"].get(name)
    if job is None:
        return "not measured"
    failed = ", a test failed" if job.get("failed") else ""
    return f"{job['seconds']:.0f} s ({_load(job['load_after'])}{failed})"


def _critical_cell(run: dict[str, Any]) -> str:
    path = " → ".join(run["critical_path"])
    text = f"**{run['critical_path_seconds']:.0f} s** ({path})"
    if run.get("unmeasured_jobs"):
        text += f"; a lower bound: {', '.join(run['unmeasured_jobs'])} not measured"
    return text


def ci_jobs_table() -> str:
    data = source("benchmarks/ci.json")
    kinds = [data[kind] for kind in ("warm", "cold")]
    names = {name for run in kinds for name in [*run["jobs"], *run.get("unmeasured_jobs", [])]}
    names -= {"test"} if any(name.startswith("test (") for name in names) else set()
    lines = ["| job (one runner each) | warm caches | cold caches |", "|---|---|---|"]
    for name in sorted(names, key=_job_order):
        lines.append(f"| {_job_label(name)} | {' | '.join(_job_cell(r, name) for r in kinds)} |")
    lines.append(f"| **critical path** | {' | '.join(_critical_cell(r) for r in kinds)} |")
    targets = ", ".join(f"{k} ≤ {data[k]['target_seconds']:g} s" for k in ("warm", "cold"))
    lines += ["", f"Targets: {targets}; met: {_met(data['warm']['meets_target'])} (warm), "
              f"{_met(data['cold']['meets_target'])} (cold)."]  # fmt: skip
    return "\n".join(lines)


def ci_labels_table() -> str:
    events = source("benchmarks/ci.json")["label_event"]
    lines = ["| label | jobs that ran | time |", "|---|---|---|"]
    for label, run in events.items():
        failed = ", failed" if run.get("failed") else ""
        lines.append(
            f"| `{label}` | {' → '.join(run['critical_path'])} | "
            f"{run['critical_path_seconds']:.0f} s ({_load(run['load_after'])}{failed}) |"
        )
    return "\n".join(lines)


def ci_when() -> str:
    data = source("benchmarks/ci.json")
    loads = [
        job["load_after"][0]
        for kind in ("warm", "cold")
        for job in data[kind]["jobs"].values()
        if "load_after" in job
    ]
    return (
        f"{_date(data)} on a {data['machine']['cpus']}-core machine; the load average (1 min) "
        f"when a job ended was between {min(loads):.1f} and {max(loads):.1f}"
    )


# --- the suite: tests/durations.json ---------------------------------------------------------


def suite_serial() -> str:
    total = source("tests/durations.json")["total_seconds"]
    return f"{total:,.0f} s ({total / 60:.0f} min)"


def slowest_test() -> str:
    seconds = source("tests/durations.json")["seconds"]
    unit = max(seconds, key=seconds.get)
    return f"`{unit}`, {seconds[unit]:.0f} s"


# --- mutation testing: benchmarks/mutation.json ---------------------------------------------


def _mutant_rows(rows: list[dict[str, Any]], why: bool) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    return [
        f"| `{r['function']}` | `{cell(r['mutated'])}` |" + (f" {cell(r['why'])} |" if why else "")
        for r in rows
    ]


def mutation_table() -> str:
    """Each module's mutation score, then every surviving and equivalent mutant."""
    data = source("benchmarks/mutation.json")
    lines = [
        "",
        "| decision logic | module | mutants | killed | survived | equivalent | score | floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in data["modules"].items():
        lines.append(
            f"| {name} | `{r['source']}` | {r['mutants']} | {r['killed']} | {r['survived']} "
            f"| {r['equivalent']} | {r['score']:.1%} | {r['floor']:.0%} |"
        )
    lines += ["", f"Measured with {data['tool']} on {data['generated_at'][:10]}.", ""]
    for name, r in data["modules"].items():
        if r["survivors"]:
            lines += [f"Surviving in {name}:", "", "| function | mutated line |", "|---|---|"]
            lines += [*_mutant_rows(r["survivors"], why=False), ""]
        if r["equivalent_mutants"]:
            lines += [
                f"Equivalent in {name} (reviewed in benchmarks/mutation.yaml):",
                "",
                "| function | mutated line | why it behaves as the original |",
                "|---|---|---|",
            ]
            lines += [*_mutant_rows(r["equivalent_mutants"], why=True), ""]
    return "\n".join(lines)


# --- the model: reports/metrics.json ---------------------------------------------------------


def metrics_block() -> str:
    """The metrics part of what `make show` prints, from the committed reports/metrics.json."""
    from mlops.pipeline.commands import metrics_text

    path = Path("reports/metrics.json")
    return "\n".join(["```text", metrics_text(source(str(path)), path), "```"])


def model_quality() -> str:
    m = source("reports/metrics.json")
    return (
        f"ROC AUC {m['roc_auc']:.3f} and PR AUC {m['pr_auc']:.3f} on the test months "
        f"(positive rate {m['positive_rate']:.2f})"
    )


def staleness_table() -> str:
    """The quality-vs-age curve the evaluate stage writes (metrics.json `staleness`)."""
    curve = source("reports/metrics.json")["staleness"]
    lines = [
        f"| {curve['period']} | age | rows | ROC AUC | drop from the test window "
        f"({curve['test']['roc_auc']:.4f}) |",
        "|---|---|---|---|---|",
    ]
    for point in curve["periods"]:
        auc = "n/a" if point["roc_auc"] is None else f"{point['roc_auc']:.4f}"
        drop = "n/a" if point["drop"] is None else f"{point['drop']:+.4f}"
        lines.append(
            f"| {point['period']} | {point['age_periods']} | {point['rows']:,} | {auc} | {drop} |"
        )
    stale = curve["stale_after"]
    lines += ["", f"`stale_after`: {'none' if stale is None else stale}."]
    return "\n".join(lines)


# --- the example report: docs/pr-report-example.md -------------------------------------------


def report_excerpt() -> str:
    """The example report's verdict and its first two metric rows, as a quote for README."""
    lines = (ROOT / "docs" / "pr-report-example.md").read_text().splitlines()
    verdict = next(line for line in lines if line.startswith("## "))
    start = lines.index("### Metrics") + 2
    table = lines[start : start + 4]  # header, separator, the first two metrics
    quoted = [verdict, "", *table, "", "… ([the whole example](docs/pr-report-example.md))"]
    return "\n".join(f"> {line}".rstrip() for line in quoted)


BLOCKS: dict[str, Callable[[], str]] = {
    "pipeline": pipeline_table,
    "repro-times": repro_times,
    "service": service_table,
    "service-fastpath": service_fastpath,
    "service-cpu": service_cpu,
    "service-batch": service_batch,
    "service-floor": service_floor,
    "monitor": monitor_table,
    "ci-jobs": ci_jobs_table,
    "ci-labels": ci_labels_table,
    "ci-when": ci_when,
    "suite-serial": suite_serial,
    "slowest-test": slowest_test,
    "metrics": metrics_block,
    "model-quality": model_quality,
    "staleness": staleness_table,
    "report-excerpt": report_excerpt,
    "mutation": mutation_table,
}
# Figures of the default data's model: a fork's own pipeline run changes them (its tests skip
# the check on other data, tests/code/test_docs.py).
DEFAULT_DATA_BLOCKS = frozenset({"metrics", "model-quality", "staleness"})
