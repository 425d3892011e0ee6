"""Start a server process on 127.0.0.1, wait until it is ready, always stop it.

Used by the smoke test, the service tests and the benchmark: one way to run a server that
cannot outlive its caller (a context manager that stops it on any exit, even an error).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from mlops.core.errors import UserError

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ServerError(UserError, RuntimeError):
    """The server did not start, did not become ready, or failed while checked."""


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    started: float
    ready_after: float = 0.0

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def wait_ready(
    url: str,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    path: str = "/readyz",
    progress: bool = True,
) -> float:
    """Poll ``url + path`` until it answers 200; return the seconds waited."""
    start = time.monotonic()
    last_dot = start
    with httpx.Client(timeout=2.0) as client:
        while True:
            if process is not None and process.poll() is not None:
                raise ServerError(f"the server exited with code {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url + path).status_code == 200:
                    if progress:
                        print(f" ready after {time.monotonic() - start:.1f} s", flush=True)
                    return time.monotonic() - start
            now = time.monotonic()
            if now - start > timeout:
                raise ServerError(f"{url}{path} not ready after {timeout:.0f} s")
            if progress and now - last_dot >= 2:
                print(".", end="", flush=True)
                last_dot = now
            time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], grace: float = 20.0) -> int:
    """SIGTERM the server's process group, wait ``grace`` seconds, then SIGKILL it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    # workers that outlived the main process (they share its group)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.returncode


@contextlib.contextmanager
def running(
    command: Sequence[str],
    url: str,
    log: Path,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    progress: bool = True,
) -> Iterator[Server]:
    """Run ``command`` (a server listening on ``url``) for the duration of the block."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,  # its own process group: stop() reaches every worker
        )
        server = Server(process, url, log, started)
        try:
            if progress:
                print(f"starting {' '.join(command[:4])} ... on {url}", end="", flush=True)
            try:
                server.ready_after = wait_ready(url, timeout, process, progress=progress)
            except ServerError as exc:
                if progress:
                    print(flush=True)
                raise ServerError(f"{exc}. Server log ({log}):\n{server.tail()}") from None
            yield server
        finally:
            stop(process)


def bentoml_command(target: str, port: int, *extra: str) -> list[str]:
    """``bentoml serve TARGET`` on 127.0.0.1:PORT with this interpreter's bentoml."""
    bentoml = Path(sys.executable).parent / "bentoml"
    return [str(bentoml), "serve", target, "--host", HOST, "--port", str(port), *extra]
