"""The hit-ratio simulator: traces, replay and Belady's optimum."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daramjwee.bench._simulate import belady, loop_trace, read_trace, replay, scan_mix_trace, zipf_trace
from daramjwee.policy import LRU, POLICIES, make_policy

# --- traces -----------------------------------------------------------------------------------------


def test_zipf_trace_is_seeded_and_skewed() -> None:
    trace = zipf_trace(100, 5000, 1.1, seed=3)
    assert trace == zipf_trace(100, 5000, 1.1, seed=3)
    assert trace != zipf_trace(100, 5000, 1.1, seed=4)
    assert len(trace) == 5000
    assert set(trace) <= {f"z{index}" for index in range(100)}
    counts = [count for _, count in Counter(trace).most_common()]
    assert counts[0] > 10 * counts[len(counts) // 2]  # the head dominates


def test_zipf_alpha_zero_is_uniform() -> None:
    counts = Counter(zipf_trace(10, 20_000, 0.0, seed=1)).values()
    assert max(counts) < 1.2 * min(counts)


def test_scan_mix_inserts_one_time_scans() -> None:
    trace = scan_mix_trace(50, 1000, 0.9, scan_every=100, scan_length=20, seed=1)
    assert len(trace) == 1000 + 10 * 20
    scans = [key for key in trace if key.startswith("s")]
    assert len(scans) == len(set(scans)) == 200
    assert trace[100:120] == [f"s0-{index}" for index in range(20)]
    assert [key for key in trace if key.startswith("z")] == zipf_trace(50, 1000, 0.9, seed=1)


def test_loop_trace_cycles() -> None:
    assert loop_trace(3, 7) == ["l0", "l1", "l2", "l0", "l1", "l2", "l0"]


@pytest.mark.parametrize(
    "call",
    [
        lambda: zipf_trace(0, 10, 1.0),
        lambda: zipf_trace(10, -1, 1.0),
        lambda: zipf_trace(10, 10, -0.5),
        lambda: scan_mix_trace(10, 10, 1.0, scan_every=0, scan_length=1),
        lambda: loop_trace(0, 10),
        lambda: replay(["a"], LRU(), 0),
        lambda: belady(["a"], 0),
    ],
)
def test_bad_parameters_are_rejected(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=r"need|capacity"):
        call()


def test_read_trace_takes_one_key_per_line(tmp_path: Path) -> None:
    path = tmp_path / "trace.txt"
    path.write_text("a\n  b \n\nc\na\n", encoding="utf-8")
    assert read_trace(path) == ["a", "b", "c", "a"]
    assert read_trace(str(path)) == ["a", "b", "c", "a"]


# --- replay and Belady ------------------------------------------------------------------------------


def test_replay_counts_hits_like_a_store() -> None:
    assert replay(["a", "b", "a", "c", "b", "a"], LRU(), 2) == 1  # only the second a hits
    assert replay(loop_trace(5, 100), LRU(), 4) == 0  # LRU's worst case


@pytest.mark.parametrize("name", POLICIES)
def test_a_cache_as_large_as_the_key_set_only_misses_cold(name: str) -> None:
    trace = zipf_trace(50, 2000, 0.8, seed=2)
    assert replay(trace, make_policy(name), 50) == len(trace) - len(set(trace))


def test_replay_rejects_a_victim_the_cache_does_not_hold() -> None:
    class Liar(LRU):
        def evict(self) -> str:
            super().evict()
            return "never-inserted"

    with pytest.raises(KeyError):
        replay(["a", "b", "c"], Liar(), 1)


def test_belady_known_sequence() -> None:
    # Capacity 2.  c is never requested again: not admitted, so a, b, a all hit.
    assert belady(["a", "b", "c", "a", "b", "a"], 2) == 3
    # c is needed before a: a (the farthest) makes room; c and b hit, a misses.
    assert belady(["a", "b", "c", "c", "b", "a"], 2) == 2
    assert belady(loop_trace(5, 100), 4) > 0


def _brute_force_optimum(trace: Sequence[str], capacity: int) -> int:
    @functools.cache
    def best(position: int, held: frozenset[str]) -> int:
        if position == len(trace):
            return 0
        key = trace[position]
        if key in held:
            return 1 + best(position + 1, held)
        if len(held) < capacity:
            return best(position + 1, held | {key})
        options = [best(position + 1, held)]  # do not admit
        options += [best(position + 1, (held - {out}) | {key}) for out in held]
        return max(options)

    return best(0, frozenset())


@settings(max_examples=60, deadline=None)
@given(trace=st.lists(st.sampled_from("abcde"), max_size=14), capacity=st.integers(1, 3))
def test_belady_is_the_optimum(trace: list[str], capacity: int) -> None:
    assert belady(trace, capacity) == _brute_force_optimum(trace, capacity)


@settings(max_examples=40, deadline=None)
@given(
    trace=st.lists(st.integers(0, 30).map(str), min_size=1, max_size=400),
    capacity=st.integers(1, 12),
)
def test_belady_bounds_every_policy(trace: list[str], capacity: int) -> None:
    optimum = belady(trace, capacity)
    for name in POLICIES:
        assert replay(trace, make_policy(name), capacity) <= optimum
