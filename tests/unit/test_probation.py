"""Unit tests of ``daramjwee._probation.Probation`` (rule P5, promotion probation)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daramjwee._probation import Probation


@pytest.mark.parametrize("size", [0, -1])
def test_size_must_be_at_least_one(size: int) -> None:
    with pytest.raises(ValueError, match="probation"):
        Probation(size)


def test_first_sighting_is_not_admitted() -> None:
    assert not Probation(4).admit("k")


def test_second_sighting_admits() -> None:
    probation = Probation(4)
    probation.admit("k")
    assert probation.admit("k")


def test_admission_forgets_the_key_so_the_third_sighting_starts_over() -> None:
    probation = Probation(4)
    assert [probation.admit("k") for _ in range(5)] == [False, True, False, True, False]


def test_keys_are_tracked_separately() -> None:
    probation = Probation(4)
    assert not probation.admit("a")
    assert not probation.admit("b")
    assert probation.admit("b")
    assert probation.admit("a")


def test_fifo_bound_evicts_the_oldest_key() -> None:
    probation = Probation(2)
    probation.admit("a")
    probation.admit("b")
    probation.admit("c")  # evicts "a"
    assert probation.admit("b")
    assert probation.admit("c")
    assert not probation.admit("a")


def test_size_one_remembers_only_the_last_key() -> None:
    probation = Probation(1)
    probation.admit("a")
    probation.admit("b")
    assert not probation.admit("a")  # "a" was forgotten; now "a" is remembered, "b" forgotten
    assert not probation.admit("b")
    assert probation.admit("b")


def test_eviction_order_is_first_in_not_least_recently_seen() -> None:
    probation = Probation(3)
    for key in ("a", "b", "c"):
        probation.admit(key)
    assert probation.admit("a")  # admitted and forgotten: frees a slot
    probation.admit("d")
    probation.admit("e")  # evicts "b", the oldest remaining
    assert not probation.admit("b")
    assert probation.admit("d")


def test_keys_that_fill_the_memory_exactly_are_all_remembered() -> None:
    probation = Probation(100)
    keys = [f"k{index}" for index in range(100)]
    for key in keys:
        probation.admit(key)
    assert all(probation.admit(key) for key in keys)


@given(size=st.integers(min_value=1, max_value=8), keys=st.lists(st.sampled_from("abcdefghijkl"), max_size=60))
def test_matches_a_bounded_fifo_model(size: int, keys: list[str]) -> None:
    probation = Probation(size)
    remembered: list[str] = []
    for key in keys:
        if key in remembered:
            remembered.remove(key)
            expected = True
        else:
            remembered.append(key)
            if len(remembered) > size:
                remembered.pop(0)
            expected = False
        assert probation.admit(key) is expected


def test_concurrent_sightings_of_one_key_alternate_exactly() -> None:
    probation = Probation(16)
    admitted: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        results = [probation.admit("hot") for _ in range(1001)]
        with lock:
            admitted.extend(results)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted) == 8 * 1001 // 2
