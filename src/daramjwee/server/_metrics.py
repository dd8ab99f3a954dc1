"""Request metrics and the Prometheus text exposition (format 0.0.4) served at ``/metrics``.

Pure: counting and rendering only, no I/O.  :class:`RequestMetrics` counts what the
server saw per request; :meth:`RequestMetrics.render` adds the cache's own counters
from a :class:`~daramjwee.CacheStats` snapshot and returns the whole page.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import threading
from collections.abc import Iterable, Sequence

from .. import CacheStats, TierStats

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_BUCKETS",
    "METHODS",
    "OUTCOMES",
    "HistogramSnapshot",
    "LatencyHistogram",
    "RequestMetrics",
]

#: The ``Content-Type`` of the exposition :meth:`RequestMetrics.render` returns.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Upper bounds (seconds) of the latency buckets, ``+Inf`` implied.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
#: Every outcome a request is counted under.
OUTCOMES: tuple[str, ...] = (
    "hit",
    "miss",
    "stale",
    "revalidated",
    "negative",
    "error",
    "not_modified",
    "pass",
    "other",
)
#: Methods counted under their own name; any other is counted as ``"OTHER"``.
METHODS: frozenset[str] = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})
_PREFIX = "daramjwee_"


def _format_value(value: float) -> str:
    """A sample value or ``le`` bound as Prometheus reads it: ints plain, floats by ``repr``, ``+Inf``/``NaN``."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _escape_label(value: str) -> str:
    """Escape a label value: backslash, double quote and newline (text format 0.0.4)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    """Escape ``# HELP`` text: backslash and newline (text format 0.0.4)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    body = ",".join(f'{name}="{_escape_label(value)}"' for name, value in pairs)
    return "{" + body + "}" if body else ""


def _family(lines: list[str], name: str, kind: str, help_text: str) -> None:
    lines.append(f"# HELP {name} {_escape_help(help_text)}")
    lines.append(f"# TYPE {name} {kind}")


@dataclasses.dataclass(frozen=True, slots=True)
class HistogramSnapshot:
    """A consistent copy of a :class:`LatencyHistogram`.

    ``cumulative[i]`` counts observations ``<= buckets[i]``; ``count`` (every
    observation, the ``+Inf`` bucket) is ``>= cumulative[-1]``; ``sum`` is in seconds.
    """

    buckets: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    sum: float


class LatencyHistogram:
    """A thread-safe histogram of durations in seconds over fixed buckets.

    ``buckets`` are the finite upper bounds, strictly increasing (``+Inf`` is implied);
    an observation lands in the first bucket whose bound is ``>=`` it, as Prometheus'
    ``le`` ("less than or equal") requires.  :meth:`snapshot` returns cumulative
    counts taken under the same lock as :meth:`observe`, so a snapshot is never torn.
    ``lock`` is that lock (a new one by default): :class:`RequestMetrics` shares
    its own with its histograms, and counts in them while it holds it.
    """

    __slots__ = ("_buckets", "_counts", "_lock", "_sum")

    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS, *, lock: threading.Lock | None = None) -> None:
        bounds = tuple(float(bound) for bound in buckets)
        if not bounds:
            raise ValueError("histogram buckets must name at least one finite upper bound, such as (0.1, 1.0)")
        if not all(math.isfinite(bound) for bound in bounds):
            raise ValueError(f"histogram buckets must be finite (+Inf is implied), got {bounds!r}")
        if any(low >= high for low, high in itertools.pairwise(bounds)):
            raise ValueError(f"histogram buckets must be strictly increasing, got {bounds!r}")
        self._buckets = bounds
        self._counts = [0] * (len(bounds) + 1)  # per bucket, not cumulative; the last is (buckets[-1], +Inf)
        self._sum = 0.0
        self._lock = threading.Lock() if lock is None else lock

    @property
    def buckets(self) -> tuple[float, ...]:
        """The finite upper bounds, in seconds."""
        return self._buckets

    def observe(self, seconds: float) -> None:
        """Count one duration; ``seconds`` must be a number ``>= 0`` (not NaN), else :class:`ValueError`."""
        if not seconds >= 0:  # also catches NaN
            raise ValueError(f"a duration must be >= 0 seconds, got {seconds!r}; measure with time.monotonic()")
        index = bisect.bisect_left(self._buckets, seconds)
        with self._lock:
            self._count(index, seconds)

    def _count(self, index: int, seconds: float) -> None:
        """Count ``seconds`` (valid) in bucket ``index``; the caller holds :attr:`_lock`."""
        self._counts[index] += 1
        self._sum += seconds

    def snapshot(self) -> HistogramSnapshot:
        """Return the current counts, cumulative, as one consistent :class:`HistogramSnapshot`."""
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> HistogramSnapshot:
        """:meth:`snapshot`; the caller holds :attr:`_lock`."""
        counts = list(self._counts)
        total = self._sum
        cumulative: list[int] = []
        running = 0
        for count in counts:
            running += count
            cumulative.append(running)
        return HistogramSnapshot(self._buckets, tuple(cumulative[:-1]), cumulative[-1], total)


class RequestMetrics:
    """What the server counts per request, and the ``/metrics`` page.

    Thread-safe: :meth:`observe` and :meth:`render` may run concurrently from any
    thread; a render sees every observation either entirely or not at all, so the
    request counter, the histograms and their ``_count``/``+Inf`` agree on one page.
    """

    __slots__ = ("_histograms", "_lock", "_requests", "_series")

    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, int, str], int] = {}
        # One lock for the counter and the histograms: a page sees a request in both or in neither.
        self._histograms = {outcome: LatencyHistogram(buckets, lock=self._lock) for outcome in OUTCOMES}
        self._series: dict[tuple[str, int, str], tuple[tuple[str, int, str], LatencyHistogram]] = {}
        """Checked arguments of :meth:`observe` (for the methods of :data:`METHODS` only, so bounded): their series."""

    def observe(self, *, method: str, status: int, outcome: str, seconds: float) -> None:
        """Count one finished request.

        ``outcome`` must be one of :data:`OUTCOMES` and ``status`` an HTTP status
        (100-599), else :class:`ValueError`.  A ``method`` outside :data:`METHODS`
        (compared case-sensitively, as HTTP does) is counted as ``"OTHER"``: the client
        chooses it, and every distinct label value is a new series.  ``seconds`` is the
        request's duration, as for :meth:`LatencyHistogram.observe`.
        """
        checked = self._series.get((method, status, outcome)) if type(status) is int else None
        if checked is None:
            checked = self._check(method, status, outcome)
        if not seconds >= 0:
            raise ValueError(f"a duration must be >= 0 seconds, got {seconds!r}; measure with time.monotonic()")
        series, histogram = checked
        index = bisect.bisect_left(histogram.buckets, seconds)
        with self._lock:
            self._requests[series] = self._requests.get(series, 0) + 1
            histogram._count(index, seconds)

    def _check(self, method: str, status: int, outcome: str) -> tuple[tuple[str, int, str], LatencyHistogram]:
        """The series and histogram of a request; :class:`ValueError` for an unknown outcome or an invalid status."""
        histogram = self._histograms.get(outcome)
        if histogram is None:
            raise ValueError(f"unknown request outcome {outcome!r}; use one of {', '.join(OUTCOMES)}")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status code between 100 and 599, got {status!r}")
        if method not in METHODS:
            return ("OTHER", status, outcome), histogram
        checked = self._series[(method, status, outcome)] = ((method, status, outcome), histogram)
        return checked

    def render(self, stats: CacheStats, *, tier_names: Sequence[str]) -> str:
        """Return the ``/metrics`` page in Prometheus text format 0.0.4 (see :data:`CONTENT_TYPE`).

        ``tier_names[i]`` is the ``store`` label of ``stats.tiers[i]`` (such as its class
        name); the lengths must match, else :class:`ValueError`.  Families, in this order:

        - ``daramjwee_requests_total{method,status,outcome}`` (counter), series sorted
          by method, status, outcome;
        - ``daramjwee_request_duration_seconds`` (histogram) with one ``outcome`` series
          for each of :data:`OUTCOMES` (in that order, even at zero): cumulative
          ``_bucket{outcome,le}`` ending in ``le="+Inf"``, then ``_sum`` and ``_count``;
        - ``daramjwee_tier_<field>_total{tier,store}`` (counter) for each ``int`` field
          of :class:`~daramjwee.TierStats` (hits, misses, errors, promotions), tiers in
          order (``tier`` is the index);
        - ``daramjwee_<field>_total`` (counter, no labels) for each ``int`` field of
          ``type(stats)`` (:class:`~daramjwee.CacheStats`).

        Fields are read with :func:`dataclasses.fields` in declaration order and kept
        when annotated ``int``, so a new counter appears without code changes.

        Label values are escaped (backslash, double quote, newline); the page ends
        with a newline.
        """
        if len(tier_names) != len(stats.tiers):
            raise ValueError(
                f"tier_names has {len(tier_names)} names but stats has {len(stats.tiers)} tiers; pass one name per tier"
            )
        with self._lock:
            requests = sorted(self._requests.items())
            histograms = [(outcome, self._histograms[outcome]._snapshot()) for outcome in OUTCOMES]

        lines: list[str] = []
        name = f"{_PREFIX}requests_total"
        _family(lines, name, "counter", "HTTP requests answered, by method, status and cache outcome.")
        for (method, status, outcome), count in requests:
            labels = _labels((("method", method), ("status", str(status)), ("outcome", outcome)))
            lines.append(f"{name}{labels} {count}")

        name = f"{_PREFIX}request_duration_seconds"
        _family(lines, name, "histogram", "Time from request to the end of the response body, by cache outcome.")
        for outcome, snapshot in histograms:
            bounds = (*snapshot.buckets, math.inf)
            counts = (*snapshot.cumulative, snapshot.count)
            for bound, count in zip(bounds, counts, strict=True):
                labels = _labels((("outcome", outcome), ("le", _format_value(bound))))
                lines.append(f"{name}_bucket{labels} {count}")
            labels = _labels((("outcome", outcome),))
            lines.append(f"{name}_sum{labels} {_format_value(snapshot.sum)}")
            lines.append(f"{name}_count{labels} {snapshot.count}")

        for field in _int_fields(TierStats):
            name = f"{_PREFIX}tier_{field}_total"
            _family(lines, name, "counter", f"Per-tier {field.replace('_', ' ')} (TierStats.{field}).")
            for index, (store, tier) in enumerate(zip(tier_names, stats.tiers, strict=True)):
                lines.append(f"{name}{_labels((('tier', str(index)), ('store', store)))} {getattr(tier, field)}")

        for field in _int_fields(type(stats)):
            name = f"{_PREFIX}{field}_total"
            _family(lines, name, "counter", f"Cache-wide {field.replace('_', ' ')} (CacheStats.{field}).")
            lines.append(f"{name} {getattr(stats, field)}")
        return "\n".join(lines) + "\n"


def _int_fields(cls: type[CacheStats | TierStats]) -> list[str]:
    """Names of the ``int`` fields of a dataclass, in declaration order (annotations may be strings)."""
    return [field.name for field in dataclasses.fields(cls) if field.type in (int, "int")]
