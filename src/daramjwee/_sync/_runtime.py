# unasync: hand-written
"""Background jobs of the sync flavour: threads (rules R2, X3, X5, C3).

``"pool"`` runs ``workers`` daemon threads over a bounded queue; ``"all"``
starts one thread per job.  Threads start lazily on the first submit.  A
job's exception is logged and never stops a worker.  A thread cannot be
interrupted, so ``job_timeout`` is enforced by the jobs themselves between
chunks (see ``Tee.drain``); a job that still overruns is logged.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from .._errors import BackgroundJobRejected

__all__ = ["BackgroundRunner", "Job"]

Job = Callable[[], None]


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
        self._queue: queue.Queue[tuple[str, Job] | None] = queue.Queue(queue_size)
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._running = 0
        self._closed = False

    def submit(self, name: str, job: Job) -> None:
        """Queue ``job``; raise :class:`BackgroundJobRejected` if the queue is full or the runner closed."""
        with self._lock:
            if self._closed:
                raise BackgroundJobRejected(f"background job {name} rejected: the cache is closing")
            if self._strategy == "all":
                self._running += 1
                self._spawn(lambda: self._run_one(name, job))
                return
            if not self._threads:
                for _ in range(self._worker_count):
                    self._spawn(self._work)
            try:
                self._queue.put_nowait((name, job))
            except queue.Full:
                raise BackgroundJobRejected(
                    f"background job {name} rejected: the queue of {self._queue_size} jobs is full "
                    "(raise worker_queue or workers)"
                ) from None
            self._running += 1

    def _spawn(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name="daramjwee-worker", daemon=True)
        self._threads.add(thread)
        thread.start()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            self._run_one(*item)
            del item  # an idle worker must not keep the last job (and the value it captured) alive

    def _run_one(self, name: str, job: Job) -> None:
        started = time.monotonic()
        try:
            job()
        except Exception:
            self._logger.warning("background job %s failed", name, exc_info=True, extra={"job": name})
        finally:
            elapsed = time.monotonic() - started
            if elapsed > self._job_timeout:
                self._logger.warning(
                    "background job %s ran %.1fs, past worker_timeout", name, elapsed, extra={"job": name}
                )
            with self._lock:
                self._running -= 1
                if not self._running:
                    self._idle.notify_all()

    def shutdown(self, timeout: float) -> None:
        """Reject new jobs, let queued ones finish within ``timeout`` seconds, drop the rest.

        Idempotent.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            self._closed = True
            while self._running and (remaining := deadline - time.monotonic()) > 0:
                self._idle.wait(remaining)
            if self._running:
                self._logger.warning(
                    "close_timeout of %.1fs ran out; dropping %d background job(s)",
                    timeout,
                    self._running,
                    extra={"dropped": self._running},
                )
        dropped = 0
        while True:
            try:
                if self._queue.get_nowait() is not None:
                    dropped += 1
            except queue.Empty:
                break
        with self._lock:
            self._running -= dropped
        if self._strategy == "pool":
            for _ in range(self._worker_count):
                try:
                    self._queue.put_nowait(None)
                except queue.Full:
                    break
