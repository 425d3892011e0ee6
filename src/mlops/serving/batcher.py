"""Adaptive batching: concurrent single-record requests merged into one model call."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

Entry = tuple[Any, asyncio.Future[Any]]  # an item and the future its caller awaits


class MicroBatcher:
    """Merge concurrent calls into one call of ``fn`` on a list (adaptive batching).

    No fixed wait: while the model is busy, new requests queue; when it is free, everything
    queued (up to ``max_batch_size``) goes in one call. Alone, a request runs at once.

    ``inline=True`` runs ``fn`` on the event loop itself: for a ``fn`` that takes well under
    a millisecond (the compiled fast path), the hand-off to a thread and back costs more
    than the call (measured: 25% less server CPU per request, lower p99).
    """

    def __init__(
        self,
        fn: Callable[[list[Any]], list[Any]],
        max_batch_size: int,
        executor: Executor | None = None,
        inline: bool = False,
    ) -> None:
        self.fn = fn
        self.max_batch_size = max_batch_size
        self.executor = executor  # where fn runs (default: asyncio's thread pool)
        self.inline = inline
        self._queue: asyncio.Queue[Entry] | None = None
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: Any) -> Any:
        if self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run(self._queue))
        assert self._queue is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def _run(self, queue: asyncio.Queue[Entry]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch_size and not queue.empty():
                batch.append(queue.get_nowait())
            waiting = [(item, fut) for item, fut in batch if not fut.done()]  # not cancelled
            if waiting:
                await self._answer(waiting)

    async def _answer(self, waiting: list[Entry]) -> None:
        """One call of ``fn`` for the whole batch; every caller gets its result or the error
        (none hangs)."""
        try:
            results = await self._call([item for item, _ in waiting])
        except Exception as exc:
            for _, fut in waiting:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for (_, fut), result in zip(waiting, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    async def _call(self, items: list[Any]) -> list[Any]:
        if self.inline:
            return self.fn(items)
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.fn, items)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
