"""SIEVE: visited bits, a hand that survives evicting the key it points at, bounded scans."""

from __future__ import annotations

from _policy_ops import drain, filled

from daramjwee.policy import Sieve


def test_without_hits_it_is_fifo() -> None:
    assert drain(filled(Sieve(), *"abcd")) == ["a", "b", "c", "d"]


def test_the_hand_skips_visited_keys_and_clears_them() -> None:
    policy = filled(Sieve(), *"abcd")
    policy.access("b")
    policy.access("c")
    assert policy.evict() == "a"
    assert policy.evict() == "d"  # b and c were visited: passed over, bits cleared
    policy.insert("e", 1)
    # The hand went past the head with d and wrapped to the tail (b).
    assert drain(policy) == ["b", "c", "e"]


def test_a_key_inserted_ahead_of_the_hand_is_reached_in_the_same_sweep() -> None:
    policy = filled(Sieve(), *"abc")
    policy.access("a")
    assert policy.evict() == "b"  # hand now on c
    policy.insert("d", 1)
    policy.access("c")
    assert policy.evict() == "d"  # c passed over; d, the head, is not visited
    assert drain(policy) == ["a", "c"]


def test_the_hand_survives_evicting_the_last_key_of_the_queue() -> None:
    policy = filled(Sieve(), *"abc")
    policy.access("a")
    policy.access("b")
    assert policy.evict() == "c"  # the head, under the hand: the hand wraps to the tail
    policy.insert("d", 1)
    assert drain(policy) == ["a", "b", "d"]


def test_the_hand_survives_evicting_the_only_key() -> None:
    policy = filled(Sieve(), "a")
    assert policy.evict() == "a"
    policy.insert("b", 1)
    policy.insert("c", 1)
    policy.access("b")
    assert drain(policy) == ["c", "b"]


def test_the_hand_survives_removing_the_key_it_points_at() -> None:
    policy = filled(Sieve(), *"abc")
    policy.access("a")
    assert policy.evict() == "b"  # hand on c
    policy.remove("c")  # the hand moves past the head: back to the tail
    policy.insert("d", 1)
    assert drain(policy) == ["a", "d"]


def test_remove_forgets_the_visited_bit() -> None:
    policy = filled(Sieve(), "a", "b")
    policy.access("a")
    policy.remove("a")
    policy.remove("missing")
    policy.insert("a", 1)  # a fresh insert is not visited
    assert drain(policy) == ["b", "a"]


def test_an_all_hot_queue_is_swept_once_then_evicts_the_tail() -> None:
    keys = [f"k{index}" for index in range(100)]
    policy = filled(Sieve(), *keys)
    for key in keys:
        policy.access(key)
    assert policy.evict() == "k0"
    assert policy.evict() == "k1"


def test_scan_limit_evicts_the_key_under_the_hand() -> None:
    policy = filled(Sieve(scan_limit=3), *"abcde")
    for key in "abcde":
        policy.access(key)
    assert policy.evict() == "d"  # a, b, c passed over; the limit is reached on d
    assert policy.evict() == "a"  # e passed over, wrap, a was cleared


def test_bounded_scan_on_a_large_all_hot_population() -> None:
    keys = [f"k{index}" for index in range(50_000)]
    policy = filled(Sieve(), *keys)
    for key in keys:
        policy.access(key)
    # One eviction passes over at most 512 keys, not 50 000.
    assert policy.evict() == "k512"
    assert len(policy) == len(keys) - 1
