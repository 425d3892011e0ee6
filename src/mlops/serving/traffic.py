"""How requests reach a worker: spread evenly over the workers, timed out without being kept.

**Balance.** BentoML's workers share one listening socket; each worker's event loop (uvloop,
i.e. libuv) accepts every pending connection when it wakes, so the first worker to wake
takes nearly all the connections opened together (measured, issue 17: 15 of 16 and 57 of
64 keep-alive connections on one of two workers, which then queues twice the work while
the other core idles). libuv's ``UV_TCP_SINGLE_ACCEPT=1`` makes each loop accept one
connection per turn and yield, so the workers share them (measured: 8 and 8; p99 at 16
connections 4x lower, twice the requests a second). :func:`tune_server` sets it in the
worker before its loop listens (an operator's own value wins).

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
import json
import logging
import os
from typing import Any

_log = logging.getLogger(__name__)
Scope = dict[str, Any]


class _SendWatch:
    """``send`` that records whether the response started (and whether the timer fired)."""

    def __init__(self, send: Any) -> None:
        self.send = send
        self.started = False
        self.expired = False

    async def __call__(self, message: dict[str, Any]) -> None:
        self.started = True
        await self.send(message)


class RequestTimeout:
    """ASGI middleware: 504 when ``app`` has not started its response within ``timeout`` s."""

    def __init__(self, app: Any, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        watch = _SendWatch(send)
        loop = asyncio.get_running_loop()
        task = loop.create_task(self.app(scope, receive, watch))
        timer = loop.call_later(self.timeout, self._expire, task, watch)
        try:
            await task
        except asyncio.CancelledError:
            if not watch.expired:
                raise  # the caller was cancelled (client gone, shutdown), not the timeout
            await self._answer_504(send)
        finally:
            timer.cancel()  # the point: nothing of this request stays referenced
            if not task.done():
                task.cancel()

    @staticmethod
    def _expire(task: asyncio.Task[None], watch: _SendWatch) -> None:
        if not watch.started:
            watch.expired = task.cancel()

    async def _answer_504(self, send: Any) -> None:
        body = json.dumps(
            {"error": f"Not able to process the request in {self.timeout} seconds"}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 504, "headers": headers})
        await send({"type": "http.response.body", "body": body})


ACCEPT_VARIABLE = "UV_TCP_SINGLE_ACCEPT"


def tune_server() -> bool:
    """Balance accepts over the workers and replace BentoML's timeout (see above): call it
    when the service module is imported, before the worker's server starts.

    Makes BentoML build :class:`RequestTimeout` where it builds its own timeout middleware
    (its server app looks the class up when it assembles the middlewares, in each worker
    after the service module is imported). False (and a warning) if this BentoML version
    has no such class: the service still runs, with BentoML's own."""
    try:
        from bentoml._internal.server.http import traffic
    except ImportError:
        traffic = None
    os.environ.setdefault(ACCEPT_VARIABLE, "1")  # read by libuv when the socket listens
    if traffic is None or not hasattr(traffic, "TimeoutMiddleware"):
        _log.warning(
            "BentoML has no bentoml._internal.server.http.traffic.TimeoutMiddleware: its own "
            "request timeout is used; its timers outlive requests (mlops.serving.traffic)"
        )
        return False
    traffic.TimeoutMiddleware = RequestTimeout  # type: ignore[misc]
    return True
