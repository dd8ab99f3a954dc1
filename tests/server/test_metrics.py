"""Unit tests of ``daramjwee.server._metrics``: request metrics and the Prometheus text page."""

from __future__ import annotations

import dataclasses
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

import daramjwee as dj
from daramjwee._stats import CacheStats, TierStats
from daramjwee.server._metrics import (
    DEFAULT_BUCKETS,
    OUTCOMES,
    LatencyHistogram,
    RequestMetrics,
    _escape_help,
    _escape_label,
)

# --- a strict parser of text format 0.0.4 ----------------------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_HELP = re.compile(rf"# HELP ({_NAME}) (.*)")
_TYPE = re.compile(rf"# TYPE ({_NAME}) (counter|gauge|histogram|summary|untyped)")
_SAMPLE = re.compile(rf"({_NAME})(\{{.*\}})? (\S+)")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}

Labels = tuple[tuple[str, str], ...]


@dataclasses.dataclass
class Family:
    name: str
    help: str
    kind: str
    samples: dict[tuple[str, Labels], float] = dataclasses.field(default_factory=dict)

    def value(self, sample: str, **labels: str) -> float:
        return self.samples[(sample, tuple(sorted(labels.items())))]

    def series(self, sample: str) -> Iterator[tuple[dict[str, str], float]]:
        for (name, labels), value in self.samples.items():
            if name == sample:
                yield dict(labels), value


def _unescape(text: str, allowed: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            assert escaped is not None, f"dangling escape in {text!r}"
            assert escaped in allowed, f"bad escape in {text!r}"
            out.append(_ESCAPES[escaped])
        else:
            assert char != "\n"
            out.append(char)
    return "".join(out)


def _parse_labels(text: str) -> Labels:
    """Parse ``{a="x",b="y"}`` strictly: names, quoted values with only \\\\, \\" and \\n escapes."""
    assert text.startswith("{"), text
    assert text.endswith("}"), text
    body, labels, position = text[1:-1], [], 0
    while position < len(body):
        name = _LABEL_NAME.match(body, position)
        assert name is not None, f"bad label name in {text!r}"
        position = name.end()
        assert body[position : position + 2] == '="', f"bad label in {text!r}"
        position += 2
        start = position
        while body[position] != '"':
            position += 2 if body[position] == "\\" else 1
        labels.append((name.group(), _unescape(body[start:position], '\\"n')))
        position += 1
        if position < len(body):
            assert body[position] == ",", f"labels not separated by ',' in {text!r}"
            position += 1
            assert position < len(body), f"trailing ',' in {text!r}"
    names = [name for name, _ in labels]
    assert len(set(names)) == len(names), f"repeated label in {text!r}"
    return tuple(sorted(labels))


def _parse_value(text: str) -> float:
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    assert re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", text), f"bad value {text!r}"
    return float(text)


def parse(page: str) -> dict[str, Family]:
    """Parse an exposition, asserting every line has the right shape and families are contiguous."""
    assert page.endswith("\n")
    assert not page.endswith("\n\n")
    families: dict[str, Family] = {}
    current: Family | None = None
    pending_help: tuple[str, str] | None = None
    for line in page[:-1].split("\n"):
        if line.startswith("#"):
            help_match, type_match = _HELP.fullmatch(line), _TYPE.fullmatch(line)
            assert help_match or type_match, f"bad comment line {line!r}"
            if help_match:
                assert pending_help is None
                pending_help = (help_match.group(1), _unescape(help_match.group(2), "\\n"))
                continue
            assert type_match is not None
            name, kind = type_match.groups()
            assert name not in families, f"family {name} declared twice"
            assert pending_help is not None, f"TYPE of {name} without a HELP"
            assert pending_help[0] == name, f"TYPE of {name} after the HELP of {pending_help[0]}"
            current = families[name] = Family(name, pending_help[1], kind)
            pending_help = None
            continue
        match = _SAMPLE.fullmatch(line)
        assert match, f"bad sample line {line!r}"
        sample, label_text, value_text = match.groups()
        assert current is not None, f"sample before any family: {line!r}"
        assert pending_help is None, f"sample between HELP and TYPE: {line!r}"
        suffixes = ("_bucket", "_sum", "_count") if current.kind == "histogram" else ("",)
        assert sample in {current.name + suffix for suffix in suffixes}, f"{sample} outside its family"
        labels = _parse_labels(label_text) if label_text else ()
        key = (sample, labels)
        assert key not in current.samples, f"duplicate series {line!r}"
        current.samples[key] = _parse_value(value_text)
    assert pending_help is None
    return families


def check_histogram(family: Family) -> dict[str, tuple[list[tuple[float, float]], float, float]]:
    """Check every series of a histogram; return ``{outcome: (buckets, sum, count)}``."""
    assert family.kind == "histogram"
    result = {}
    outcomes = {labels["outcome"] for labels, _ in family.series(family.name + "_count")}
    for outcome in outcomes:
        buckets = sorted(
            (_parse_value(labels["le"]), value)
            for labels, value in family.series(family.name + "_bucket")
            if labels["outcome"] == outcome
        )
        assert buckets[-1][0] == math.inf
        counts = [count for _, count in buckets]
        assert counts == sorted(counts), f"buckets of {outcome} not cumulative: {counts}"
        count = family.value(family.name + "_count", outcome=outcome)
        assert count == buckets[-1][1]
        total = family.value(family.name + "_sum", outcome=outcome)
        assert total >= 0
        result[outcome] = (buckets, total, count)
    return result


def _stats(tiers: int = 2, **counters: int) -> CacheStats:
    return CacheStats(
        tuple(TierStats(hits=10 * i + 1, misses=10 * i + 2, errors=i, promotions=i * 3) for i in range(tiers)),
        **counters,
    )


# --- the page --------------------------------------------------------------------------------------


def test_empty_metrics_render_every_family_from_a_real_cache() -> None:
    cache = dj.Cache(stores=[dj.MemStore()])
    try:
        stats = cache.stats()
    finally:
        cache.close()
    families = parse(RequestMetrics().render(stats, tier_names=["MemStore"]))
    assert families["daramjwee_requests_total"].kind == "counter"
    assert families["daramjwee_requests_total"].samples == {}
    histograms = check_histogram(families["daramjwee_request_duration_seconds"])
    assert sorted(histograms) == sorted(OUTCOMES)
    assert all(count == 0 for _, _, count in histograms.values())
    for field in ("hits", "misses", "errors", "promotions"):
        family = families[f"daramjwee_tier_{field}_total"]
        assert family.kind == "counter"
        assert family.value(family.name, tier="0", store="MemStore") == 0
    counters = [field.name for field in dataclasses.fields(CacheStats) if field.name != "tiers"]
    assert counters  # origin_fetches, ..., fanouts_failed
    for field in counters:
        family = families[f"daramjwee_{field}_total"]
        assert family.kind == "counter"
        assert family.value(family.name) == 0


def test_cache_counters_and_tiers_carry_their_values() -> None:
    counters = {field.name: 100 + index for index, field in enumerate(dataclasses.fields(CacheStats)[1:])}
    families = parse(RequestMetrics().render(_stats(3, **counters), tier_names=["MemStore", "FileStore", "RedisStore"]))
    for name, value in counters.items():
        assert families[f"daramjwee_{name}_total"].value(f"daramjwee_{name}_total") == value
    hits = families["daramjwee_tier_hits_total"]
    assert [(labels["tier"], labels["store"], value) for labels, value in hits.series(hits.name)] == [
        ("0", "MemStore", 1),
        ("1", "FileStore", 11),
        ("2", "RedisStore", 21),
    ]
    assert (
        families["daramjwee_tier_promotions_total"].value(
            "daramjwee_tier_promotions_total", tier="2", store="RedisStore"
        )
        == 6
    )


def test_a_new_int_counter_appears_and_non_int_fields_are_skipped() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class MoreStats(CacheStats):
        widgets: int = 7
        label: str = "not a counter"
        ratio: float = 0.5

    families = parse(RequestMetrics().render(MoreStats(()), tier_names=[]))
    assert families["daramjwee_widgets_total"].value("daramjwee_widgets_total") == 7
    assert not {"daramjwee_label_total", "daramjwee_ratio_total", "daramjwee_tiers_total"} & families.keys()
    assert families["daramjwee_tier_hits_total"].samples == {}  # declared even with no tiers


def test_requests_are_counted_by_method_status_and_outcome() -> None:
    metrics = RequestMetrics()
    for method, status, outcome in [
        ("GET", 200, "hit"),
        ("GET", 200, "hit"),
        ("HEAD", 200, "miss"),
        ("GET", 304, "not_modified"),
        ("GET", 404, "negative"),
        ("GET", 502, "error"),
        ("BREW", 405, "other"),
        ("get", 405, "other"),
    ]:
        metrics.observe(method=method, status=status, outcome=outcome, seconds=0.01)
    family = parse(metrics.render(_stats(0), tier_names=[]))["daramjwee_requests_total"]
    assert sorted(
        (labels["method"], labels["status"], labels["outcome"], value) for labels, value in family.series(family.name)
    ) == [
        ("GET", "200", "hit", 2),
        ("GET", "304", "not_modified", 1),
        ("GET", "404", "negative", 1),
        ("GET", "502", "error", 1),
        ("HEAD", "200", "miss", 1),
        ("OTHER", "405", "other", 2),
    ]


def test_histogram_buckets_are_cumulative_with_inclusive_bounds() -> None:
    metrics = RequestMetrics()
    durations = [0.0, 0.0005, 0.0006, 0.005, 0.0051, 1.0, 9.99, 10.0, 10.01, 3600.0]
    for seconds in durations:
        metrics.observe(method="GET", status=200, outcome="miss", seconds=seconds)
    metrics.observe(method="GET", status=200, outcome="hit", seconds=0.0001)
    page = metrics.render(_stats(0), tier_names=[])
    histograms = check_histogram(parse(page)["daramjwee_request_duration_seconds"])
    buckets, total, count = histograms["miss"]
    assert [bound for bound, _ in buckets] == [*DEFAULT_BUCKETS, math.inf]
    assert dict(buckets) == {bound: sum(d <= bound for d in durations) for bound in [*DEFAULT_BUCKETS, math.inf]}
    assert count == len(durations)
    assert total == pytest.approx(sum(durations))
    assert histograms["hit"][2] == 1
    assert histograms["stale"][2] == 0
    assert 'daramjwee_request_duration_seconds_bucket{outcome="miss",le="+Inf"} 10\n' in page
    assert 'daramjwee_request_duration_seconds_count{outcome="miss"} 10\n' in page


def test_label_values_are_escaped() -> None:
    assert _escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert _escape_help("a\\b\nc") == "a\\\\b\\nc"
    weird = ["back\\slash", 'quo"te', "new\nline", 'all\\"\n\\n', 'caf\u00e9 {x="1"},']
    page = RequestMetrics().render(_stats(len(weird)), tier_names=weird)
    assert 'store="back\\\\slash"' in page
    assert 'store="quo\\"te"' in page
    assert 'store="new\\nline"' in page
    family = parse(page)["daramjwee_tier_misses_total"]
    assert [labels["store"] for labels, _ in family.series(family.name)] == weird


def test_rendering_is_deterministic_whatever_the_order_of_observations() -> None:
    observations = [
        (method, status, outcome)
        for method in ("HEAD", "GET")
        for status in (404, 200, 304)
        for outcome in ("other", "hit", "miss")
    ]
    pages = []
    for seed in range(3):
        shuffled = observations[:]
        random.Random(seed).shuffle(shuffled)
        metrics = RequestMetrics()
        for method, status, outcome in shuffled:
            metrics.observe(method=method, status=status, outcome=outcome, seconds=0.5)
        pages.append(metrics.render(_stats(2), tier_names=["a", "b"]))
        assert pages[-1] == metrics.render(_stats(2), tier_names=["a", "b"])
    assert pages[0] == pages[1] == pages[2]
    lines = [line for line in pages[0].splitlines() if line.startswith("daramjwee_requests_total{")]
    assert lines[0] == 'daramjwee_requests_total{method="GET",status="200",outcome="hit"} 1'
    assert lines[-1] == 'daramjwee_requests_total{method="HEAD",status="404",outcome="other"} 1'


def test_family_order() -> None:
    page = RequestMetrics().render(_stats(1), tier_names=["MemStore"])
    names = [line.split()[2] for line in page.splitlines() if line.startswith("# TYPE")]
    counters = [field.name for field in dataclasses.fields(CacheStats) if field.name != "tiers"]
    assert names == [
        "daramjwee_requests_total",
        "daramjwee_request_duration_seconds",
        "daramjwee_tier_hits_total",
        "daramjwee_tier_misses_total",
        "daramjwee_tier_errors_total",
        "daramjwee_tier_promotions_total",
        *(f"daramjwee_{name}_total" for name in counters),
    ]


# --- validation ------------------------------------------------------------------------------------


def test_observe_validates_its_arguments() -> None:
    metrics = RequestMetrics()
    with pytest.raises(ValueError, match="unknown request outcome 'cached'; use one of hit, miss"):
        metrics.observe(method="GET", status=200, outcome="cached", seconds=0.1)
    for status in (99, 600, True):
        with pytest.raises(ValueError, match="status must be an HTTP status code"):
            metrics.observe(method="GET", status=status, outcome="hit", seconds=0.1)
    for seconds in (-0.001, math.nan):
        with pytest.raises(ValueError, match="must be >= 0 seconds"):
            metrics.observe(method="GET", status=200, outcome="hit", seconds=seconds)
    family = parse(metrics.render(_stats(0), tier_names=[]))["daramjwee_requests_total"]
    assert family.samples == {}  # nothing half-counted


def test_render_needs_one_name_per_tier() -> None:
    with pytest.raises(ValueError, match="tier_names has 1 names but stats has 2 tiers"):
        RequestMetrics().render(_stats(2), tier_names=["MemStore"])


def test_latency_histogram_on_its_own() -> None:
    histogram = LatencyHistogram((0.1, 1))
    assert histogram.buckets == (0.1, 1.0)
    for seconds in (0.05, 0.1, 0.5, 2, 2):
        histogram.observe(seconds)
    snapshot = histogram.snapshot()
    assert snapshot.cumulative == (2, 3)
    assert snapshot.count == 5
    assert snapshot.sum == pytest.approx(4.65)
    assert LatencyHistogram().buckets == DEFAULT_BUCKETS
    with pytest.raises(ValueError, match="must be >= 0"):
        histogram.observe(-1)


@pytest.mark.parametrize(
    ("buckets", "message"),
    [
        ((), "at least one"),
        ((1, 1), "strictly increasing"),
        ((2, 1), "strictly increasing"),
        ((1, math.inf), "finite"),
        ((math.nan,), "finite"),
    ],
)
def test_latency_histogram_validates_buckets(buckets: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LatencyHistogram(buckets)


def test_custom_buckets_render_their_le_labels() -> None:
    metrics = RequestMetrics(buckets=(0.25, 3))
    metrics.observe(method="GET", status=200, outcome="hit", seconds=1)
    family = parse(metrics.render(_stats(0), tier_names=[]))["daramjwee_request_duration_seconds"]
    assert family.value(family.name + "_bucket", outcome="hit", le="0.25") == 0
    assert family.value(family.name + "_bucket", outcome="hit", le="3.0") == 1
    assert family.value(family.name + "_bucket", outcome="hit", le="+Inf") == 1


# --- concurrency -----------------------------------------------------------------------------------


def test_concurrent_observations_never_show_an_inconsistent_page() -> None:
    metrics = RequestMetrics()
    threads_count, per_thread = 6, 5000
    start = threading.Barrier(threads_count + 1)
    expected: Counter[str] = Counter()
    expected_lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        mine: Counter[str] = Counter()
        start.wait()
        for _ in range(per_thread):
            outcome = rng.choice(OUTCOMES)
            metrics.observe(method="GET", status=200, outcome=outcome, seconds=rng.choice((0.0001, 0.003, 0.2, 20.0)))
            mine[outcome] += 1
        with expected_lock:
            expected.update(mine)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(threads_count)]
    for thread in threads:
        thread.start()
    start.wait()
    previous = dict.fromkeys(OUTCOMES, 0.0)
    renders = 0
    midway = False  # whether some render saw part, not all, of the observations
    while any(thread.is_alive() for thread in threads) or renders == 0:
        families = parse(metrics.render(_stats(1), tier_names=["MemStore"]))
        histograms = check_histogram(families["daramjwee_request_duration_seconds"])
        requests = families["daramjwee_requests_total"]
        by_outcome: dict[str, float] = dict.fromkeys(OUTCOMES, 0.0)
        for labels, value in requests.series(requests.name):
            by_outcome[labels["outcome"]] += value
        for outcome, (_, _, count) in histograms.items():
            assert by_outcome[outcome] == count  # the counter and the histogram agree on one page
            assert count >= previous[outcome]  # and never go backwards
            previous[outcome] = count
        midway = midway or 0 < sum(previous.values()) < threads_count * per_thread
        renders += 1
        time.sleep(0.001)  # let the workers have the GIL too
    for thread in threads:
        thread.join()
    histograms = check_histogram(
        parse(metrics.render(_stats(1), tier_names=["MemStore"]))["daramjwee_request_duration_seconds"]
    )
    assert {outcome: int(count) for outcome, (_, _, count) in histograms.items()} == {o: expected[o] for o in OUTCOMES}
    assert sum(expected.values()) == threads_count * per_thread
    assert renders > 1
    assert midway, "no render overlapped the observations; the test checked nothing concurrent"
