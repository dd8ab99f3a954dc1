"""``daramjwee demo``: three tiers in front of a slow synthetic origin, shown live with rich.

Everything runs in this process, offline.  Tier 0 is a small ``MemStore``;
tier 1 is a real ``FileStore`` in a temporary directory (removed at the end);
tier 2 is a memory store wrapped in :class:`~daramjwee.testing.FaultyStore`
latency, standing in for a remote store (+15 ms).  The origin sleeps 50-80 ms
per fetch, and some keys are missing there.

The workload has three phases: a stampede of concurrent misses on one cold key
(single-flight), a Zipf-ish mix of keys from a few threads (promotions, stale
hits and background refreshes, negative hits), and a "restart": a new ``Cache``
with an empty tier 0, a new ``FileStore`` that rebuilds its index from the same
directory, and the same tier 2; tiers 1 and 2 then serve and promote.

Each request is counted under the source that served it, except a request
that missed while another request was already fetching its key: it waited
for that fetch (single-flight) and is counted as ``coalesced``
(:attr:`daramjwee.Response.coalesced`), not as a hit of the tier it was then
read from, so the tier rows time only what the tiers do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import random
import tempfile
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

import daramjwee as dj
from daramjwee.testing import FaultyStore

__all__ = ["DemoOptions", "DemoResult", "play", "run_demo"]

KEYS = tuple(f"key-{index}" for index in range(40))
MISSING = frozenset(KEYS[4::9])  # the origin answers "not found" for these
CHANGING = frozenset(KEYS[::5]) - MISSING  # the origin publishes a new version of these every VERSION_PERIOD
VERSION_PERIOD = 2.0
ZIPF_EXPONENT = 1.1
BURST_KEY = "burst-key"
BURST_CALLERS = 20
CLIENT_THREADS = 4
THINK_TIME = (0.01, 0.03)  # seconds each client pauses between two requests
FIRST_PHASE_SHARE = 0.55  # of the duration and of the request budget; the restart phase gets the rest
TIER0_CAPACITY = "16KiB"
TIER1_CAPACITY = "48KiB"
REMOTE_LATENCY = 0.015  # added by FaultyStore to every operation of tier 2
LOWER_TIER_FRESH_FOR = 60.0
SOURCES = ("tier 0", "tier 1", "tier 2", "origin", "coalesced", "negative")
SOURCE_LABELS = {
    "tier 0": f"memory, {TIER0_CAPACITY}",
    "tier 1": f"FileStore, {TIER1_CAPACITY}",
    "tier 2": f"remote-like, +{REMOTE_LATENCY * 1000:.0f} ms a call",
    "origin": "slow, 50-80 ms",
    "coalesced": "waited for another request's fetch",
    "negative": "cached not-found",
}
LEGEND = (
    (
        "tier 0-2",
        "a hit: the value was in that tier. Tier 0 hands out the stored bytes, so its hits take microseconds; "
        f"a rare one takes {REMOTE_LATENCY * 1000:.0f} ms or more: it missed every tier (tier 2 included), then "
        f"found tier 0 filled meanwhile by another request. Tier 2 adds {REMOTE_LATENCY * 1000:.0f} ms to each "
        "store call, and a hit makes three (open, read, read to the end)",
    ),
    ("origin", "every tier missed and this request fetched the value itself (50-80 ms), filling tier 0"),
    (
        "coalesced",
        "missed while another request was fetching the same key: waited for that one fetch (single-flight), "
        "then read what it stored; its time is the origin's, so it is kept out of the tier rows",
    ),
    (
        "negative",
        "the origin said 'not found' earlier; the cached not-found answers without asking it "
        f"(from tier 2 once tier 0's shorter negative freshness ran out: +{REMOTE_LATENCY * 1000:.0f} ms)",
    ),
    ("promotion", "a hit in tier 1 or 2 is copied into the faster tiers while it is read"),
    (
        "stale hit",
        f"an entry older than its freshness (tier 0: fresh_for) is served at once while one background "
        f"refresh asks the origin (a refresh: 'not modified', or a new version every {VERSION_PERIOD:g} s)",
    ),
    ("fan-out", "a value tier 0 stored is copied to tiers 1-2 in the background, so it survives a restart"),
)
EVENT_LINES = 6


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    """What ``daramjwee demo`` was asked to run."""

    duration: float = 8.0
    requests: int | None = None
    seed: int = 7

    @property
    def fresh_for(self) -> float:
        """Tier 0 freshness: 1.5 s, less in short runs so that they still show stale hits."""
        return min(1.5, self.duration / 5)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the :class:`Board` for rendering."""

    phase: str
    elapsed: float
    latencies: dict[str, list[float]]
    events: list[str]
    counters: Counter[str]


@dataclasses.dataclass(frozen=True)
class BurstResult:
    """What the stampede phase caused: origin fetches, waits counted by ``cache.stats()``, responses that waited."""

    origin_fetches: int
    coalesced_waiters: int
    coalesced_responses: int


@dataclasses.dataclass(frozen=True)
class RestartResult:
    """What the cache built over the surviving lower tiers did."""

    lower_tier_hits: int
    promotions: int


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """What a run did: the requests each source served (``SOURCES``), the stampede, the restart, the counters."""

    requests: dict[str, int]
    burst: BurstResult
    restart: RestartResult
    counters: Counter[str]

    @property
    def ok(self) -> bool:
        """Whether the stampede caused exactly one origin fetch."""
        return self.burst.origin_fetches == 1


class Board:
    """Thread-safe record of the run: latency per source, recent events, cache counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._latencies: dict[str, list[float]] = {source: [] for source in SOURCES}
        self._events: deque[str] = deque(maxlen=EVENT_LINES)
        self._logged_once: set[str] = set()
        self._retired: Counter[str] = Counter()
        self._cache: dj.Cache | None = None
        self._phase = ""

    @property
    def elapsed(self) -> float:
        """Seconds since the board was created."""
        return time.monotonic() - self._started

    def attach(self, cache: dj.Cache, phase: str) -> None:
        """Show ``cache``'s counters from now on (adding those of the previous cache) and name the phase."""
        with self._lock:
            if self._cache is not None:
                self._retired += _counters(self._cache.stats())
            self._cache = cache
            self._phase = phase

    def set_phase(self, phase: str) -> None:
        """Name the phase the workload is in."""
        with self._lock:
            self._phase = phase

    def record(self, source: str, seconds: float) -> None:
        """Count one request served by ``source`` in ``seconds``."""
        with self._lock:
            self._latencies[source].append(seconds)

    def event(self, text: str, *, once: bool = False) -> None:
        """Add a line to the event log (with ``once``, only the first time this text comes)."""
        with self._lock:
            if once:
                if text in self._logged_once:
                    return
                self._logged_once.add(text)
            self._events.append(f"{self.elapsed:5.1f}s  {text}")

    def snapshot(self) -> Snapshot:
        """Copy the board for rendering."""
        with self._lock:
            counters = self._retired.copy()
            if self._cache is not None:
                counters += _counters(self._cache.stats())
            return Snapshot(
                phase=self._phase,
                elapsed=self.elapsed,
                latencies={source: sorted(samples) for source, samples in self._latencies.items()},
                events=list(self._events),
                counters=counters,
            )


def _counters(stats: dj.CacheStats) -> Counter[str]:
    """The ``cache.stats()`` counters the demo shows, by display name."""
    return Counter(
        {
            "origin fetches": stats.origin_fetches,
            "coalesced waiters": stats.coalesced_waiters,
            "promotions": sum(tier.promotions for tier in stats.tiers),
            "fan-outs": stats.fanouts,
            "stale hits": stats.stale_hits,
            "refreshes scheduled": stats.refreshes_scheduled,
            "refreshes completed": stats.refreshes_completed,
            "negative hits": stats.negative_hits,
        }
    )


COUNTER_NAMES = tuple(_counters(dj.CacheStats(tiers=())))


class SyntheticOrigin:
    """A slow origin with a deterministic body per key; keys in ``MISSING`` are not found.

    Keys in ``CHANGING`` get a new version every ``VERSION_PERIOD`` seconds;
    the others never change, so a conditional refetch of them is answered
    with :class:`daramjwee.NotModified`.
    """

    def __init__(self, board: Board) -> None:
        self._board = board
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def calls(self, key: str) -> int:
        """How many times ``key`` was fetched."""
        with self._lock:
            return self._calls[key]

    def fetch(self, key: str, old: dj.Metadata | None) -> dj.FetchResult:
        """Fetch ``key`` after a 50-80 ms delay; ``old`` is the cached metadata when revalidating."""
        with self._lock:
            self._calls[key] += 1
        time.sleep(0.050 + zlib.crc32(key.encode()) % 31 / 1000)  # 50-80 ms, fixed per key
        if key in MISSING:
            raise dj.CacheableNotFound(key)
        version = int(self._board.elapsed / VERSION_PERIOD) if key in CHANGING else 0
        body = _body(key, version)
        etag = f'"{zlib.crc32(body):08x}"'
        if old is not None and old.etag == etag:
            self._board.event(f"refresh of {key}: origin says not modified")
            raise dj.NotModified(key)
        if old is not None:
            self._board.event(f"refresh of {key}: origin sent version {version}")
        return dj.FetchResult(body, dj.Metadata(etag=etag))


def _body(key: str, version: int) -> bytes:
    """The origin's value of ``key`` at ``version``: 0.5 to 4 KiB, depending on the key."""
    size = 512 + zlib.crc32(key.encode()) % 3584
    return (f"{key} v{version};".encode() * size)[:size]


class _Fetch:
    """The fetcher of one request: asks the origin, and notes whether the requesting thread did."""

    __slots__ = ("_caller", "_key", "_origin", "asked_origin")

    def __init__(self, origin: SyntheticOrigin, key: str) -> None:
        self._origin = origin
        self._key = key
        self._caller = threading.get_ident()
        self.asked_origin = False

    def __call__(self, old: dj.Metadata | None) -> dj.FetchResult:
        if threading.get_ident() == self._caller:  # not a background refresh reusing this fetcher
            self.asked_origin = True
        return self._origin.fetch(self._key, old)


def _request(cache: dj.Cache, origin: SyntheticOrigin, board: Board, key: str) -> str:
    """Read ``key`` through ``cache``; record who served it, how fast, and any notable event; return the source."""
    fetch = _Fetch(origin, key)
    asked_at = time.time()
    started = time.perf_counter()
    try:
        with cache.get(key, fetch) as response:
            response.read()
    except dj.NotFound:
        seconds = time.perf_counter() - started
        if fetch.asked_origin:
            board.record("origin", seconds)
            board.event(f"{key}: not found at the origin → negative entry cached")
            return "origin"
        board.record("negative", seconds)
        board.event(f"{key}: negative hit, origin not asked", once=True)
        return "negative"
    seconds = time.perf_counter() - started
    tier = response.source
    if response.coalesced:
        board.record("coalesced", seconds)
        board.event(f"{key}: waited {seconds * 1000:.0f} ms for another request's origin fetch", once=True)
        return "coalesced"
    if tier is None:
        board.record("origin", seconds)
        board.event(f"{key}: missed every tier → origin fetch ({seconds * 1000:.0f} ms), filling tier 0")
        return "origin"
    source = f"tier {tier}"
    board.record(source, seconds)
    positive, _negative = cache.config.freshness(tier)
    if positive is not None and asked_at > response.metadata.cached_at + positive:
        board.event(f"{key}: stale hit in tier {tier} → background refresh")
    elif tier:
        upper = "tier 0" if tier == 1 else f"tiers 0-{tier - 1}"
        board.event(f"{key}: served from tier {tier}, promoted to {upper}")
    return source


class Budget:
    """How long and how many requests a phase may run; thread-safe; :meth:`close` ends it early."""

    def __init__(self, seconds: float, requests: int | None) -> None:
        self._deadline = time.monotonic() + seconds
        self._left = requests
        self._closed = False
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Claim one request; False once the phase is over."""
        with self._lock:
            if self._closed or self._left == 0 or time.monotonic() >= self._deadline:
                return False
            if self._left is not None:
                self._left -= 1
            return True

    def close(self) -> None:
        """End the phase: every later :meth:`take` returns False."""
        with self._lock:
            self._closed = True


def _run_threads(targets: Sequence[Callable[[], None]], budget: Budget | None = None) -> None:
    """Run each target in its own thread and wait for all; re-raise the first exception one raised.

    If waiting is interrupted (Ctrl-C), ``budget`` is closed so the threads stop soon.
    """
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(target,), name="daramjwee-demo") for target in targets]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    finally:
        if budget is not None:
            budget.close()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


def _burst(cache: dj.Cache, origin: SyntheticOrigin, board: Board) -> BurstResult:
    """Let ``BURST_CALLERS`` threads miss the same cold key at the same instant."""
    barrier = threading.Barrier(BURST_CALLERS)
    waiters_before = cache.stats().coalesced_waiters
    sources: list[str] = []

    def caller() -> None:
        barrier.wait()
        sources.append(_request(cache, origin, board, BURST_KEY))

    _run_threads([caller] * BURST_CALLERS)
    result = BurstResult(
        origin.calls(BURST_KEY), cache.stats().coalesced_waiters - waiters_before, sources.count("coalesced")
    )
    board.event(
        f"{BURST_KEY}: {BURST_CALLERS} concurrent misses → {result.origin_fetches} origin fetch, "
        f"{result.coalesced_waiters} callers waited for it"
    )
    return result


def _traffic(cache: dj.Cache, origin: SyntheticOrigin, board: Board, budget: Budget, seed: int) -> None:
    """Run ``CLIENT_THREADS`` clients reading Zipf-distributed keys until ``budget`` runs out."""
    weights = [1 / rank**ZIPF_EXPONENT for rank in range(1, len(KEYS) + 1)]

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        while budget.take():
            _request(cache, origin, board, rng.choices(KEYS, weights)[0])
            time.sleep(rng.uniform(*THINK_TIME))

    _run_threads([functools.partial(client, index) for index in range(CLIENT_THREADS)], budget)


def _new_cache(options: DemoOptions, lower_tiers: Sequence[dj.Store]) -> dj.Cache:
    """A cache with a new, empty tier 0 in front of ``lower_tiers``."""
    return dj.Cache(
        stores=[dj.MemStore(capacity=TIER0_CAPACITY), *lower_tiers],
        positive_fresh_for=options.fresh_for,
        negative_fresh_for=2 * options.fresh_for,
        tier_fresh_for=dict.fromkeys((1, 2), (LOWER_TIER_FRESH_FOR, LOWER_TIER_FRESH_FOR)),
    )


def _workload(options: DemoOptions, board: Board) -> tuple[BurstResult, RestartResult]:
    """Run the three phases in a temporary directory for the file tier."""
    with tempfile.TemporaryDirectory(prefix="daramjwee-demo-") as directory:
        return _phases(options, board, directory)


def _phases(options: DemoOptions, board: Board, directory: str) -> tuple[BurstResult, RestartResult]:
    """Run the three phases against caches sharing tier 2 and the file tier's ``directory``."""
    origin = SyntheticOrigin(board)
    remote = FaultyStore(dj.MemStore(), latency=REMOTE_LATENCY)
    lower_tiers: list[dj.Store] = [dj.FileStore(directory, capacity=TIER1_CAPACITY), remote]
    first_seconds = options.duration * FIRST_PHASE_SHARE
    first_requests, rest_requests = _split_requests(options.requests)
    with _new_cache(options, lower_tiers) as cache:
        board.attach(cache, f"1/3 stampede: {BURST_CALLERS} threads miss {BURST_KEY} at once")
        burst = _burst(cache, origin, board)
        board.set_phase(f"2/3 traffic: Zipf mix of {len(KEYS)} keys from {CLIENT_THREADS} threads")
        _traffic(cache, origin, board, Budget(first_seconds, first_requests), options.seed)
    board.event("restart: new Cache, empty tier 0, tier 1 reopened from its directory, same tier 2")
    lower_tiers = [dj.FileStore(directory, capacity=TIER1_CAPACITY), remote]
    with _new_cache(options, lower_tiers) as cache:
        board.attach(cache, "3/3 restart: empty tier 0, tiers 1-2 serve and promote")
        _traffic(cache, origin, board, Budget(options.duration - first_seconds, rest_requests), options.seed + 1)
    stats = cache.stats()
    restart = RestartResult(
        lower_tier_hits=sum(tier.hits for tier in stats.tiers[1:]),
        promotions=sum(tier.promotions for tier in stats.tiers),
    )
    return burst, restart


def _split_requests(requests: int | None) -> tuple[int | None, int | None]:
    """Split a request budget (``None``: unlimited) between the traffic and restart phases."""
    if requests is None:
        return None, None
    first = round(requests * FIRST_PHASE_SHARE)
    return first, requests - first


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of a sorted, non-empty sequence."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _milliseconds(seconds: float) -> str:
    """``seconds`` as milliseconds, with two decimals below 1 ms."""
    milliseconds = seconds * 1000
    return f"{milliseconds:.2f} ms" if milliseconds < 1 else f"{milliseconds:.1f} ms"


def _sources_table(snapshot: Snapshot) -> Table:
    """Requests and latency percentiles per source."""
    total = sum(len(samples) for samples in snapshot.latencies.values())
    table = Table(title="who served each request", box=box.SIMPLE_HEAD, title_justify="left", show_edge=False)
    table.add_column("source")
    table.add_column("store / meaning")
    for name in ("requests", "share", "p50", "p99"):
        table.add_column(name, justify="right")
    for source in SOURCES:
        samples = snapshot.latencies[source]
        share = f"{100 * len(samples) / total:.0f}%" if total else "-"
        p50, p99 = (_milliseconds(_percentile(samples, q)) for q in (0.5, 0.99)) if samples else ("-", "-")
        table.add_row(source, SOURCE_LABELS[source], str(len(samples)), share, p50, p99)
    return table


def _counters_table(counters: Counter[str]) -> Table:
    """The ``cache.stats()`` counters in two pairs of columns."""
    table = Table(
        title="cache.stats(), both caches", box=None, title_justify="left", show_header=False, show_edge=False
    )
    for _pair in range(2):
        table.add_column()
        table.add_column(justify="right")
    half = (len(COUNTER_NAMES) + 1) // 2
    for left, right in zip(COUNTER_NAMES[:half], COUNTER_NAMES[half:], strict=False):
        table.add_row(left, str(counters[left]), right, str(counters[right]))
    return table


def _legend() -> Table:
    """What each row and counter means, in one line each."""
    table = Table(title="what the rows mean", box=None, title_justify="left", show_header=False, show_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for name, meaning in LEGEND:
        table.add_row(name, meaning)
    return table


def _dashboard(snapshot: Snapshot) -> RenderableType:
    """The live view: phase, sources, counters and the recent events."""
    return Group(
        Text(f"daramjwee demo · {snapshot.elapsed:4.1f}s · phase {snapshot.phase}", style="bold"),
        Text(),
        _sources_table(snapshot),
        Text(),
        _counters_table(snapshot.counters),
        Panel(Text("\n".join(snapshot.events)), title="recent events", title_align="left", height=EVENT_LINES + 2),
    )


def _summary(snapshot: Snapshot, options: DemoOptions, burst: BurstResult, restart: RestartResult) -> RenderableType:
    """The final report: sources, counters, what they mean, the stampede and restart results, and a verdict."""
    requests = sum(len(samples) for samples in snapshot.latencies.values())
    return Group(
        Text(
            f"daramjwee demo: 3 tiers in front of a slow origin; {requests} requests in {snapshot.elapsed:.1f}s "
            f"(tier 0 fresh for {options.fresh_for:g}s, seed {options.seed})",
            style="bold",
        ),
        Text(),
        _sources_table(snapshot),
        Text(),
        _counters_table(snapshot.counters),
        Text(),
        _legend(),
        Text(),
        Text(
            f"stampede: {BURST_CALLERS} concurrent misses on {BURST_KEY} → {burst.origin_fetches} origin fetch, "
            f"{burst.coalesced_waiters} coalesced waiters ({burst.coalesced_responses} in the coalesced row)"
        ),
        Text(
            f"restart: with an empty tier 0, tiers 1-2 served {restart.lower_tier_hits} hits "
            f"and {restart.promotions} promotions refilled the faster tiers"
        ),
        _verdict(burst),
    )


def _verdict(burst: BurstResult) -> Text:
    """One line: did the stampede cause exactly one origin fetch?"""
    if burst.origin_fetches == 1:
        return Text(f"verdict: OK, {BURST_CALLERS} concurrent misses caused exactly 1 origin fetch", style="bold green")
    return Text(
        f"verdict: FAILED, {BURST_CALLERS} concurrent misses caused {burst.origin_fetches} origin fetches",
        style="bold red",
    )


@contextlib.contextmanager
def _live_view(console: Console, board: Board) -> Iterator[None]:
    """Show the board live on an interactive terminal; show nothing elsewhere (pipes, CI)."""
    if not console.is_interactive:
        yield
        return
    with Live(console=console, get_renderable=lambda: _dashboard(board.snapshot()), transient=True):
        yield


def play(options: DemoOptions, console: Console | None = None) -> DemoResult:
    """Run the demo, live on an interactive ``console``; print its summary there and return what it did."""
    console = console or Console()
    board = Board()
    with _live_view(console, board):
        burst, restart = _workload(options, board)
    snapshot = board.snapshot()
    console.print(_summary(snapshot, options, burst, restart), soft_wrap=True)
    requests = {source: len(samples) for source, samples in snapshot.latencies.items()}
    return DemoResult(requests, burst, restart, snapshot.counters)


def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    """Run the demo and print its summary; return 0 if the stampede caused exactly one origin fetch."""
    return 0 if play(options, console).ok else 1
