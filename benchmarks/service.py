"""Benchmark of the prediction service against two baselines measured in the same run.

    make bench-service        (after `make bento`)

On 127.0.0.1, with a bounded load generator (a fixed number of keep-alive connections for a
fixed time), it measures single-record throughput and p50/p99 latency at 1, 16 and 64
connections, and the batch endpoint's rows/s, for:

- the BentoML service (the built bento, `bentoml serve <name>:latest`);
- baseline "limit": the model's in-process `predict_proba` (no HTTP at all);
- baseline "fastapi": a minimal FastAPI/uvicorn app serving the same model (one process,
  no batching, no logging): benchmarks/fastapi_baseline.py.

It also records cold start (process start to /readyz answering 200) and server memory (RSS
of the server's process tree), and writes everything to benchmarks/service.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from mlops.core import model_io  # noqa: E402
from mlops.core.config import load_params  # noqa: E402
from mlops.release.localserver import HOST, free_port, running  # noqa: E402
from mlops.serving.api import example_record  # noqa: E402
from mlops.serving.model import md5_of  # noqa: E402
from mlops.serving.predictor import Predictor  # noqa: E402

CONCURRENCY = (1, 16, 64)
TARGET = {"rps": 800, "p99_ms": 50, "connections": 16}


# --------------------------------------------------------------------------- the records
def sample_records(params: Any, n: int = 2000) -> list[dict[str, Any]]:
    """Real rows of the test window when the pipeline ran, else valid synthetic ones."""
    test = params.paths.split / "test.parquet"
    if test.exists():
        table = pd.read_parquet(test)[params.schema.feature_names].sample(n, random_state=0)
        table = table.astype(object).where(table.notna(), None)
        records = table.to_dict("records")
        for record in records:
            for name, spec in params.schema.features.items():
                if spec.type == "int" and record[name] is not None:
                    record[name] = int(record[name])
                elif spec.type == "float" and record[name] is not None:
                    record[name] = float(record[name])
        return records
    return [example_record(params.schema)] * n


# --------------------------------------------------------------------------- load generator
def _request(port: int, path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _connection(
    port: int, requests: list[bytes], stop_at: float, warm_until: float, out: dict[str, Any]
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    i = 0
    try:
        while (now := time.perf_counter()) < stop_at:
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            done = time.perf_counter()
            if now >= warm_until:
                out["latencies"].append(done - now)
                if status != 200:
                    out["errors"] += 1
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        out["errors"] += 1
        out["failure"] = repr(exc)
    finally:
        writer.close()


def load(
    port: int, path: str, bodies: list[bytes], connections: int, seconds: float, warmup: float
) -> dict[str, Any]:
    """`connections` keep-alive connections, each sending requests back to back."""
    requests = [_request(port, path, body) for body in bodies]
    out: dict[str, Any] = {"latencies": [], "errors": 0}

    async def main() -> None:
        start = time.perf_counter()
        await asyncio.gather(
            *(
                _connection(
                    port, requests[c:] + requests[:c], start + warmup + seconds,
                    start + warmup, out,
                )
                for c in range(connections)
            )
        )  # fmt: skip

    cpu_before = time.process_time()
    asyncio.run(main())
    result = summarize(out["latencies"], seconds, out["errors"])
    # the load generator shares the machine's cores with the server: its cost per request
    result["client_cpu_ms_per_request"] = round(
        1000
        * (time.process_time() - cpu_before)
        / max(1.0, len(out["latencies"]) * (1 + warmup / seconds)),
        2,
    )
    return result


def summarize(latencies: list[float], seconds: float, errors: int = 0) -> dict[str, Any]:
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else math.nan,
        "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else math.nan,
        "errors": errors,
    }


# --------------------------------------------------------------------------- baselines
def in_process(
    predictor: Predictor,
    records: list[dict[str, Any]],
    seconds: float,
    batch: int,
    fast: bool = False,
) -> dict[str, Any]:
    """The Pipeline's predict_proba, or (fast) the Predictor's path the service calls."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < stop_at:
        chunk = [records[(i + k) % len(records)] for k in range(batch)]
        i += batch
        start = time.perf_counter()
        if fast:
            predictor.probabilities(chunk)
        else:
            predictor.model.predict_proba(predictor.frame(chunk))
        latencies.append(time.perf_counter() - start)
    result = summarize(latencies, seconds)
    result["rows_per_s"] = round(result["rps"] * batch, 1)
    return result


def memory_mb(pid: int) -> float:
    try:
        parent = psutil.Process(pid)
        processes = [parent, *parent.children(recursive=True)]
        return round(sum(p.memory_info().rss for p in processes) / 2**20, 1)
    except psutil.Error:
        return math.nan


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by the server's process tree (user + system)."""
    try:
        parent = psutil.Process(pid)
        processes = [parent, *parent.children(recursive=True)]
        return sum(sum(p.cpu_times()[:2]) for p in processes)
    except psutil.Error:
        return math.nan


@dataclass(frozen=True)
class Workload:
    """What each server is sent: single records, one batch body, for how long."""

    bodies: list[bytes]  # one JSON record each, sent round-robin to /predict
    batch_body: bytes  # {"records": [...]} for /predict_batch
    batch_rows: int
    seconds: float  # measured time per load
    warmup: float  # unmeasured time before it

    def cpu_ms_per_request(self, cpu_seconds: float, requests: int) -> float:
        """CPU per request over the whole load, warm-up included."""
        return round(1000 * cpu_seconds / max(1.0, requests * (1 + self.warmup / self.seconds)), 2)


def _single_records(server: Any, port: int, name: str, work: Workload) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for connections in CONCURRENCY:
        print(f"  {name}: {connections} connection(s), {work.seconds:.0f} s ...", flush=True)
        before = cpu_seconds(server.process.pid)
        run = load(port, "/predict", work.bodies, connections, work.seconds, work.warmup)
        used = cpu_seconds(server.process.pid) - before
        run["server_cpu_ms_per_request"] = work.cpu_ms_per_request(used, run["requests"])
        result[f"c{connections}"] = run
    return result


def measure_server(
    name: str, command: list[str], port: int, work: Workload, env: dict[str, str], workdir: Path
) -> dict[str, Any]:
    """Start the server, load it at each concurrency, then with batches; stop it."""
    with running(command, f"http://{HOST}:{port}", workdir / f"{name}.log", 180, env=env) as server:
        result: dict[str, Any] = {"cold_start_s": round(server.ready_after, 2)}
        result.update(_single_records(server, port, name, work))
        print(f"  {name}: batch of {work.batch_rows} rows, 2 connections ...", flush=True)
        batch = load(port, "/predict_batch", [work.batch_body], 2, work.seconds, work.warmup)
        batch["rows_per_s"] = round(batch["rps"] * work.batch_rows, 1)
        result["batch"] = batch
        result["memory_mb"] = memory_mb(server.process.pid)
    return result


def measure_bentoml(target: str, work: Workload, env: dict[str, str], workdir: Path) -> Any:
    port = free_port()
    print(f"BentoML service ({target}) ...", flush=True)
    command = [str(Path(sys.executable).parent / "bentoml"), "serve", target]
    command += ["--host", HOST, "--port", str(port)]
    return measure_server("bentoml", command, port, work, env, workdir)


def measure_fastapi(model: Path, work: Workload, env: dict[str, str], workdir: Path) -> Any:
    port = free_port()
    print("FastAPI/uvicorn baseline ...", flush=True)
    command = [sys.executable, "-m", "uvicorn", "fastapi_baseline:app", "--host", HOST]
    command += ["--port", str(port), "--log-level", "warning", "--app-dir", str(HERE)]
    env = {**env, "BENCH_MODEL": str(model.resolve()), "OMP_NUM_THREADS": "1"}
    return measure_server("fastapi", command, port, work, env, workdir)


def measure_in_process(
    predictor: Predictor, records: list[dict[str, Any]], work: Workload, threads: int
) -> dict[str, Any]:
    """The model called directly: the Pipeline, then the Predictor's path (the service's)."""
    # one OpenMP thread, like the service's model thread: spinning threads only steal CPU
    print("baseline in-process predict_proba (1 row, then a batch) ...", flush=True)
    seconds, rows = work.seconds, work.batch_rows
    with threadpool_limits(limits=threads):
        return {
            "single": in_process(predictor, records, seconds, 1),
            "batch": in_process(predictor, records, seconds, rows),
            "engine": predictor.engine,
            "fast_single": in_process(predictor, records, seconds, 1, fast=True),
            "fast_batch": in_process(predictor, records, seconds, rows, fast=True),
        }


# --------------------------------------------------------------------------- report
def table(results: dict[str, Any]) -> str:
    bento, fast, limit = results["bentoml"], results["fastapi"], results["in_process"]
    lines = [
        "| measure | BentoML service | FastAPI baseline | in-process limit | "
        "vs FastAPI | vs limit |",
        "|---|---|---|---|---|---|",
    ]
    for c in CONCURRENCY:
        b, f = bento[f"c{c}"], fast[f"c{c}"]
        lines.append(
            f"| single record, {c} conn: req/s | {b['rps']:.0f} | {f['rps']:.0f} | "
            f"{limit['single']['rps']:.0f} | {b['rps'] / f['rps']:.2f} | "
            f"{b['rps'] / limit['single']['rps']:.2f} |"
        )
        lines.append(
            f"| single record, {c} conn: p50 / p99 ms | {b['p50_ms']:.1f} / {b['p99_ms']:.1f} | "
            f"{f['p50_ms']:.1f} / {f['p99_ms']:.1f} | {limit['single']['p50_ms']:.1f} / "
            f"{limit['single']['p99_ms']:.1f} | | |"
        )
        lines.append(f"| single record, {c} conn: errors | {b['errors']} | {f['errors']} | 0 | | |")
        lines.append(
            f"| single record, {c} conn: server CPU ms / request | "
            f"{b['server_cpu_ms_per_request']:.1f} | {f['server_cpu_ms_per_request']:.1f} | | | |"
        )
    if "fast_single" in limit:
        fs, fb = limit["fast_single"], limit["fast_batch"]
        lines.append(
            f"| in-process service path ({limit['engine']}): 1 row/s, {results['batch_rows']} "
            f"rows/s | {fs['rows_per_s']:.0f} / {fb['rows_per_s']:.0f} | | | | |"
        )
    b, f, lim = bento["batch"], fast["batch"], limit["batch"]
    lines.append(
        f"| batch of {results['batch_rows']}: rows/s | {b['rows_per_s']:.0f} | "
        f"{f['rows_per_s']:.0f} | {lim['rows_per_s']:.0f} | "
        f"{b['rows_per_s'] / f['rows_per_s']:.2f} | {b['rows_per_s'] / lim['rows_per_s']:.2f} |"
    )
    lines.append(
        f"| cold start to /readyz, s | {bento['cold_start_s']:.1f} | "
        f"{fast['cold_start_s']:.1f} | | | |"
    )
    lines.append(
        f"| server memory (RSS), MiB | {bento['memory_mb']:.0f} | {fast['memory_mb']:.0f} | | | |"
    )
    return "\n".join(lines)


def verdict(results: dict[str, Any]) -> str:
    at = results["bentoml"][f"c{TARGET['connections']}"]
    ok = at["rps"] >= TARGET["rps"] and at["p99_ms"] <= TARGET["p99_ms"] and at["errors"] == 0
    # CPU-bound ceiling: every request costs the server and the load generator CPU time,
    # on the same cores; reachable only when nothing else runs on the machine
    per_request = at["server_cpu_ms_per_request"] + at.get("client_cpu_ms_per_request", 0)
    ceiling = (os.cpu_count() or 1) * 1000 / per_request if per_request else math.nan
    load = results["machine"].get("loadavg_start", [math.nan])[0]
    return (
        f"target at {TARGET['connections']} connections: >= {TARGET['rps']} req/s, p99 <= "
        f"{TARGET['p99_ms']} ms, 0 errors -> measured {at['rps']:.0f} req/s, p99 "
        f"{at['p99_ms']:.1f} ms, {at['errors']} errors: {'MET' if ok else 'NOT MET'} "
        f"(machine load average {load:.1f} on {os.cpu_count()} CPUs; CPU per request: server "
        f"{at['server_cpu_ms_per_request']:.2f} ms + load generator "
        f"{at.get('client_cpu_ms_per_request', 0):.2f} ms -> ceiling on an idle machine "
        f"~{ceiling:.0f} req/s)"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="measured time per load")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured time per load")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "service.json")
    parser.add_argument(
        "--service",
        default=None,
        help="what `bentoml serve` runs: default the built bento <serve.name>:latest; "
        "mlops.serving.service:ModelService serves the source "
        "(after `make bento` imported the model)",
    )
    return parser.parse_args()


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        # other processes share the CPUs: 1/5/15-minute load averages at the start
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def workload(records: list[dict[str, Any]], max_batch: int, args: argparse.Namespace) -> Workload:
    rows = min(1000, max_batch)
    return Workload(
        bodies=[json.dumps(r).encode() for r in records],
        batch_body=json.dumps({"records": records[:rows]}).encode(),
        batch_rows=rows,
        seconds=args.seconds,
        warmup=args.warmup,
    )


def write_report(results: dict[str, Any], out: Path) -> None:
    results["table"] = table(results)
    results["verdict"] = verdict(results)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("\n" + results["table"] + "\n\n" + results["verdict"])
    print(f"\nresults: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


def main() -> None:
    args = parse_args()
    os.chdir(ROOT)
    params = load_params(args.params)
    model_path = params.paths.model
    if not model_path.exists():
        sys.exit(f"{model_path} not found: run `make bento` first (it also trains the model)")
    model = model_io.load(model_path)
    predictor = Predictor(model, params.schema, params.evaluate.threshold, "bench")
    records = sample_records(params)
    work = workload(records, params.serve.max_batch_records, args)
    target = args.service or f"{params.serve.name}:latest"
    results: dict[str, Any] = {
        "machine": machine(),
        "model_md5": md5_of(model_path),
        "seconds_per_load": args.seconds,
        "batch_rows": work.batch_rows,
        "target": TARGET,
    }
    workdir = Path(tempfile.mkdtemp(prefix="bench-service-"))
    env = {
        "MLOPS_PARAMS": str(args.params.resolve()),
        "MLOPS_PREDICTION_LOG": str(workdir / "predictions.jsonl"),
        "BENTOML_DO_NOT_TRACK": "True",
    }
    results["service"] = target
    results["bentoml"] = measure_bentoml(target, work, env, workdir)
    results["fastapi"] = measure_fastapi(model_path, work, env, workdir)
    threads = params.serve.model_threads
    results["in_process"] = measure_in_process(predictor, records, work, threads)
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    write_report(results, args.out)


if __name__ == "__main__":
    main()
