# unasync: hand-written
"""Background jobs of the async flavour: asyncio tasks (rules R2, X3, X5, C3).

``"pool"`` runs ``workers`` tasks over a bounded queue; ``"all"`` starts one
task per job.  Tasks start lazily on the first submit, so a cache may be built
outside a running event loop.  A job's exception is logged and never stops a
worker; each job runs under ``job_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from .._errors import BackgroundJobRejected

__all__ = ["BackgroundRunner", "Job"]

Job = Callable[[], Awaitable[None]]


class BackgroundRunner:
    """Runs background jobs; :meth:`submit` never blocks and raises when it cannot queue."""

    def __init__(
        self, *, strategy: str, workers: int, queue_size: int, job_timeout: float, logger: logging.Logger
    ) -> None:
        self._strategy = strategy
        self._worker_count = workers
        self._queue_size = queue_size
        self._job_timeout = job_timeout
        self._logger = logger
        self._queue: asyncio.Queue[tuple[str, Job]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def submit(self, name: str, job: Job) -> None:
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
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _work(self, queue: asyncio.Queue[tuple[str, Job]]) -> None:
        while True:
            name, job = await queue.get()
            try:
                await self._run(name, job)
            finally:
                del job  # an idle worker must not keep the last job (and the value it captured) alive
                queue.task_done()

    async def _run(self, name: str, job: Job) -> None:
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
