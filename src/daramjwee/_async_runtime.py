"""Background jobs of the async flavour: asyncio tasks, the twins of the threads in ``_runtime`` (which see).

``scripts/unasync.py`` points the generated sync code at those twins
(``_async_runtime.AsyncBackgroundRunner`` becomes ``_runtime.BackgroundRunner``).

Background work runs in an empty context (contextvars), as a new thread does:
an asyncio task would otherwise inherit the context of the caller that
happened to start it, and a long-lived pool worker would put every later job
under that caller's tracing span (or observed read, rule E3).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine

from ._errors import BackgroundJobRejected

__all__ = ["AsyncBackgroundRunner", "AsyncDaemon", "AsyncJob"]

AsyncJob = Callable[[], Awaitable[None]]


class AsyncBackgroundRunner:
    """Runs background jobs as asyncio tasks; :meth:`submit` never blocks and raises when it cannot queue."""

    def __init__(
        self, *, strategy: str, workers: int, queue_size: int, job_timeout: float, logger: logging.Logger
    ) -> None:
        self._strategy = strategy
        self._worker_count = workers
        self._queue_size = queue_size
        self._job_timeout = job_timeout
        self._logger = logger
        self._queue: asyncio.Queue[tuple[str, AsyncJob]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def submit(self, name: str, job: AsyncJob) -> None:
        """Queue ``job``; raise :class:`BackgroundJobRejected` if the queue is full or the runner closed."""
        if self._closed:
            raise BackgroundJobRejected(f"background job {name} rejected: the cache is closing")
        if self._strategy == "all":
            self._spawn(self._run(name, job))
            return
        if self._queue is None:
            self._queue = asyncio.Queue(self._queue_size)
            for _ in range(self._worker_count):
                self._spawn(self._work(self._queue))
        try:
            self._queue.put_nowait((name, job))
        except asyncio.QueueFull:
            raise BackgroundJobRejected(
                f"background job {name} rejected: the queue of {self._queue_size} jobs is full "
                "(raise worker_queue or workers)"
            ) from None

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = _detached(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _work(self, jobs: asyncio.Queue[tuple[str, AsyncJob]]) -> None:
        while True:
            name, job = await jobs.get()
            try:
                await self._run(name, job)
            finally:
                del job  # an idle worker must not keep the last job (and the value it captured) alive
                jobs.task_done()

    async def _run(self, name: str, job: AsyncJob) -> None:
        started = time.monotonic()
        try:
            await job()
        except Exception:
            self._logger.warning("background job %s failed", name, exc_info=True, extra={"job": name})
        finally:
            elapsed = time.monotonic() - started
            if elapsed > self._job_timeout:
                self._logger.warning(
                    "background job %s ran %.1fs, past worker_timeout", name, elapsed, extra={"job": name}
                )

    async def shutdown(self, timeout: float) -> None:
        """Reject new jobs, let queued ones finish within ``timeout`` seconds, cancel the rest.

        Idempotent.
        """
        self._closed = True
        try:
            async with asyncio.timeout(timeout):
                if self._queue is not None:
                    await self._queue.join()
                else:
                    await asyncio.gather(*self._tasks, return_exceptions=True)
        except TimeoutError:
            dropped = self._queue.qsize() if self._queue is not None else len(self._tasks)
            self._logger.warning(
                "close_timeout of %.1fs ran out; dropping %d background job(s)",
                timeout,
                dropped,
                extra={"dropped": dropped},
            )
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _detached(work: Awaitable[None]) -> asyncio.Task[None]:
    """A task of the running loop awaiting ``work``, in an empty context: none of its starter's contextvars."""
    coroutine = work if isinstance(work, Coroutine) else _awaiting(work)
    return asyncio.get_running_loop().create_task(coroutine, context=contextvars.Context())


async def _awaiting(work: Awaitable[None]) -> None:
    await work


class AsyncDaemon:
    """One long-running loop in the background of a cache: an asyncio task (its sync twin :class:`Daemon`: a thread).

    ``run`` is called once per :meth:`start` and returns when it sees its
    owner stopping (or, here, is cancelled by :meth:`stop`).  Started from a
    coroutine, on the running loop; :meth:`alive` is false once the loop that
    ran it has closed, so an owner used from a new loop starts it again.
    """

    def __init__(self, name: str, run: AsyncJob) -> None:
        self._name = name
        self._run = run
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop unless it runs already."""
        if not self.alive:
            self._task = _detached(self._run())
            self._task.set_name(self._name)

    async def stop(self, timeout: float) -> None:
        """Cancel the loop and wait up to ``timeout`` seconds for it to end.  Idempotent."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait({task}, timeout=timeout)
