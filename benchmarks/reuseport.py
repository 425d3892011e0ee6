"""Serve an ASGI app the way the service's workers take connections: N uvicorn processes,
each listening on a socket of its own bound to the same port (``SO_REUSEPORT``), so the
kernel spreads new connections over them (mlops.serving.traffic). benchmarks/service.py runs
the FastAPI baselines with it, so they and the service are balanced the same way:

    python benchmarks/reuseport.py fastapi_baseline:app --app-dir benchmarks \\
        --host 127.0.0.1 --port 8000 --workers 2

(``uvicorn --workers N`` shares one socket: the first worker to wake takes the connections
opened together.) SIGTERM to the process group stops every worker, as for the service.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import sys


def worker(app: str, app_dir: str, host: str, port: int) -> None:
    import uvicorn

    from mlops.serving.traffic import reuse_port_socket

    sys.path.insert(0, app_dir)
    sock = reuse_port_socket(socket.AF_INET, (host, port))
    config = uvicorn.Config(app, log_level="warning", access_log=False, backlog=2048)
    uvicorn.Server(config).run(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", help="module:attribute of the ASGI app")
    parser.add_argument("--app-dir", default=".", help="folder the app's module is in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not hasattr(socket, "SO_REUSEPORT") or not sys.platform.startswith("linux"):
        sys.exit("benchmarks/reuseport.py needs Linux (SO_REUSEPORT spreads connections there)")
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=worker, args=(args.app, args.app_dir, args.host, args.port))
        for _ in range(args.workers)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join()
    sys.exit(max(abs(process.exitcode or 0) for process in workers))


if __name__ == "__main__":
    main()
