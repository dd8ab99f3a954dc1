"""Unit tests of ``daramjwee._stats`` (``cache.stats()``)."""

from __future__ import annotations

import dataclasses
import itertools
import threading

import pytest

import daramjwee as dj
from daramjwee._stats import CacheStats, Stat, StatsRecorder, TierStat, TierStats

REQUIRED_COUNTERS = {
    "origin_fetches",
    "negative_hits",
    "stale_hits",
    "refreshes_scheduled",
    "refreshes_completed",
    "refreshes_failed",
    "refreshes_rejected",
    "coalesced_waiters",
    "fills_published",
    "fills_aborted",
    "fanouts",
}


def _cache_counters() -> list[str]:
    return [field.name for field in dataclasses.fields(CacheStats) if field.name != "tiers"]


def test_public_names_are_exported() -> None:
    assert dj.CacheStats is CacheStats
    assert dj.TierStats is TierStats


def test_every_counter_named_by_the_spec_exists() -> None:
    assert set(_cache_counters()) >= REQUIRED_COUNTERS
    assert {field.name for field in dataclasses.fields(TierStats)} == {"hits", "misses", "errors", "promotions"}


@pytest.mark.parametrize("tiers", [0, 1, 3])
def test_new_recorder_snapshots_zero_with_one_entry_per_tier(tiers: int) -> None:
    snapshot = StatsRecorder(tiers).snapshot()
    assert snapshot.tiers == (TierStats(),) * tiers
    assert all(getattr(snapshot, name) == 0 for name in _cache_counters())


def test_add_counts_with_default_and_explicit_amounts() -> None:
    recorder = StatsRecorder(1)
    recorder.add(Stat.ORIGIN_FETCHES)
    recorder.add(Stat.ORIGIN_FETCHES)
    recorder.add(Stat.COALESCED_WAITERS, 5)
    snapshot = recorder.snapshot()
    assert snapshot.origin_fetches == 2
    assert snapshot.coalesced_waiters == 5
    assert snapshot.stale_hits == 0


def test_tier_counters_are_per_tier() -> None:
    recorder = StatsRecorder(3)
    recorder.tier(0, TierStat.HITS)
    recorder.tier(0, TierStat.HITS)
    recorder.tier(2, TierStat.MISSES)
    recorder.tier(1, TierStat.PROMOTIONS)
    recorder.tier(2, TierStat.ERRORS)
    assert recorder.snapshot().tiers == (
        TierStats(hits=2),
        TierStats(promotions=1),
        TierStats(misses=1, errors=1),
    )


def test_counters_are_the_fields_of_the_snapshots_in_order() -> None:
    assert [member.name.lower() for member in Stat] == _cache_counters()
    assert [member.name.lower() for member in TierStat] == [field.name for field in dataclasses.fields(TierStats)]


def test_each_counter_counts_its_own_field() -> None:
    recorder = StatsRecorder(2)
    for amount, counter in enumerate(Stat, start=1):
        recorder.add(counter, amount)
    for counter in TierStat:
        for _ in range(counter + 1):
            recorder.tier(1, counter)
    snapshot = recorder.snapshot()
    assert [getattr(snapshot, name) for name in _cache_counters()] == list(range(1, len(Stat) + 1))
    assert snapshot.tiers == (TierStats(), TierStats(hits=1, misses=2, errors=3, promotions=4))


def test_unknown_counter_names_are_rejected() -> None:
    recorder = StatsRecorder(1)
    with pytest.raises(KeyError):
        Stat["NO_SUCH_COUNTER"]
    with pytest.raises(KeyError):
        TierStat["NO_SUCH_COUNTER"]
    with pytest.raises(KeyError):
        Stat["TIERS"]
    with pytest.raises(TypeError):
        recorder.add("origin_fetches")  # type: ignore[arg-type]  # a name is not a counter
    with pytest.raises(TypeError):
        recorder.tier(0, "hits")  # type: ignore[arg-type]


def test_unknown_tier_is_rejected() -> None:
    with pytest.raises(IndexError):
        StatsRecorder(2).tier(2, TierStat.HITS)


def test_snapshot_is_a_detached_frozen_copy() -> None:
    recorder = StatsRecorder(1)
    recorder.add(Stat.FANOUTS)
    recorder.tier(0, TierStat.HITS)
    snapshot = recorder.snapshot()
    recorder.add(Stat.FANOUTS)
    recorder.tier(0, TierStat.HITS)
    assert snapshot.fanouts == 1
    assert snapshot.tiers[0].hits == 1
    assert recorder.snapshot().fanouts == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.fanouts = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.tiers[0].hits = 5  # type: ignore[misc]
    assert isinstance(snapshot.tiers, tuple)


def test_snapshots_compare_and_hash_by_value() -> None:
    first, second = StatsRecorder(2), StatsRecorder(2)
    for recorder in (first, second):
        recorder.add(Stat.STALE_HITS, 3)
        recorder.tier(1, TierStat.ERRORS)
    assert first.snapshot() == second.snapshot()
    assert hash(first.snapshot()) == hash(second.snapshot())


def test_as_dict_is_plain_and_complete() -> None:
    recorder = StatsRecorder(2)
    recorder.add(Stat.NEGATIVE_HITS, 4)
    recorder.tier(1, TierStat.HITS)
    result = recorder.snapshot().as_dict()
    assert result["negative_hits"] == 4
    assert result["tiers"] == [
        {"hits": 0, "misses": 0, "errors": 0, "promotions": 0},
        {"hits": 1, "misses": 0, "errors": 0, "promotions": 0},
    ]
    assert set(result) == {"tiers", *_cache_counters()}
    assert all(type(value) is int for name, value in result.items() if name != "tiers")


def test_as_dict_is_a_fresh_copy() -> None:
    snapshot = StatsRecorder(1).snapshot()
    result = snapshot.as_dict()
    result["fanouts"] = 99
    result["tiers"][0]["hits"] = 99  # type: ignore[index]
    assert snapshot.fanouts == 0
    assert snapshot.tiers[0].hits == 0
    assert snapshot.as_dict()["fanouts"] == 0


@pytest.mark.usefixtures("_frequent_thread_switches")
def test_concurrent_counting_loses_nothing_and_snapshots_never_go_backwards() -> None:
    recorder = StatsRecorder(2)
    threads_count, rounds = 8, 2000
    start = threading.Barrier(threads_count + 1)
    done = threading.Event()
    snapshots: list[CacheStats] = []

    def counter() -> None:
        start.wait()
        for _ in range(rounds):
            recorder.add(Stat.ORIGIN_FETCHES)
            recorder.add(Stat.FILLS_PUBLISHED, 2)
            recorder.tier(1, TierStat.HITS)

    def observer() -> None:
        start.wait()
        while not done.is_set():
            snapshots.append(recorder.snapshot())

    threads = [threading.Thread(target=counter) for _ in range(threads_count)]
    watcher = threading.Thread(target=observer)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    watcher.join()
    final = recorder.snapshot()
    assert final.origin_fetches == threads_count * rounds
    assert final.fills_published == 2 * threads_count * rounds
    assert final.tiers[1].hits == threads_count * rounds
    assert final.tiers[0] == TierStats()
    for earlier, later in itertools.pairwise(snapshots):
        assert earlier.origin_fetches <= later.origin_fetches
        assert earlier.tiers[1].hits <= later.tiers[1].hits
    assert all(snapshot.fills_published % 2 == 0 for snapshot in snapshots)
