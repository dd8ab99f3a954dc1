"""The lifecycle rules under injected faults: whichever store call or fetcher step fails, every path ends clean.

For each path of the cache (a miss, a promotion, a stale refresh, a set, a delete, a fan-out, a 304
re-stamp and a negative entry), a clean run first records every store call (any operation on any of the
three tiers: memory, memory, files) and every fetcher step (the call and each chunk of its body) in one
global order.  Then the path runs again once per point, that one call failing (a ``StoreFault``, or an
``OriginFault`` from the fetcher), until an injection past the last call leaves the run untouched.

After each run and its background work, these invariants must hold (rules W4, S4, G7, O1): no flight, refresh, value
in transit, write ticket or key lock is left; every reader and sink the cache was handed is ended; no
temp file is left and no file of the file tier stays open; the caller got a whole value or a public
error; the next ``get``, faults healed, is correct and takes under a second; every tier holds a whole,
correct value (the body and the etag of one value); the counters add up.

The same sweep with cancellation instead of errors (asyncio only) is in tests/test_async_fault_sweep.py.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import daramjwee as dj
from daramjwee.testing import StoreFault

from ._helpers import eventually

KEY = "k"
CHUNK = 1024
STALE = 1.0  # a cached_at long past: stale under positive_fresh_for=60
SETTLE = 2.0  # seconds background work gets to settle after a run
WORKER_TIMEOUT = 5.0


def value(letters: bytes) -> bytes:
    """Three chunks, one letter each: a part or a mix of two values is never mistaken for a whole one."""
    return b"".join(bytes([letter]) * CHUNK for letter in letters)


ORIGIN = value(b"ABC")  # what the origin answers now (etag "v2")
OLD = value(b"abc")  # an older copy already cached (etag "v1")
STORED = value(b"pqr")  # a copy only the file tier holds (etag "s")
NEW = value(b"XYZ")  # what a set writes (no etag)
NAMES = {ORIGIN: "origin", OLD: "old", STORED: "stored", NEW: "new"}
ETAGS = {"origin": "v2", "old": "v1", "stored": "s", "new": ""}


class OriginFault(RuntimeError):
    """What an injected fetcher failure raises."""


def fault(label: str) -> Exception:
    if label.startswith("origin."):
        return OriginFault(f"injected failure of {label}")
    return StoreFault(f"injected failure of {label}")


def name_of(data: bytes, metadata: dj.Metadata) -> str:
    """Which whole value ``data`` is, checked against its metadata; a description of anything else."""
    if metadata.is_negative:
        return "negative" if not data else f"negative entry with {len(data)} bytes"
    name = NAMES.get(data)
    if name is None:
        return f"{len(data)} bytes of no whole value ({data[:1]!r}..{data[-1:]!r})"
    if metadata.etag != ETAGS[name]:
        return f"{name} bytes under etag {metadata.etag!r}"
    return name


class Plan:
    """Records every store call and fetcher step of a run in one global order and fails the ``at``-th.

    ``at=0`` fails nothing.  Labels are ``"<op>#<n>"``: ``t1.write#2`` is the
    second ``write`` of tier 1, ``origin.chunk#3`` the third chunk of a
    fetcher's body.  Successful commits of tier 0 are counted even when the
    plan is disarmed: each is a write the cache must fan out (promotions aside).
    """

    lands_with_the_caller = True
    """Whether a miss's flight has landed when the caller returns (not when a cancelled caller left its fill
    to end in a task of its own)."""

    def __init__(self, at: int = 0) -> None:
        self.at = at
        self.armed = True
        self.trace: list[str] = []
        self.fired: str | None = None
        self.tier0_commits = 0
        self.cache: Any = None
        self.problems: list[str] = []  # what the plan itself saw go wrong
        self.unended: dict[int, str] = {}  # readers and sinks handed to the cache and not yet ended
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _count(self, op: str) -> str | None:
        """Record a call of ``op``; return its label when it is the one to fail."""
        with self._lock:
            if not self.armed:
                return None
            self._seen[op] += 1
            label = f"{op}#{self._seen[op]}"
            self.trace.append(label)
            if len(self.trace) != self.at:
                return None
            self.fired = label
            return label

    async def step(self, op: str) -> None:
        """A call that may wait (every store operation but ``lookup``/``peek``, and the fetcher's steps)."""
        label = self._count(op)
        if label is not None:
            await self.inject(label)

    def plain_step(self, op: str) -> None:
        """A plain call (a memory tier's ``lookup`` and ``peek``)."""
        label = self._count(op)
        if label is not None:
            self.inject_plain(label)

    def committed(self, tier: int) -> None:
        if tier == 0:
            with self._lock:
                self.tier0_commits += 1

    def opened(self, stream: object, what: str) -> None:
        with self._lock:
            self.unended[id(stream)] = f"{what} ({self.trace[-1] if self.trace else 'before the run'})"

    def ended(self, stream: object) -> None:
        with self._lock:
            self.unended.pop(id(stream), None)

    async def inject(self, label: str) -> None:
        raise fault(label)

    def inject_plain(self, label: str) -> None:
        raise fault(label)

    async def run(self, action: Callable[[], Awaitable[str]]) -> tuple[str | None, str | None]:
        """Run the path's foreground action: ``(result, None)``, or ``(None, what it raised)`` (see ``describe``).

        No exception is kept: its traceback would keep alive what it passed through.
        """
        try:
            return await action(), None
        except Exception as error:
            return None, self.describe(error)

    def describe(self, error: BaseException) -> str:
        """``""`` for an error that may reach the caller (a public one, or the fetcher's own), else its repr."""
        return "" if isinstance(error, dj.DaramjweeError | OriginFault) else repr(error)


class AsyncTap:
    """A tier reporting every call to ``plan`` (``lookup`` and ``peek`` only where the inner store has them)."""

    def __init__(self, inner: Any, tier: int, plan: Plan, *, peek: bool = True) -> None:
        self.inner = inner
        self.tier = tier
        self.plan = plan
        self.name = f"t{tier}"
        if getattr(inner, "lookup", None) is not None:
            self.lookup = self._plain("lookup", inner.lookup)
        if peek and getattr(inner, "peek", None) is not None:
            self.peek = self._plain("peek", inner.peek)
        if getattr(inner, "get_range", None) is not None:
            self.get_range = self._ranged(inner.get_range)

    def _ranged(self, call: Callable[[str, dj.ByteRange], Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        label = f"{self.name}.get_range"

        async def get_range(key: str, byte_range: dj.ByteRange, /) -> tuple[Any, dj.Metadata, int]:
            await self.plan.step(label)
            reader, metadata, length = await call(key, byte_range)
            return _AsyncTapReader(self, reader), metadata, length

        return get_range

    def _plain(self, op: str, call: Callable[[str], Any]) -> Callable[[str], Any]:
        label = f"{self.name}.{op}"

        def plain(key: str) -> Any:
            self.plan.plain_step(label)
            return call(key)

        return plain

    async def get_stream(self, key: str, /) -> tuple[Any, dj.Metadata]:
        await self.plan.step(f"{self.name}.get_stream")
        reader, metadata = await self.inner.get_stream(key)
        return _AsyncTapReader(self, reader), metadata

    async def begin_set(self, key: str, metadata: dj.Metadata, /) -> Any:
        await self.plan.step(f"{self.name}.begin_set")
        return _AsyncTapSink(self, await self.inner.begin_set(key, metadata))

    async def delete(self, key: str, /) -> None:
        await self.plan.step(f"{self.name}.delete")
        await self.inner.delete(key)

    async def stat(self, key: str, /) -> dj.Metadata:
        await self.plan.step(f"{self.name}.stat")
        return await self.inner.stat(key)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.plan.step(f"{self.name}.close")
        await self.inner.close()


class _AsyncTapReader:
    def __init__(self, tap: AsyncTap, inner: Any) -> None:
        self._tap = tap
        self._inner = inner
        tap.plan.opened(self, f"a reader of tier {tap.tier}")

    async def read(self, size: int = -1, /) -> Any:
        await self._tap.plan.step(f"{self._tap.name}.read")
        return await self._inner.read(size)

    async def aclose(self) -> None:
        self._tap.plan.ended(self)
        await self._inner.aclose()


class _AsyncTapSink:
    def __init__(self, tap: AsyncTap, inner: Any) -> None:
        self._tap = tap
        self._inner = inner
        tap.plan.opened(self, f"a sink of tier {tap.tier}")

    async def write(self, data: Any, /) -> None:
        await self._tap.plan.step(f"{self._tap.name}.write")
        await self._inner.write(data)

    async def commit(self) -> None:
        await self._tap.plan.step(f"{self._tap.name}.commit")
        await self._inner.commit()
        self._tap.plan.ended(self)
        self._tap.plan.committed(self._tap.tier)

    async def abort(self) -> None:
        self._tap.plan.ended(self)
        await self._tap.plan.step(f"{self._tap.name}.abort")
        await self._inner.abort()


async def body(plan: Plan, data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        await plan.step("origin.chunk")
        yield data[start : start + CHUNK]


def fetcher(plan: Plan, answer: str) -> Callable[[dj.Metadata | None], Awaitable[dj.FetchResult]]:
    """The origin: ``"value"`` answers ORIGIN, ``"not-modified"`` validates any cached copy, ``"missing"`` is a 404.

    ``"sized"`` answers ORIGIN with its length declared (``content-length``), as a ranged miss needs.
    """

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        await plan.step("origin.fetch")
        if answer == "missing":
            raise dj.CacheableNotFound(KEY)
        if answer == "not-modified":
            if old is not None:
                raise dj.NotModified()
            return dj.FetchResult(body(plan, OLD), dj.Metadata(etag="v1"))
        if answer == "sized":
            return dj.FetchResult(
                body(plan, ORIGIN), dj.Metadata(etag="v2", attrs={"content-length": str(len(ORIGIN))})
            )
        return dj.FetchResult(body(plan, ORIGIN), dj.Metadata(etag="v2"))

    return fetch


Fetch = Callable[[dj.Metadata | None], Awaitable[dj.FetchResult]]


async def read_key(cache: dj.AsyncCache, fetch: Fetch) -> str:
    """``get`` the key and read it chunk by chunk: the name of what was read, or ``"not-found"``."""
    try:
        response = await cache.get(KEY, fetch)
    except dj.NotFound:
        return "not-found"
    parts = []
    async with response:
        while True:
            chunk = await response.read(CHUNK)
            if not chunk:
                break
            parts.append(chunk)
    return name_of(b"".join(parts), response.metadata)


RANGE = dj.ByteRange(CHUNK - 10, 2 * CHUNK + 10)  # across both chunk edges of a value


async def read_range(cache: dj.AsyncCache, fetch: Fetch) -> str:
    """``get`` the key's RANGE and read it in small pieces: ``"<name>[range]"`` of the value it is part of."""
    try:
        response = await cache.get(KEY, fetch, byte_range=RANGE)
    except dj.NotFound:
        return "not-found"
    parts = []
    async with response:
        while True:
            chunk = await response.read(100)
            if not chunk:
                break
            parts.append(chunk)
    data = b"".join(parts)
    for whole, name in NAMES.items():
        served = dj.ContentRange(RANGE.start, RANGE.stop or 0, len(whole))
        if data == whole[RANGE.start : RANGE.stop] and (response.metadata.etag, response.content_range) == (
            ETAGS[name],
            served,
        ):
            return f"{name}[range]"
    return f"{len(data)} bytes of no value's range ({response.content_range})"


async def set_key(cache: dj.AsyncCache, fetch: Fetch) -> str:
    async with cache.set(KEY) as writer:
        for start in range(0, len(NEW), CHUNK):
            await writer.write(NEW[start : start + CHUNK])
    return "done"


async def delete_key(cache: dj.AsyncCache, fetch: Fetch) -> str:
    await cache.delete(KEY)
    return "done"


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One path: what the tiers hold before, what the foreground does, and every outcome that is correct."""

    name: str
    act: Callable[[dj.AsyncCache, Fetch], Awaitable[str]]
    answer: str  # the origin's answer (see ``fetcher``)
    seed: tuple[tuple[int, bytes, float | None], ...]  # (tier, value, cached_at or None for now)
    results: frozenset[str]  # what the foreground may return
    tiers: frozenset[str]  # what a tier may hold once the run settled
    after_success: frozenset[str]  # what the next get returns after a foreground that succeeded
    after_failure: frozenset[str]  # ... and after one that raised
    clean: tuple[str, str, str]  # the tiers after a clean run
    peek: bool = True  # whether tier 0 offers ``peek`` (the cache then snapshots values to fan out)

    def __str__(self) -> str:
        return self.name


def _all_tiers(data: bytes, cached_at: float | None) -> tuple[tuple[int, bytes, float | None], ...]:
    return tuple((tier, data, cached_at) for tier in range(3))


def _names(*names: str) -> frozenset[str]:
    return frozenset(names)


SCENARIOS = [
    Scenario(
        "miss",
        read_key,
        "value",
        (),
        results=_names("origin"),
        tiers=_names("origin", "absent"),
        after_success=_names("origin"),
        after_failure=_names("origin"),
        clean=("origin", "origin", "origin"),
    ),
    Scenario(
        "promotion",
        read_key,
        "value",
        ((2, STORED, None),),
        results=_names("stored", "origin"),
        tiers=_names("stored", "origin", "absent"),
        after_success=_names("stored", "origin"),
        after_failure=_names("stored", "origin"),
        clean=("stored", "stored", "stored"),
    ),
    Scenario(
        "stale-refresh",
        read_key,
        "value",
        _all_tiers(OLD, STALE),
        results=_names("old", "origin"),
        tiers=_names("old", "origin"),
        after_success=_names("old", "origin"),
        after_failure=_names("old", "origin"),
        clean=("origin", "origin", "origin"),
    ),
    Scenario(
        "set",
        set_key,
        "value",
        _all_tiers(OLD, None),
        results=_names("done"),
        tiers=_names("old", "new"),
        after_success=_names("new"),
        after_failure=_names("old", "new"),
        clean=("new", "new", "new"),
    ),
    Scenario(
        "delete",
        delete_key,
        "value",
        _all_tiers(OLD, None),
        results=_names("done"),
        tiers=_names("old", "absent"),
        after_success=_names("origin"),
        after_failure=_names("old", "origin"),
        clean=("absent", "absent", "absent"),
    ),
    Scenario(
        "fan-out",  # a miss whose fan-out reads tier 0 back (no peek): the fan-out's own reads fail too
        read_key,
        "value",
        (),
        results=_names("origin"),
        tiers=_names("origin", "absent"),
        after_success=_names("origin"),
        after_failure=_names("origin"),
        clean=("origin", "origin", "origin"),
        peek=False,
    ),
    Scenario(
        "not-modified",
        read_key,
        "not-modified",
        _all_tiers(OLD, STALE),
        results=_names("old"),
        tiers=_names("old"),
        after_success=_names("old"),
        after_failure=_names("old"),
        clean=("old", "old", "old"),
    ),
    Scenario(
        "ranged-miss",  # the fill stores the whole value while the caller reads a range of it
        read_range,
        "sized",
        (),
        results=_names("origin[range]"),
        tiers=_names("origin", "absent"),
        after_success=_names("origin"),
        after_failure=_names("origin"),
        clean=("origin", "origin", "origin"),
    ),
    Scenario(
        "ranged-hit",  # a range read from the file tier alone: nothing is promoted
        read_range,
        "sized",
        ((2, STORED, None),),
        results=_names("stored[range]", "origin[range]"),
        tiers=_names("stored", "origin", "absent"),
        after_success=_names("stored", "origin"),
        after_failure=_names("stored", "origin"),
        clean=("absent", "absent", "stored"),
    ),
    Scenario(
        "ranged-stale",  # a stale range is served, and its refresh scheduled at once
        read_range,
        "sized",
        _all_tiers(OLD, STALE),
        results=_names("old[range]"),
        tiers=_names("old", "origin"),
        after_success=_names("old", "origin"),
        after_failure=_names("old", "origin"),
        clean=("origin", "origin", "origin"),
    ),
    Scenario(
        "negative",
        read_key,
        "missing",
        (),
        results=_names("not-found"),
        tiers=_names("negative", "absent"),
        after_success=_names("not-found"),
        after_failure=_names("not-found"),
        clean=("negative", "negative", "negative"),
    ),
]


@dataclasses.dataclass
class Report:
    """What one run did and which invariants it broke."""

    trace: list[str]
    fired: str | None
    tiers: list[str]
    stamps: list[float]
    problems: list[str]


async def contents(store: Any) -> tuple[str, float]:
    """What a tier holds for the key (read from the store itself) and its ``cached_at``."""
    try:
        reader, metadata = await store.get_stream(KEY)
    except dj.NotFound:
        return "absent", 0.0
    try:
        data = bytes(await reader.read())
    finally:
        await reader.aclose()
    return name_of(data, metadata), metadata.cached_at


def open_files(root: Path) -> list[str]:
    """Files under ``root`` this process holds open (none once every reader and sink ended); Linux only."""
    prefix = f"{os.path.realpath(root)}/"
    names = []
    for fd in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith(prefix):
            names.append(target[len(prefix) :])
    return sorted(names)


def settled(cache: dj.AsyncCache) -> bool:
    return not cache._flights and not cache._refreshing and len(cache._fan_outs) == 0 and cache._writes.in_flight() == 0


def leftovers(cache: dj.AsyncCache) -> str:
    return (
        f"flights={sorted(cache._flights)} refreshing={sorted(cache._refreshing)} "
        f"fan-outs pending={len(cache._fan_outs)} writes in flight={cache._writes.in_flight()}"
    )


async def check(
    cache: dj.AsyncCache, plan: Plan, root: Path, stage: str, problems: list[str], settle: float = SETTLE
) -> None:
    """Wait for background work, then check the cache's state, its temp files and its counters."""
    try:
        await eventually(lambda: settled(cache), timeout=settle)
    except AssertionError:
        problems.append(f"{stage}: background work never settled: {leftovers(cache)}")
    if plan.unended:
        problems.append(f"{stage}: never closed nor committed nor aborted: {sorted(plan.unended.values())}")
    temps, files = sorted(os.listdir(root / "tmp")), open_files(root)
    if temps or files:
        gc.collect()  # only a sink or reader still referenced keeps its file: collect the garbage, then look again
        temps, files = sorted(os.listdir(root / "tmp")), open_files(root)
    if temps:
        problems.append(f"{stage}: temp files left in the file tier: {temps}")
    if files:
        problems.append(f"{stage}: files of the file tier left open: {files}")
    stats = cache.stats()
    if stats.fills_started != stats.fills_published + stats.fills_aborted:
        problems.append(
            f"{stage}: fills_started={stats.fills_started} but fills_published={stats.fills_published} "
            f"+ fills_aborted={stats.fills_aborted}"
        )
    if stats.refreshes_scheduled != stats.refreshes_completed + stats.refreshes_failed:
        problems.append(
            f"{stage}: refreshes_scheduled={stats.refreshes_scheduled} but refreshes_completed="
            f"{stats.refreshes_completed} + refreshes_failed={stats.refreshes_failed}"
        )
    due = plan.tier0_commits - stats.tiers[0].promotions  # every write published in tier 0 but a promotion
    if stats.fanouts + stats.fanouts_failed != due:
        problems.append(
            f"{stage}: {due} write(s) published in tier 0 to fan out, but fanouts={stats.fanouts} "
            f"+ fanouts_failed={stats.fanouts_failed}"
        )


async def check_tiers(
    tiers: list[AsyncTap], scenario: Scenario, allowed: frozenset[str], stage: str, problems: list[str]
) -> tuple[list[str], list[float]]:
    held = [await contents(tier.inner) for tier in tiers]
    names = [name for name, _ in held]
    for tier, name in enumerate(names):
        if name not in allowed:
            problems.append(f"{stage}: tier {tier} holds {name} (allowed: {sorted(allowed)})")
    for tier, _, _ in scenario.seed:
        if names[tier] == "absent" and scenario.act is not delete_key:
            problems.append(f"{stage}: tier {tier} lost the key")
    return names, [stamp for _, stamp in held]


async def run(scenario: Scenario, root: Path, plan: Plan, *, settle: float = SETTLE) -> Report:
    """One run of ``scenario`` under ``plan``, then the next ``get`` with faults healed; every check."""
    tiers = [
        AsyncTap(dj.AsyncMemStore(), 0, plan, peek=scenario.peek),
        AsyncTap(dj.AsyncMemStore(), 1, plan),
        AsyncTap(dj.AsyncFileStore(root, chunk_size=CHUNK), 2, plan),
    ]
    for tier, data, cached_at in scenario.seed:
        metadata = dj.Metadata(etag=ETAGS[NAMES[data]], cached_at=time.time() if cached_at is None else cached_at)
        sink = await tiers[tier].inner.begin_set(KEY, metadata)
        await sink.write(data)
        await sink.commit()
    fetch = fetcher(plan, scenario.answer)
    problems = plan.problems
    async with dj.AsyncCache(
        stores=tiers, chunk_size=CHUNK, positive_fresh_for=60.0, worker_timeout=WORKER_TIMEOUT, close_timeout=SETTLE
    ) as cache:
        plan.cache = cache
        result, error = await plan.run(lambda: scenario.act(cache, fetch))
        if plan.lands_with_the_caller and cache._flights:
            problems.append(f"the caller returned, leaving flights {sorted(cache._flights)}")
        if error:
            problems.append(f"the foreground raised a non-public error: {error}")
        elif error is None and result not in scenario.results:
            problems.append(f"the foreground returned {result} (allowed: {sorted(scenario.results)})")
        await check(cache, plan, root, "after the run", problems, settle)
        plan.armed = False  # faults healed
        names, stamps = await check_tiers(tiers, scenario, scenario.tiers, "after the run", problems)

        started = time.monotonic()
        try:
            again = await read_key(cache, fetch)
        except Exception as failure:
            again = f"an error: {failure!r}"
        elapsed = time.monotonic() - started
        expected = scenario.after_failure if result is None else scenario.after_success
        if again not in expected:
            problems.append(f"the next get returned {again} (allowed: {sorted(expected)})")
        if elapsed >= 1.0:
            problems.append(f"the next get took {elapsed:.2f}s")
        await check(cache, plan, root, "after the next get", problems, settle)
        await check_tiers(tiers, scenario, scenario.tiers | expected, "after the next get", problems)
    return Report(plan.trace, plan.fired, names, stamps, problems)


async def sweep(
    scenario: Scenario,
    root: Path,
    make_plan: Callable[[int], Plan],
    **options: Any,
) -> tuple[list[str], int]:
    """Fail each point of a clean run in turn, until a point past the last leaves the run untouched.

    Returns the broken invariants and the number of runs made.
    """
    clean = await run(scenario, root / "clean", make_plan(0), **options)
    assert clean.problems == [], clean.problems
    assert tuple(clean.tiers) == scenario.clean
    problems: list[str] = []
    at = 0
    runs = 1
    while True:
        at += 1
        report = await run(scenario, root / f"at-{at}", make_plan(at), **options)
        runs += 1
        if report.fired is None:
            break
        problems.extend(f"{scenario}: fault at call {at} ({report.fired}): {problem}" for problem in report.problems)
        assert at <= 2 * len(clean.trace), "the sweep does not end"
    assert at == len(clean.trace) + 1, f"a fault at call {at} did not fire, but a clean run makes {len(clean.trace)}"
    assert report.trace == clean.trace, "a fault past the last call changed the run"
    assert report.problems == [], report.problems
    if scenario.name == "not-modified":
        assert min(clean.stamps) > STALE, "a clean 304 re-stamps every tier"
    return problems, runs


BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
async def test_a_store_or_origin_failure_at_any_point_leaves_nothing_behind(scenario: Scenario, tmp_path: Path) -> None:
    problems, _ = await sweep(scenario, tmp_path, Plan)
    assert problems == [], "\n".join(problems)
