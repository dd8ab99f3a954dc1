"""The lifecycle rules under cancellation: the sweep of tests/_async/test_fault_sweep.py, cancelling instead of failing.

asyncio only (a thread cannot be cancelled).  At each point of a path's clean run, the cancellation that
can really happen there is made to happen, by the real mechanism:

* a call made by the caller's task (``get``, a read of its response, ``set``, ``delete``, the fetcher and
  its body on a miss): the task is cancelled (``Task.cancel()``), as a client going away or Starlette
  ending a streaming body cancels it;
* a call made by a background job (a fan-out, a refresh): the job's ``worker_timeout`` runs out, its
  ``asyncio.timeout`` being rescheduled to now;
* a call made by a task ending a write (a publish or an abort, shielded from cancellation): whoever waits
  for it, the caller or a job, is cancelled that way while the call goes on.

Where the cancellation lands is swept both ways: ``inside`` the call, before it takes effect (a store
whose every call awaits, such as a network store); or ``in-flight``: requested as the call begins, it
lands where the task really awaits next (inside the file tier's hop to a worker thread, after its call
took effect; a memory tier's call does not await, so after it).  The file tier's worker-thread hops are
made deterministic for the sweep (the call ends, then the task awaits); the other order, a worker thread
still running after the cancellation, is tested at the end of this module.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import daramjwee as dj
import daramjwee._async._cache as cache_module
import daramjwee._async._fanouts as fanouts_module
import daramjwee._async._filestore as filestore_module
from _async.test_fault_sweep import CHUNK, SCENARIOS, Plan, Scenario, open_files, sweep
from daramjwee._filedir import FileDirectory

JOB_TIMEOUTS: dict[asyncio.Task[Any], asyncio.Timeout] = {}
"""The ``worker_timeout`` scope a background job's task entered last (a job enters one at a time)."""


@pytest.fixture(autouse=True)
def _record_job_timeouts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep each background job's ``worker_timeout`` scope, so that a test can make it run out now."""
    real = cache_module.async_cancel_after

    def recording(seconds: float) -> Any:
        scope = real(seconds)
        task = asyncio.current_task()
        assert task is not None
        assert isinstance(scope, asyncio.Timeout)
        JOB_TIMEOUTS[task] = scope
        return scope

    monkeypatch.setattr(cache_module, "async_cancel_after", recording)
    monkeypatch.setattr(fanouts_module, "async_cancel_after", recording)
    yield
    JOB_TIMEOUTS.clear()


OWNER: contextvars.ContextVar[asyncio.Task[Any] | None] = contextvars.ContextVar("OWNER", default=None)
"""The caller's task or background job a call is made for.

Set by the caller's task and by each job task when they make a call; a task ending a write (shielded)
inherits it from the task that started it.
"""


def expire(task: asyncio.Task[Any]) -> bool:
    """Make the ``worker_timeout`` that ``task`` is inside run out now; False if it is inside none."""
    scope = JOB_TIMEOUTS.get(task)
    if scope is None:
        return False
    try:
        scope.reschedule(asyncio.get_running_loop().time())
    except RuntimeError:  # that scope was left (or already expires)
        return False
    return True


class CancelPlan(Plan):
    """Cancels, at the ``at``-th call, the task that the call belongs to, the way that task can be cancelled."""

    lands_with_the_caller = False
    landing = "inside"
    """Where a caller's or a job's cancellation lands: ``"inside"`` the call, before it takes effect; or
    ``"in-flight"``: it is requested as the call begins and lands where the task really waits next,
    inside the store's own await if it has one (the file tier's worker threads run on), else after."""

    def __init__(self, at: int = 0) -> None:
        super().__init__(at)
        self.foreground: asyncio.Task[str] | None = None
        self.cancelled = False

    async def run(self, action: Callable[[], Awaitable[str]]) -> tuple[str | None, str | None]:
        outcome: list[tuple[str | None, str | None]] = []

        async def foreground() -> None:
            try:
                outcome.append((await action(), None))
            except BaseException as error:  # the task ends here: its exception is described, not kept
                outcome.append((None, self.describe(error)))

        task = self.foreground = asyncio.ensure_future(foreground())
        await asyncio.wait([task])
        if task.cancelled():  # cancelled after its last await: the caller would see CancelledError
            return None, ""
        result, error = outcome[0]
        if error is None and self.cancelled:
            self.problems.append(f"the caller's task was cancelled, yet it returned {result}")
        return result, error

    def describe(self, error: BaseException) -> str:
        return "" if isinstance(error, asyncio.CancelledError) else super().describe(error)

    def _cancel_foreground(self) -> bool:
        task = self.foreground
        if task is None or task.done():
            return False
        task.cancel()
        self.cancelled = True
        return True

    def _owner(self) -> asyncio.Task[Any] | None:
        """Tag the caller's task and the job tasks as the owners of what they start; the owner of this call."""
        task = asyncio.current_task()
        if task is self.foreground or task in self.cache._runtime._tasks:
            OWNER.set(task)
        return OWNER.get()

    def _cancel_owner(self, owner: asyncio.Task[Any] | None, label: str) -> bool:
        """Cancel the caller, or make the job's worker_timeout run out; either lands at its next await."""
        if owner is self.foreground:
            if self._cancel_foreground():
                return True
        elif owner is not None and expire(owner):
            return True
        self.problems.append(f"the sweep found nothing to cancel at {label}")  # a test error, made visible
        return False

    async def step(self, op: str) -> None:
        self._owner()
        await super().step(op)

    def plain_step(self, op: str) -> None:
        self._owner()
        super().plain_step(op)

    async def inject(self, label: str) -> None:
        task = asyncio.current_task()
        owner = OWNER.get()
        if not self._cancel_owner(owner, label) or self.landing == "in-flight":
            return
        if task is owner:  # the caller's task, or a background job: the cancellation lands here
            await asyncio.sleep(0 if task is self.foreground else 10)
            self.problems.append(f"the cancellation at {label} did not land")
        else:  # a task ending a write, shielded from its owner: the owner is cancelled while this call goes on
            await asyncio.sleep(0.01)

    def inject_plain(self, label: str) -> None:
        self._cancel_owner(OWNER.get(), label)  # a plain call: it lands at the next await


class InFlightCancelPlan(CancelPlan):
    landing = "in-flight"


PLANS = {"inside": CancelPlan, "in-flight": InFlightCancelPlan}


async def call_then_await_owned(release: Callable[[Any], object], function: Callable[..., Any], /, *args: Any) -> Any:
    """``async_run_blocking_owned`` made deterministic like :func:`call_then_await`.

    Cancelled at the await, it releases the result.
    """
    result = function(*args)
    try:
        await asyncio.sleep(0)
    except BaseException:
        release(result)
        raise
    return result


async def call_then_await(function: Callable[..., Any], /, *args: Any) -> Any:
    """The file tier's hop to a worker thread, made deterministic: the call runs to its end, then the task awaits.

    A cancellation requested meanwhile lands at that await, after the call took effect (or failed), as it
    does when the worker thread is quicker than the cancellation (the other order is tested on its own).
    """
    try:
        return function(*args)
    finally:
        await asyncio.sleep(0)


@pytest.fixture
def deterministic_file_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filestore_module, "async_run_blocking", call_then_await)
    monkeypatch.setattr(filestore_module, "async_run_blocking_owned", call_then_await_owned)


@pytest.mark.usefixtures("deterministic_file_tier")
@pytest.mark.parametrize("landing", PLANS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
async def test_a_cancellation_at_any_point_leaves_nothing_behind(
    scenario: Scenario, landing: str, tmp_path: Path
) -> None:
    problems, _ = await sweep(scenario, tmp_path, PLANS[landing])
    assert problems == [], "\n".join(problems)


# -- the file tier's own races with cancellation, found by the sweep before its worker threads were made
# deterministic: here each is made to happen with real worker threads, by slowing the thread down.


async def put_long_entry(store: dj.AsyncFileStore) -> None:
    sink = await store.begin_set("k", dj.Metadata())
    await sink.write(b"v" * 3 * CHUNK)  # longer than the store's first read: get_stream keeps the file open
    await sink.commit()


async def test_a_file_tier_get_stream_cancelled_while_its_thread_opens_the_entry_leaves_no_file_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = dj.AsyncFileStore(tmp_path, chunk_size=CHUNK)
    await put_long_entry(store)
    entered = threading.Event()
    real_open = FileDirectory.open

    def slow_open(directory: FileDirectory, key: str, first_read: int, whole_read: int = 0) -> Any:
        entered.set()
        time.sleep(0.05)
        return real_open(directory, key, first_read, whole_read)

    monkeypatch.setattr(FileDirectory, "open", slow_open)
    opening = asyncio.ensure_future(store.get_stream("k"))
    await asyncio.to_thread(entered.wait, 5)
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    await asyncio.sleep(0.2)  # the worker thread has opened the record by now
    gc.collect()
    assert open_files(tmp_path) == []


async def test_a_file_tier_abort_made_while_a_spill_runs_on_its_thread_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = dj.AsyncFileStore(tmp_path, chunk_size=CHUNK)
    entered = threading.Event()
    real_create_temp = FileDirectory.create_temp

    def slow_create_temp(directory: FileDirectory) -> Any:
        entered.set()
        time.sleep(0.05)
        return real_create_temp(directory)

    monkeypatch.setattr(FileDirectory, "create_temp", slow_create_temp)
    sink = await store.begin_set("k", dj.Metadata())
    writing = asyncio.ensure_future(sink.write(b"v" * CHUNK))  # a whole chunk: spilled to a temp file
    await asyncio.to_thread(entered.wait, 5)
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    await sink.abort()
    await asyncio.sleep(0.2)  # the spill has finished by now
    assert os.listdir(tmp_path / "tmp") == [], "the sink is aborted (and still referenced, as by a log record)"
    assert open_files(tmp_path) == []
