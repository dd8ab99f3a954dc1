"""Hit-ratio simulation of the eviction policies: synthetic traces, trace files, replay and Belady's optimum.

Objects have unit size and capacities count entries.  Every function is pure
and deterministic for a given seed.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Sequence
from pathlib import Path

from ..policy import Policy

__all__ = ["belady", "loop_trace", "read_trace", "replay", "scan_mix_trace", "zipf_trace"]


def zipf_trace(n_keys: int, length: int, alpha: float, *, seed: int = 0) -> list[str]:
    """``length`` requests over ``n_keys`` keys, the key of popularity rank r drawn with weight ``r ** -alpha``.

    Ranks are assigned to key names in a shuffled order, so a name says nothing about its popularity.
    """
    if n_keys < 1 or length < 0 or alpha < 0:
        raise ValueError(f"need n_keys >= 1, length >= 0, alpha >= 0; got {n_keys}, {length}, {alpha}")
    rng = random.Random(seed)
    keys = [f"z{index}" for index in range(n_keys)]
    rng.shuffle(keys)
    cumulative = list(itertools.accumulate(rank**-alpha for rank in range(1, n_keys + 1)))
    return rng.choices(keys, cum_weights=cumulative, k=length)


def scan_mix_trace(
    n_keys: int, length: int, alpha: float, *, scan_every: int, scan_length: int, seed: int = 0
) -> list[str]:
    """A Zipf trace (see :func:`zipf_trace`) of ``length`` requests with a one-time scan after every ``scan_every``.

    A scan is ``scan_length`` requests of fresh keys, in sequence, each requested
    once in the whole trace.  The result has ``length`` Zipf requests plus the scans.
    """
    if scan_every < 1 or scan_length < 0:
        raise ValueError(f"need scan_every >= 1 and scan_length >= 0; got {scan_every}, {scan_length}")
    zipf = zipf_trace(n_keys, length, alpha, seed=seed)
    trace: list[str] = []
    for scan, start in enumerate(range(0, length, scan_every)):
        trace += zipf[start : start + scan_every]
        trace += (f"s{scan}-{index}" for index in range(scan_length))
    return trace


def loop_trace(n_keys: int, length: int) -> list[str]:
    """``length`` requests cycling through ``n_keys`` keys in order (the worst case of LRU)."""
    if n_keys < 1 or length < 0:
        raise ValueError(f"need n_keys >= 1 and length >= 0; got {n_keys}, {length}")
    return [f"l{index % n_keys}" for index in range(length)]


def read_trace(path: str | Path) -> list[str]:
    """The keys of a trace file: one request per line, surrounding whitespace stripped, blank lines skipped."""
    with open(path, encoding="utf-8") as file:
        return [key for key in (line.strip() for line in file) if key]


def replay(trace: Sequence[str], policy: Policy, capacity: int) -> int:
    """Serve ``trace`` from a cache of ``capacity`` unit-size entries evicting by ``policy``; return the hits.

    The policy is driven as a store drives it: ``access`` on a hit; on a miss
    ``insert(key, 1)``, then ``evict()`` until at most ``capacity`` keys are
    held.  A victim the cache does not hold raises ``KeyError``.
    """
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    held: set[str] = set()
    access, insert, evict = policy.access, policy.insert, policy.evict
    hits = 0
    for key in trace:
        if key in held:
            hits += 1
            access(key)
            continue
        insert(key, 1)
        held.add(key)
        while len(held) > capacity:
            held.remove(evict())
    return hits


def belady(trace: Sequence[str], capacity: int) -> int:
    """The most hits any policy can get on ``trace`` with ``capacity`` unit-size entries (Belady's MIN).

    Clairvoyant: on a miss with a full cache, of the held keys and the
    newcomer, the one requested again farthest in the future (or never) is
    evicted, or not admitted.  O(n log n) for n requests.
    """
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    never = len(trace)
    next_use = [never] * len(trace)
    last_seen: dict[str, int] = {}
    for position in range(len(trace) - 1, -1, -1):
        key = trace[position]
        next_use[position] = last_seen.get(key, never)
        last_seen[key] = position
    held: dict[str, int] = {}  # key -> position of its next request
    farthest: list[tuple[int, str]] = []  # (-next request, key); entries a key outgrew are skipped lazily
    hits = 0
    for key, upcoming in zip(trace, next_use, strict=True):
        if key in held:
            hits += 1
        elif len(held) >= capacity:
            while held.get(farthest[0][1]) != -farthest[0][0]:
                heapq.heappop(farthest)
            if -farthest[0][0] <= upcoming:
                continue
            del held[heapq.heappop(farthest)[1]]
        held[key] = upcoming
        heapq.heappush(farthest, (-upcoming, key))
    return hits
