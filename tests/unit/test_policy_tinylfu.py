"""W-TinyLFU: window, segmented main, frequency-based admission; its sketch and doorkeeper."""

from __future__ import annotations

import pytest
from _policy_ops import apply, drain, filled, operations
from hypothesis import given, settings
from hypothesis import strategies as st

from daramjwee.policy import TinyLFU
from daramjwee.policy._sketch import CountMinSketch, Doorkeeper, FrequencySketch


def test_admission_rejects_a_one_hit_wonder_against_a_frequent_victim() -> None:
    keys = [f"k{index}" for index in range(20)]
    policy = filled(TinyLFU(), *keys)
    for _ in range(4):
        for key in keys:
            policy.access(key)
    policy.insert("wonder", 1)
    assert policy.evict() == "wonder"  # the newcomer itself: not admitted
    assert len(policy) == 20


def test_a_newcomer_requested_often_enough_is_admitted() -> None:
    keys = [f"k{index}" for index in range(20)]
    policy = filled(TinyLFU(), *keys)
    for key in keys:
        policy.access(key)
    rejected = 0
    while True:
        policy.insert("rising", 1)
        victim = policy.evict()
        if victim != "rising":
            break
        rejected += 1
    assert victim in keys
    assert rejected >= 1  # it had to prove itself: every failed insert counts as a request


def test_tie_rejects_the_candidate_then_main_is_evicted_in_lru_order() -> None:
    policy = filled(TinyLFU(), *"abcd")
    # The window is 1% of the bytes: each newcomer moved on to probation as a candidate, and the
    # candidates of earlier inserts were admitted (the store had room).  d is still pending.
    assert policy.evict() == "d"  # estimate 1 against a's 1: a tie keeps the incumbent
    assert drain(policy) == ["a", "b", "c"]


def test_a_probation_hit_promotes_to_protected_which_is_evicted_last() -> None:
    policy = filled(TinyLFU(), *"abcd")
    policy.access("a")
    assert drain(policy) == ["d", "b", "c", "a"]


def test_protected_holds_at_most_80_percent_of_main_and_demotes_its_oldest() -> None:
    keys = [f"p{index}" for index in range(1, 6)]
    policy = filled(TinyLFU(), *keys)
    for key in keys:
        policy.access(key)  # p5's promotion puts protected at 5 of 5 bytes: p1 is demoted
    assert drain(policy) == ["p1", "p2", "p3", "p4", "p5"]


def test_main_is_evicted_before_the_window() -> None:
    policy = TinyLFU()
    policy.insert("big", 1000)  # more than 1% of the bytes: straight on to probation
    policy.insert("w", 1)  # 1 byte of 1001 stays in the window
    assert policy.evict() == "big"
    assert policy.evict() == "w"


def test_window_hits_keep_a_key_in_the_window() -> None:
    policy = TinyLFU()
    policy.insert("big", 10_000)
    for key in "xyz":
        policy.insert(key, 1)
    policy.access("x")
    assert drain(policy) == ["big", "y", "z", "x"]


def test_remove_forgets_a_pending_candidate() -> None:
    policy = filled(TinyLFU(), "a", "b")
    policy.remove("b")  # b was the pending candidate
    policy.remove("missing")
    assert drain(policy) == ["a"]


def test_the_sketch_grows_with_the_number_of_keys_held() -> None:
    policy = filled(TinyLFU(), *(f"k{index}" for index in range(1000)))
    assert len(policy) == 1000
    assert sorted(drain(policy)) == sorted(f"k{index}" for index in range(1000))


# --- sketch and doorkeeper --------------------------------------------------------------------------


def test_count_min_sketch_counts_saturate_at_15_and_halve() -> None:
    sketch = CountMinSketch(64)
    for _ in range(20):
        sketch.add(12345, 678 | 1)
    assert sketch.estimate(12345, 678 | 1) == 15
    sketch.halve()
    assert sketch.estimate(12345, 678 | 1) == 7
    assert sketch.estimate(999, 1) == 0


@settings(max_examples=50, deadline=None)
@given(keys=st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=200))
def test_count_min_sketch_never_underestimates(keys: list[int]) -> None:
    sketch = CountMinSketch(16)
    for key in keys:
        sketch.add(key & 0xFFFFFFFF, (key >> 32) | 1)
    for key in set(keys):
        assert sketch.estimate(key & 0xFFFFFFFF, (key >> 32) | 1) >= min(keys.count(key), 15)


def test_doorkeeper_remembers_until_cleared() -> None:
    doorkeeper = Doorkeeper(1024)
    assert not doorkeeper.contains(42, 7)
    assert doorkeeper.add(42, 7) is False
    assert doorkeeper.contains(42, 7)
    assert doorkeeper.add(42, 7) is True
    doorkeeper.clear()
    assert not doorkeeper.contains(42, 7)


def test_frequency_sketch_counts_past_the_doorkeeper_and_ages_by_halving() -> None:
    frequency = FrequencySketch(1)  # a sample of 10 records
    assert frequency.estimate("a") == 0
    frequency.record("a")
    assert frequency.estimate("a") == 1  # the doorkeeper only
    for _ in range(8):
        frequency.record("a")
    assert frequency.estimate("a") == 9  # doorkeeper + 8 in the sketch
    frequency.record("a")  # the 10th record: sketch 9 -> 4, doorkeeper cleared
    assert frequency.estimate("a") == 4
    for _ in range(4):
        frequency.record("a")  # the record count was halved to 5: no reset until 10 again
    assert frequency.estimate("a") == 1 + 7


def test_frequency_sketch_needs_a_positive_capacity() -> None:
    with pytest.raises(ValueError, match="capacity"):
        FrequencySketch(0)


@settings(max_examples=100, deadline=None)
@given(ops=operations(keys="abcdef", max_size=9, length=80))
def test_segment_bytes_stay_exact_and_candidates_stay_in_probation(ops: list[tuple[str, str, int]]) -> None:
    policy = TinyLFU()
    held: set[str] = set()
    for operation in ops:
        apply(policy, operation, held)
        assert policy._window_bytes == sum(policy._window.values())
        assert policy._probation_bytes == sum(policy._probation.values())
        assert policy._protected_bytes == sum(policy._protected.values())
        assert set(policy._window) | set(policy._probation) | set(policy._protected) == held
        assert set(policy._candidates) <= set(policy._probation)
