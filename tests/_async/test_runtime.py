"""The background runner that runs fan-outs and refreshes (rules R2, X3, X5, C3)."""

from __future__ import annotations

import gc
import logging
import weakref

from daramjwee._async_runtime import AsyncBackgroundRunner

from ._helpers import eventually


class _Captured:
    """An object a job holds, as a fan-out holds the value it copies."""


async def test_an_idle_worker_does_not_keep_its_last_job_alive() -> None:
    runner = AsyncBackgroundRunner(
        strategy="pool", workers=1, queue_size=4, job_timeout=5.0, logger=logging.getLogger("daramjwee.test")
    )
    captured = _Captured()
    alive = weakref.ref(captured)
    ran = []

    async def job(held: _Captured = captured) -> None:
        ran.append(held is not None)

    runner.submit("job", job)
    del job, captured
    await eventually(lambda: ran == [True])

    def released() -> bool:
        gc.collect()
        return alive() is None

    await eventually(released)
    await runner.shutdown(1.0)
