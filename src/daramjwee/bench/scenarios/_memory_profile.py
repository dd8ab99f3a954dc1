"""Scenario ``memory``: peak memory while a 1 GiB value streams through a 3-tier miss and then a promotion.

The goal (from the issue): streaming 1 GiB costs at most 32 MiB above the
process's baseline.  Every sample runs in a fresh child process
(``python -m daramjwee.bench.scenarios._memory_child``), so
no sample inherits another's heap.  The child builds a sync
``Cache(stores=[MemStore(capacity="64MiB"), FileStore(a), FileStore(b)])``
(directories in a temporary directory, removed after each run) and an origin
whose body is a generator of 1 MiB ``memoryview`` slices of one preallocated
2 MiB random buffer (the origin allocates no data per chunk; the slices start
at varying offsets so the checksum catches misordered chunks), declaring
``attrs={"content-length": ...}``.  The value is 1 GiB, or 128 MiB with quick
options (``options.iterations`` below the default): both are larger than tier
0's 64 MiB, so a miss fills tier 1 and tier 0 never holds the value (a 64 MiB
value would fit tier 0 and take another path).

Before measuring, the child warms up (a 4 MiB miss and a promotion of it from
tier 2, so imports, worker threads and the allocator are in a steady state).
Each phase is then measured alone:

- ``miss``: ``with cache.get(key, origin) as r`` read in 1 MiB ``r.read`` calls
  to the end, each chunk dropped before the next read (length and CRC-32
  checked against the origin's), then wait until
  the background fan-out of the value from tier 1 to tier 2 has finished
  (``cache.stats().fanouts``): the fan-out is part of the phase.  Afterwards
  tiers 1 and 2 hold the key and tier 0 does not.
- ``promotion``: untimed before it, the key is deleted from tiers 0 and 1 on
  the stores directly; then the same get and read, now a hit in tier 2
  streamed into tier 1 (the promotion skips tier 0, whose capacity is below
  the declared length) while it is read.  Length and CRC-32 are checked, and
  tier 1 must hold the key afterwards.

Cases (MiB, lower is better):

- ``miss-rss-growth`` / ``promotion-rss-growth``: the peak resident set of the
  child during the phase minus its resident set just before it: ``VmRSS`` read,
  the peak reset (``/proc/self/clear_refs`` with ``5``), the phase run, then
  ``VmHWM`` read (Linux only).  Both come from one child run (see ``Paired``);
  the promotion runs after the miss, so it may reuse heap pages the miss freed
  but the allocator kept, and can show less growth than it allocates.
- ``miss-tracemalloc-peak`` / ``promotion-tracemalloc-peak``: the peak of the
  Python allocations ``tracemalloc`` traces during the phase (all threads) minus
  those traced when it began (``tracemalloc.reset_peak()`` at its start), from
  another child run in which ``tracemalloc`` is started after the warm-up:
  tracing slows allocation, so it never shares a run with the RSS figures.
- ``budget``: the constant 32.0, the goal.

Ratios: ``miss-rss-growth / budget`` and ``promotion-rss-growth / budget``
(goal <= 1.0, at the worst sample: every run must stay in budget);
``miss-tracemalloc-peak / budget`` and ``promotion-tracemalloc-peak / budget``
(information, at the worst sample): how much of the budget Python's own
allocations take, the rest of the RSS growth being the allocator, thread
stacks and C buffers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from .._model import Case, Ratio
from ._common import Options, Paired

__all__ = ["memory_missing", "memory_profile"]

MIB = 1 << 20
FULL_SIZE = 1024 * MIB
QUICK_SIZE = 128 * MIB
BUDGET_MIB = 32.0
TIER0_CAPACITY = "64MiB"
CHILD_MODULE = "daramjwee.bench.scenarios._memory_child"
CHILD_TIMEOUT = 1800.0


def _child_run(size: int, root: Path, *, traced: bool) -> tuple[float, float]:
    """(miss, promotion) growth in MiB from one fresh child process, its file tiers in a new directory of ``root``."""
    directory = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    command = [sys.executable, "-m", CHILD_MODULE]
    command += ["--size", str(size), "--directory", str(directory)]
    if traced:
        command.append("--tracemalloc")
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if completed.returncode != 0:
        raise RuntimeError(f"the memory child failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return float(result["miss"]), float(result["promotion"])


def memory_missing(options: Options) -> str | None:
    """Why this machine cannot run the scenario: it needs Linux's ``/proc/self/status`` and ``clear_refs``."""
    if not os.access("/proc/self/clear_refs", os.W_OK):
        return "needs Linux /proc/self/clear_refs (to reset the peak resident set)"
    return None


def memory_profile(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """Peak RSS and traced-allocation growth of a 1 GiB miss and promotion through memory -> file -> file."""
    quick = options.iterations < Options().iterations
    size = QUICK_SIZE if quick else FULL_SIZE
    root = Path(cleanups.enter_context(tempfile.TemporaryDirectory(prefix="daramjwee-bench-memory-")))
    rss = Paired(lambda: _child_run(size, root, traced=False))
    traced = Paired(lambda: _child_run(size, root, traced=True))
    value = f"{size // MIB} MiB value in 1 MiB reads"
    chain = f"Cache([MemStore({TIER0_CAPACITY}), FileStore, FileStore])"
    miss = f"{chain}, miss of a {value}, fan-out to the last tier included"
    promotion = f"{chain}, hit of a {value} in the last tier, promoted into tier 1"
    cases = [
        Case("miss-rss-growth", f"{miss}: peak RSS above the baseline", "MiB", rss.case(0)),
        Case("promotion-rss-growth", f"{promotion}: peak RSS above the baseline", "MiB", rss.case(1)),
        Case("miss-tracemalloc-peak", f"{miss}: peak traced Python allocations", "MiB", traced.case(0)),
        Case("promotion-tracemalloc-peak", f"{promotion}: peak traced Python allocations", "MiB", traced.case(1)),
        Case("budget", "the goal: 32 MiB above the baseline (constant)", "MiB", lambda: BUDGET_MIB),
    ]
    ratios = [
        Ratio("miss-rss-growth / budget", "miss-rss-growth", "budget", 1.0, of="worst"),
        Ratio("promotion-rss-growth / budget", "promotion-rss-growth", "budget", 1.0, of="worst"),
        Ratio("miss-tracemalloc-peak / budget", "miss-tracemalloc-peak", "budget", of="worst"),
        Ratio("promotion-tracemalloc-peak / budget", "promotion-tracemalloc-peak", "budget", of="worst"),
    ]
    return cases, ratios
