"""How requests reach a worker: spread evenly over the workers, timed out without being kept.

**Balance.** BentoML's workers share one listening socket; each worker's event loop (uvloop,
i.e. libuv) accepts every pending connection when it wakes, so the first worker to wake
takes nearly all the connections opened together (measured, issue 17: 15 of 16 and 57 of
64 keep-alive connections on one of two workers, which then queues twice the work while
the other core idles). libuv's ``UV_TCP_SINGLE_ACCEPT=1`` makes each loop accept one
connection per turn, which helps only when the other worker gets a core in time: on 2
busy cores (the load generator on the same machine) one worker still took all 16
connections in 2 of 6 runs, and both /predict_batch connections in 9 of 10. So on Linux
each worker after the first listens on a socket of its own (``SO_REUSEPORT``) beside the
shared one, and the kernel spreads new connections over the sockets by a hash of the
client's address, whoever is awake (measured: see docs/service.md). :func:`tune_server`
does both before the worker's loop listens (an operator's own ``UV_TCP_SINGLE_ACCEPT``
wins; ``MLOPS_REUSE_PORT=0`` keeps the one shared socket).

**Timeout.** BentoML 1.4's own ``TimeoutMiddleware`` schedules a timer per request and never
cancels it: each timer holds its request's context (the OpenTelemetry span, futures) for the
full ``serve.timeout`` after the answer was sent. At 1,000 requests a second and a 30 s
timeout that is ~30,000 requests' objects alive at any time; they survive the young garbage
collections, and every full collection then walks them all on the event loop (measured,
issue 17: 3,220 timers alive per worker right after a 20 s load; full collections of 0.1-1
s, the p99 of 450-600 ms). :class:`RequestTimeout` answers the same (504 when no response
started within the timeout) and cancels its timer as soon as the request ends.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import socket
import sys
from typing import Any

_log = logging.getLogger(__name__)
Scope = dict[str, Any]


class _SendWatch:
    """``send`` that stops the request's deadline once the response starts."""

    def __init__(self, send: Any, deadline: asyncio.Timeout) -> None:
        self.send = send
        self.deadline = deadline
        self.started = False

    async def __call__(self, message: dict[str, Any]) -> None:
        if not self.started:
            self.started = True
            self.deadline.reschedule(None)  # an answer that started in time is not cut
        await self.send(message)


class RequestTimeout:
    """ASGI middleware: 504 when ``app`` has not started its response within ``timeout`` s.

    The request runs in its own task under ``asyncio.timeout`` (no second task per request);
    leaving the block cancels the deadline's timer, so nothing of the request stays
    referenced after its answer."""

    def __init__(self, app: Any, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        deadline = asyncio.timeout(self.timeout)
        watch = _SendWatch(send, deadline)
        try:
            async with deadline:
                await self.app(scope, receive, watch)
        except TimeoutError:
            if watch.started or not deadline.expired():
                raise  # the app's own TimeoutError, not this deadline's
            await self._answer_504(send)

    async def _answer_504(self, send: Any) -> None:
        body = json.dumps(
            {"error": f"Not able to process the request in {self.timeout} seconds"}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 504, "headers": headers})
        await send({"type": "http.response.body", "body": body})


PREDICTION_ROUTES = ["/predict"]  # OpenTelemetry's exclusions: regexes searched in the URL


def tracing(trace_predictions: bool) -> dict[str, Any]:
    """BentoML's ``tracing`` settings for the service: without ``serve.trace_predictions``
    the prediction routes (/predict, /predict_batch) are left out of OpenTelemetry.

    BentoML's ASGI middleware makes a span for every request even when nothing samples
    or exports it (BentoML's default: ``tracing.sample_rate`` 0, no exporter): about a
    third of a worker's CPU per /predict request in a py-spy profile; without it the
    service answered 4,000-4,700 requests a second at 16 connections instead of
    2,200-2,600 (issue 17). An operator who exports traces sets it true (and BentoML's
    ``tracing`` configuration); every other route is traced as BentoML does."""
    return {} if trace_predictions else {"excluded_urls": PREDICTION_ROUTES}


ACCEPT_VARIABLE = "UV_TCP_SINGLE_ACCEPT"
REUSE_PORT_VARIABLE = "MLOPS_REUSE_PORT"  # "0": the workers share one listening socket


def tune_server() -> bool:
    """Balance connections over the workers and replace BentoML's timeout (see above): call
    it when the service module is imported, before the worker's server starts.

    Makes BentoML build :class:`RequestTimeout` where it builds its own timeout middleware
    (its server app looks the class up when it assembles the middlewares, in each worker
    after the service module is imported). False (and a warning) if this BentoML version
    has no such class: the service still runs, with BentoML's own."""
    try:
        from bentoml._internal.server.http import traffic
    except ImportError:
        traffic = None
    os.environ.setdefault(ACCEPT_VARIABLE, "1")  # read by libuv when the socket listens
    spread_connections()
    if traffic is None or not hasattr(traffic, "TimeoutMiddleware"):
        _log.warning(
            "BentoML has no bentoml._internal.server.http.traffic.TimeoutMiddleware: its own "
            "request timeout is used; its timers outlive requests (mlops.serving.traffic)"
        )
        return False
    traffic.TimeoutMiddleware = RequestTimeout  # type: ignore[misc]
    return True


def spread_connections() -> str:
    """Where this process takes its connections from (see the module's docstring):

    - ``"reusable"``: not a worker (the ``bentoml serve`` process): the listening socket
      circus is about to create will allow ``SO_REUSEPORT``, set before it is bound;
    - ``"own"``: worker 2, 3, ...: its own socket on the shared one's address, in its place;
    - ``"shared"``: worker 1 (it keeps the shared socket), or no spreading (not Linux,
      ``MLOPS_REUSE_PORT=0``, or a shared socket without ``SO_REUSEPORT``: logged).
    """
    if not sys.platform.startswith("linux") or os.environ.get(REUSE_PORT_VARIABLE) == "0":
        return "shared"  # elsewhere SO_REUSEPORT does not spread connections
    worker = _worker_args(sys.argv)
    if worker is None:
        _reusable_circus_sockets()
        return "reusable"
    fd, worker_id, backlog = worker
    if worker_id <= 1:
        return "shared"
    try:
        why = None if _listen_beside(fd, backlog) else "it does not allow SO_REUSEPORT"
    except OSError as exc:
        why = str(exc)
    if why is not None:
        _log.warning(
            "worker %d shares the listening socket (%s): connections may crowd on one "
            "worker (mlops.serving.traffic)",
            worker_id,
            why,
        )
        return "shared"
    return "own"


def _worker_args(argv: list[str]) -> tuple[int, int, int] | None:
    """(listening fd, worker id, backlog) from a BentoML HTTP worker's command line, else
    None (``bentoml serve`` itself, ``bentoml build``, tests)."""

    def value(flag: str, default: int | None = None) -> int | None:
        return int(argv[argv.index(flag) + 1]) if flag in argv else default

    try:
        fd, worker_id, backlog = value("--fd"), value("--worker-id"), value("--backlog", 2048)
    except (ValueError, IndexError):
        return None
    if fd is None or worker_id is None or backlog is None:
        return None
    return fd, worker_id, backlog


def _reusable_circus_sockets() -> None:
    """Sockets circus creates from now on allow SO_REUSEPORT (BentoML builds the server's
    socket after the service module was imported). Its ``__init__`` is wrapped, not the
    class replaced: circus's own methods name the class."""
    try:
        from circus.sockets import CircusSocket
    except ImportError:  # BentoML without circus (not a version we run): nothing to prepare
        return
    create = CircusSocket.__init__
    if getattr(create, "allows_reuse_port", False):
        return

    @functools.wraps(create)
    def reusable(self: Any, *args: Any, **kwargs: Any) -> None:
        create(self, *args, **kwargs)
        if self.family in (socket.AF_INET, socket.AF_INET6):
            self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)

    reusable.allows_reuse_port = True  # type: ignore[attr-defined]
    CircusSocket.__init__ = reusable  # type: ignore[method-assign]


def reuse_port_socket(family: int, address: Any) -> socket.socket:
    """A TCP socket bound to ``address`` beside the other sockets bound there with
    SO_REUSEPORT: the kernel spreads new connections over all of them."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _listen_beside(fd: int, backlog: int) -> bool:
    """Put a listening socket of this process's own on ``fd``, bound to the same address as
    the shared socket there. False when the shared socket does not allow SO_REUSEPORT."""
    shared = socket.socket(fileno=os.dup(fd))
    try:
        if not shared.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT):
            return False
        own = reuse_port_socket(shared.family, shared.getsockname())
        try:
            own.listen(backlog)
            own.setblocking(False)  # as the shared one (the flag travels with dup2)
            os.dup2(own.fileno(), fd)  # what uvicorn serves from: socket.socket(fileno=fd)
        finally:
            own.close()
    finally:
        shared.close()
    return True
