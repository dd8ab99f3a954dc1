"""S3-FIFO: small/main/ghost queues, 2-bit frequencies, bounded eviction scans."""

from __future__ import annotations

from _policy_ops import apply, drain, filled, operations
from hypothesis import given, settings

from daramjwee.policy import S3FIFO


def test_without_hits_it_is_fifo() -> None:
    assert drain(filled(S3FIFO(), *"abcd")) == ["a", "b", "c", "d"]


def test_hit_keys_move_to_main_and_outlive_one_hit_wonders() -> None:
    policy = filled(S3FIFO(), *"abcde")
    policy.access("a")
    policy.access("a")
    policy.access("b")
    # a and b move to main (frequency reset); c, d, e were never hit and go first, oldest first.
    assert drain(policy) == ["c", "d", "e", "a", "b"]


def test_main_reinserts_a_hit_key_with_its_frequency_decreased() -> None:
    policy = filled(S3FIFO(), *"abc")
    for key in "abc":
        policy.access(key)
    policy.insert("d", 1)
    # a, b, c move to main; d (small, not hit) is evicted.
    assert policy.evict() == "d"
    policy.access("a")
    # a has frequency 1: reinserted behind c with frequency 0, so b goes first.
    assert drain(policy) == ["b", "c", "a"]


def test_a_frequency_counts_at_most_three_hits() -> None:
    policy = filled(S3FIFO(), *"ab")
    policy.access("a")
    policy.access("b")
    policy.insert("x", 1)
    assert policy.evict() == "x"  # a and b move to main
    for _ in range(10):
        policy.access("a")  # capped at 3
    policy.access("b")
    policy.access("b")
    # a: 3 -> reinserted 3 times; b: 2 -> reinserted twice: b reaches 0 first.
    assert drain(policy) == ["b", "a"]


def test_small_queue_takes_evictions_only_while_it_holds_a_tenth_of_the_bytes() -> None:
    policy = S3FIFO()
    policy.insert("m", 100)
    policy.access("m")
    policy.insert("s", 5)
    # Small holds m and s (105 bytes, all of it): m was hit and moves to main; then small holds
    # 5 of 105 bytes, under 10%, so the eviction takes main's oldest, m (frequency 0 after the move).
    assert policy.evict() == "m"
    policy.insert("t", 20)
    assert policy.evict() == "s"


def test_ghost_sends_a_returning_key_to_main() -> None:
    policy = filled(S3FIFO(), "a", "b")
    policy.access("a")
    assert policy.evict() == "b"  # a moved to main; b evicted into the ghost
    policy.insert("b", 1)  # back from the ghost: into main, behind a
    policy.insert("c", 1)  # small
    # Small (c) holds a third of the bytes: it goes first; then main in FIFO order.
    assert drain(policy) == ["c", "a", "b"]


def test_a_key_not_in_the_ghost_goes_to_small() -> None:
    policy = filled(S3FIFO(), "a", "b")
    policy.access("a")
    assert policy.evict() == "b"
    policy.insert("c", 1)
    policy.insert("d", 1)
    # c, d are new (small); a is in main.  Small holds 2 of 3 bytes: its oldest goes first.
    assert drain(policy) == ["c", "d", "a"]


def test_ghost_holds_at_most_as_many_keys_as_main() -> None:
    policy = filled(S3FIFO(), "m", "x", "y")
    policy.access("m")
    assert policy.evict() == "x"  # m to main (1 key); x to the ghost
    assert policy.evict() == "y"  # y to the ghost, which forgets x to stay at one key
    policy.insert("x", 1)  # forgotten: small again
    policy.insert("y", 1)  # remembered: main, behind m
    assert drain(policy) == ["x", "m", "y"]


def test_remove_forgets_a_key_in_either_queue_and_is_not_a_ghost() -> None:
    policy = filled(S3FIFO(), "a", "b", "c")
    policy.access("a")
    assert policy.evict() == "b"  # a in main, c in small
    policy.remove("a")
    policy.remove("c")
    policy.remove("never")
    assert len(policy) == 0
    policy.insert("a", 1)
    policy.insert("z", 1)
    assert drain(policy) == ["a", "z"]  # a went to small: remove does not make a ghost


def test_an_all_hot_main_terminates_after_the_frequencies_run_out() -> None:
    policy = filled(S3FIFO(scan_limit=10**9), *(f"k{index}" for index in range(10)))
    for index in range(10):
        policy.access(f"k{index}")
    assert policy.evict() == "k0"  # all move to main with frequency 0; k0 is the oldest
    for _ in range(3):
        for index in range(1, 10):
            policy.access(f"k{index}")
    # Every key at frequency 3: three passes decrease them all, then k1 is evicted.
    assert policy.evict() == "k1"


def test_scan_limit_falls_back_to_fifo_order_in_main() -> None:
    policy = filled(S3FIFO(scan_limit=5), *(f"k{index}" for index in range(10)))
    for index in range(10):
        policy.access(f"k{index}")
    # Five promotions to main, then the limit: small's oldest (k5) goes whatever its frequency.
    assert policy.evict() == "k5"
    for _ in range(3):
        for index in range(10):
            if index != 5:
                policy.access(f"k{index}")
    # Small holds k6..k9 (4 of 9 bytes): four promotions, one decrement of k0 (now main's newest),
    # and the limit is reached: main's oldest, k1, goes in FIFO order whatever its frequency.
    assert policy.evict() == "k1"


def test_bounded_scan_on_a_large_all_hot_population() -> None:
    keys = [f"k{index}" for index in range(50_000)]
    policy = filled(S3FIFO(), *keys)
    for _ in range(3):
        for key in keys:
            policy.access(key)
    # 512 promotions, then small's oldest in FIFO order: one eviction looks at 513 keys, not 150 000.
    assert policy.evict() == "k512"
    assert len(policy) == len(keys) - 1


@settings(max_examples=100, deadline=None)
@given(ops=operations(keys="abcdef", max_size=9, length=80))
def test_queue_bytes_and_ghost_bound_stay_exact(ops: list[tuple[str, str, int]]) -> None:
    policy = S3FIFO(scan_limit=3)
    held: set[str] = set()
    for operation in ops:
        apply(policy, operation, held)
        assert policy._small_bytes == sum(policy._small.values())
        assert policy._main_bytes == sum(policy._main.values())
        assert set(policy._small) | set(policy._main) == set(policy._frequency) == held
        assert len(policy._ghost) <= len(policy._main)
        assert all(0 <= count <= 3 for count in policy._frequency.values())
