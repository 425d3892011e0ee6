"""How requests reach the workers (mlops.serving.traffic): the timeout frees its request, the
workers share the connections (issue 17: the p99 at 16 connections, batches on one core)."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from mlops.serving import traffic
from mlops.serving.traffic import (
    ACCEPT_VARIABLE,
    REUSE_PORT_VARIABLE,
    RequestTimeout,
    spread_connections,
    tracing,
    tune_server,
)
from tests.service.conftest import Project, serve


def _call(app, scope_type: str = "http"):
    """Run ``app`` on one request; the messages it sent and the loop's live timers after."""
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    async def main():
        await app({"type": scope_type, "path": "/predict"}, receive, send)
        loop = asyncio.get_running_loop()
        return [h for h in loop._scheduled if not h.cancelled()]  # asyncio's timer heap

    live = asyncio.run(main())
    return sent, live


async def _answer(scope, receive, send, delay: float = 0.0, body_delay: float = 0.0):
    await asyncio.sleep(delay)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await asyncio.sleep(body_delay)
    await send({"type": "http.response.body", "body": b"ok"})


def test_an_answered_request_leaves_no_timer_behind():
    sent, live = _call(RequestTimeout(_answer, timeout=30))
    assert [m.get("status") for m in sent] == [200, None] and sent[1]["body"] == b"ok"
    assert live == []  # BentoML's own middleware leaves one per request, for 30 s


def test_a_request_without_an_answer_in_time_gets_a_504_naming_the_timeout():
    cancelled = []

    async def slow(scope, receive, send):
        try:
            await _answer(scope, receive, send, delay=5)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    sent, live = _call(RequestTimeout(slow, timeout=0.05))
    assert sent[0]["status"] == 504 and live == [] and cancelled == [True]
    assert "0.05 seconds" in json.loads(sent[1]["body"])["error"]


def test_an_answer_that_started_in_time_is_not_cut():
    sent, _ = _call(RequestTimeout(lambda *a: _answer(*a, body_delay=0.1), timeout=0.05))
    assert [m.get("status") for m in sent] == [200, None] and sent[1]["body"] == b"ok"


def test_the_apps_own_timeout_error_is_not_taken_for_the_deadline():
    async def failing(scope, receive, send):
        raise TimeoutError("the app's own, e.g. a database call")

    with pytest.raises(TimeoutError, match="the app's own"):
        _call(RequestTimeout(failing, timeout=30))


def test_lifespan_and_other_scopes_pass_through():
    sent, live = _call(RequestTimeout(_answer, timeout=30), scope_type="lifespan")
    assert sent[0]["status"] == 200 and live == []


def test_tune_server_puts_the_timeout_where_bentoml_builds_its_own(monkeypatch):
    from bentoml._internal.server.http import traffic as bentoml_traffic

    monkeypatch.setattr(bentoml_traffic, "TimeoutMiddleware", bentoml_traffic.TimeoutMiddleware)
    monkeypatch.delenv(ACCEPT_VARIABLE, raising=False)
    assert tune_server() is True
    assert bentoml_traffic.TimeoutMiddleware is RequestTimeout
    assert os.environ[ACCEPT_VARIABLE] == "1"
    monkeypatch.setenv(ACCEPT_VARIABLE, "0")  # an operator's own value wins
    tune_server()
    assert os.environ[ACCEPT_VARIABLE] == "0"
    assert traffic.RequestTimeout is RequestTimeout


# --------------------------------------------------------------------------- tracing
def test_prediction_routes_are_traced_only_when_asked():
    from opentelemetry.util.http import ExcludeList

    assert tracing(trace_predictions=True) == {}
    excluded = ExcludeList(tracing(trace_predictions=False)["excluded_urls"])
    base = "http://127.0.0.1:3000"
    assert excluded.url_disabled(f"{base}/predict")
    assert excluded.url_disabled(f"{base}/predict_batch")
    for route in ("/readyz", "/livez", "/metrics", "/model-card", "/docs"):
        assert not excluded.url_disabled(f"{base}{route}"), route


@pytest.mark.parametrize("trace", [False, True])
def test_the_service_hands_its_tracing_setting_to_bentoml(project: Project, trace: bool):
    raw = yaml.safe_load(project.params.read_text())
    raw["serve"]["trace_predictions"] = trace
    params = project.root / f"params-trace-{trace}.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    code = (
        "import json; from mlops.serving.service import ModelService; "
        "print(json.dumps(ModelService.config.get('tracing', {})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **project.env, "MLOPS_PARAMS": str(params)},
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == tracing(trace)


# --------------------------------------------------------------------------- the spread
def _listening(reuse_port: bool) -> socket.socket:
    sock = socket.socket()
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _accepted(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            sock.accept()[0].close()
        except BlockingIOError:
            return count
        count += 1


def test_a_worker_listens_beside_the_shared_socket_and_the_kernel_spreads_connections():
    shared = _listening(reuse_port=True)
    fd = os.dup(shared.fileno())  # the worker's copy of the shared socket (circus: --fd)
    sys_argv = ["worker.py", "--fd", str(fd), "--worker-id", "2", "--backlog", "128"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(traffic.sys, "argv", sys_argv)
        assert spread_connections() == "own"
    own = socket.socket(fileno=fd)
    try:
        assert os.fstat(fd).st_ino != os.fstat(shared.fileno()).st_ino
        assert own.getsockname() == shared.getsockname()
        clients = [socket.create_connection(shared.getsockname()) for _ in range(64)]
        time.sleep(0.2)
        shares = [_accepted(shared), _accepted(own)]
        for client in clients:
            client.close()
    finally:
        own.close()
        shared.close()
    # a hash of the client's port picks the socket: 64 connections split evenly enough
    assert sum(shares) == 64 and min(shares) >= 16, f"connections per socket: {shares}"


def test_a_shared_socket_without_reuse_port_is_kept_and_said(caplog):
    shared = _listening(reuse_port=False)
    fd = os.dup(shared.fileno())
    argv = ["worker.py", "--fd", str(fd), "--worker-id", "2"]
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(traffic.sys, "argv", argv)
            assert spread_connections() == "shared"
            assert os.fstat(fd).st_ino == os.fstat(shared.fileno()).st_ino
            patch.setenv(REUSE_PORT_VARIABLE, "0")  # the operator's choice: no attempt
            patch.setattr(traffic.sys, "argv", [*argv[:-1], "3"])
            assert spread_connections() == "shared"
    finally:
        os.close(fd)
        shared.close()
    assert "worker 2 shares the listening socket" in caplog.text
    assert "worker 3" not in caplog.text


def test_the_first_worker_keeps_the_shared_socket_and_circus_sockets_allow_reuse_port():
    from circus.sockets import CircusSocket

    def reuse_port() -> int:
        sock = CircusSocket(name="api", host="127.0.0.1", port=0)
        try:
            return sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        finally:
            sock.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(traffic.sys, "argv", ["worker.py", "--fd", "3", "--worker-id", "1"])
        assert spread_connections() == "shared"
        # circus as installed (tune_server may have run in this process), restored after
        patch.setattr(CircusSocket, "__init__", inspect.unwrap(CircusSocket.__init__))
        assert reuse_port() == 0
        patch.setattr(traffic.sys, "argv", ["bentoml", "serve", "service:Svc"])
        assert spread_connections() == "reusable"
        wrapped = CircusSocket.__init__
        spread_connections()
        assert CircusSocket.__init__ is wrapped  # wrapped once, not twice
        assert reuse_port() == 1


def _established(pid: int, port: int) -> int:
    connections = psutil.Process(pid).net_connections(kind="tcp")
    return sum(c.status == "ESTABLISHED" and c.laddr.port == port for c in connections)


def test_two_workers_share_connections_opened_together(project: Project):
    """64 keep-alive connections opened at once are spread over the 2 workers, each on its
    own listening socket (with one shared socket, the first worker to wake took 15 of 16).

    The kernel picks the socket by a hash of the client's address, so the spread does not
    depend on which worker is awake: it holds on a busy machine too."""
    raw = yaml.safe_load(project.params.read_text())
    raw["serve"]["workers"] = 2
    params = project.root / "params-two-workers.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    with serve(project, "server-two-workers.log", MLOPS_PARAMS=str(params)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        workers = psutil.Process(server.process.pid).children()
        assert len(workers) == 2
        assert all(w.environ().get(ACCEPT_VARIABLE) == "1" for w in workers)
        # /readyz answers once one worker is ready: wait for the other one too
        deadline = time.monotonic() + 120
        while server.log.read_text().count("initialized") < 2:
            assert time.monotonic() < deadline, server.tail()
            time.sleep(0.2)
        listening = {(Path("/proc") / str(w.pid) / "fd" / _fd(w)).readlink() for w in workers}
        assert len(listening) == 2, f"the workers share one socket: {listening}"
        shares = _shares(port, workers)
    assert sum(shares) == 64 and min(shares) >= 16, f"connections per worker: {shares}"


def _fd(worker: psutil.Process) -> str:
    """The listening socket's descriptor BentoML gave the worker (``--fd N``)."""
    args = traffic._worker_args(worker.cmdline())
    assert args is not None, f"not a BentoML worker: {worker.cmdline()}"
    return str(args[0])


def _shares(port: int, workers: list[psutil.Process]) -> list[int]:
    """Open 64 keep-alive connections at once, answer one request on each, and count how
    many each worker holds."""
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
    try:
        request = f"GET /livez HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        for sock in sockets:
            sock.sendall(request)
        for sock in sockets:
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        return [_established(w.pid, port) for w in workers]
    finally:
        for sock in sockets:
            sock.close()
