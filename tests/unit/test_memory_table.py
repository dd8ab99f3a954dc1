"""Unit tests of ``daramjwee._memory.MemoryTable`` with the LRU policy (the table behind MemStore)."""

from __future__ import annotations

import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daramjwee import Metadata, NotFound
from daramjwee._memory import MemoryTable
from daramjwee.policy import LRU

META = Metadata(etag="e", cached_at=1.0)


def _table(capacity: int | None) -> MemoryTable:
    return MemoryTable(capacity, LRU())


def _keys(table: MemoryTable, candidates: str = "abcdefghij") -> list[str]:
    return [key for key in candidates if key in table]


# --- basic operations -------------------------------------------------------------------------------


def test_put_then_get_returns_value_and_metadata() -> None:
    table = _table(100)
    assert table.put("k", b"value", META)
    value, metadata = table.get("k")
    assert value == b"value"
    assert metadata is META
    assert table.stat("k") is META


def test_missing_key_raises_not_found() -> None:
    table = _table(100)
    with pytest.raises(NotFound):
        table.get("missing")
    with pytest.raises(NotFound):
        table.stat("missing")


def test_empty_value_is_stored() -> None:
    table = _table(10)
    assert table.put("k", b"", META)
    assert table.get("k")[0] == b""
    assert table.used == 0
    assert len(table) == 1


def test_capacity_property() -> None:
    assert _table(123).capacity == 123
    assert _table(None).capacity is None


def test_used_counts_value_bytes_only() -> None:
    table = _table(None)
    table.put("a-very-long-key" * 10, b"123", Metadata(etag="x" * 1000, attrs={"a": "b" * 1000}))
    table.put("b", b"4567", META)
    assert table.used == 7
    assert len(table) == 2


def test_replace_updates_size_and_value() -> None:
    table = _table(100)
    table.put("k", b"x" * 40, META)
    table.put("k", b"y" * 10, Metadata(etag="new"))
    assert table.used == 10
    assert len(table) == 1
    assert table.get("k") == (b"y" * 10, Metadata(etag="new"))
    table.put("k", b"z" * 90, META)
    assert table.used == 90


def test_replace_with_a_bigger_value_that_fits_only_without_the_old_one_evicts_nothing_else() -> None:
    table = _table(10)
    table.put("a", b"12345", META)
    table.put("b", b"12345", META)
    table.put("b", b"1234", META)
    assert _keys(table) == ["a", "b"]
    table.put("a", b"123456", META)
    assert _keys(table) == ["a", "b"]
    assert table.used == 10


def test_delete_removes_and_frees() -> None:
    table = _table(100)
    table.put("a", b"123", META)
    table.put("b", b"45", META)
    table.delete("a")
    assert "a" not in table
    assert table.used == 2
    with pytest.raises(NotFound):
        table.get("a")


def test_delete_of_a_missing_key_is_a_no_op() -> None:
    table = _table(100)
    table.put("a", b"123", META)
    table.delete("missing")
    table.delete("missing")
    assert table.used == 3
    assert len(table) == 1


def test_deleted_key_is_not_evicted_later_and_policy_stays_in_sync() -> None:
    table = _table(6)
    table.put("a", b"11", META)
    table.put("b", b"22", META)
    table.delete("a")
    table.put("c", b"33", META)
    table.put("d", b"4444", META)  # must evict "b", the oldest live entry, never the deleted "a"
    assert _keys(table) == ["c", "d"]
    assert table.used == 6


def test_contains_does_not_count_as_an_access() -> None:
    table = _table(4)
    table.put("a", b"12", META)
    table.put("b", b"12", META)
    assert "a" in table
    table.put("c", b"12", META)
    assert _keys(table) == ["b", "c"]


def test_stat_does_not_count_as_an_access() -> None:
    table = _table(4)
    table.put("a", b"12", META)
    table.put("b", b"12", META)
    table.stat("a")
    table.put("c", b"12", META)
    assert _keys(table) == ["b", "c"]


# --- capacity and eviction ----------------------------------------------------------------------------


def test_unbounded_table_never_evicts() -> None:
    table = _table(None)
    for index in range(1000):
        assert table.put(f"k{index}", b"x" * 100, META)
    assert len(table) == 1000
    assert table.used == 100_000


def test_fits() -> None:
    table = _table(10)
    assert table.fits(0)
    assert table.fits(10)
    assert not table.fits(11)
    assert _table(None).fits(10**12)


def test_value_exactly_the_capacity_is_stored_alone() -> None:
    table = _table(10)
    table.put("a", b"1", META)
    assert table.put("b", b"x" * 10, META)
    assert _keys(table) == ["b"]
    assert table.used == 10


def test_too_large_put_returns_false_and_changes_nothing() -> None:
    table = _table(10)
    table.put("a", b"12345", META)
    table.put("b", b"123", META)
    assert not table.put("c", b"x" * 11, META)
    assert _keys(table) == ["a", "b"]
    assert table.used == 8
    assert "c" not in table


def test_too_large_replacement_keeps_the_old_value() -> None:
    table = _table(10)
    table.put("a", b"old", META)
    assert not table.put("a", b"x" * 11, Metadata(etag="new"))
    assert table.get("a") == (b"old", META)
    assert table.used == 3


def test_eviction_is_least_recently_inserted_without_reads() -> None:
    table = _table(6)
    for key in "abc":
        table.put(key, b"12", META)
    table.put("d", b"12", META)
    assert _keys(table) == ["b", "c", "d"]
    table.put("e", b"1234", META)
    assert _keys(table) == ["d", "e"]
    assert table.used == 6


def test_get_makes_a_key_most_recently_used() -> None:
    table = _table(6)
    for key in "abc":
        table.put(key, b"12", META)
    table.get("a")
    table.put("d", b"12", META)
    assert _keys(table) == ["a", "c", "d"]
    table.get("c")
    table.put("e", b"12", META)
    assert _keys(table) == ["c", "d", "e"]  # "a" was read before "c" was, so it became the oldest


def test_replacing_a_key_makes_it_most_recently_used() -> None:
    table = _table(6)
    for key in "abc":
        table.put(key, b"12", META)
    table.put("a", b"12", META)
    table.put("d", b"12", META)
    assert _keys(table) == ["a", "c", "d"]


def test_eviction_frees_as_many_entries_as_needed() -> None:
    table = _table(10)
    for key in "abcde":
        table.put(key, b"12", META)
    table.put("f", b"x" * 7, META)
    assert _keys(table) == ["e", "f"]
    assert table.used == 9


@settings(max_examples=200)
@given(
    capacity=st.integers(min_value=1, max_value=40),
    ops=st.lists(
        st.tuples(st.sampled_from(["put", "get", "delete"]), st.sampled_from("abcdef"), st.integers(0, 50)),
        max_size=80,
    ),
)
def test_matches_an_lru_model(capacity: int, ops: list[tuple[str, str, int]]) -> None:
    table = _table(capacity)
    model: dict[str, int] = {}  # insertion order = recency order, oldest first
    for op, key, size in ops:
        if op == "put":
            stored = table.put(key, bytes(size), META)
            assert stored is (size <= capacity)
            if stored:
                model.pop(key, None)
                while sum(model.values()) + size > capacity:
                    del model[next(iter(model))]
                model[key] = size
        elif op == "get":
            if key in model:
                assert len(table.get(key)[0]) == model[key]
                model[key] = model.pop(key)
            else:
                with pytest.raises(NotFound):
                    table.get(key)
        else:
            table.delete(key)
            model.pop(key, None)
        assert table.used == sum(model.values()) <= capacity
        assert sorted(_keys(table, "abcdef")) == sorted(model)


# --- thread safety --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("_frequent_thread_switches")
def test_concurrent_put_get_delete_keep_accounting_exact() -> None:
    table = _table(2048)
    threads_count, rounds = 8, 3000
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        try:
            for _ in range(rounds):
                key = f"k{rng.randrange(64)}"
                action = rng.random()
                if action < 0.45:
                    size = rng.randrange(0, 300)
                    value = bytes([size % 251]) * size
                    table.put(key, value, Metadata(etag=str(size)))
                elif action < 0.7:
                    try:
                        value, metadata = table.get(key)
                    except NotFound:
                        continue
                    assert len(value) == int(metadata.etag)  # value and metadata never torn apart
                    assert value == bytes([len(value) % 251]) * len(value)
                else:
                    table.delete(key)
        except BaseException as error:
            errors.append(error)
            raise

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    stored = {}
    for index in range(64):
        key = f"k{index}"
        if key in table:
            stored[key] = len(table.get(key)[0])
    assert len(table) == len(stored)
    assert table.used == sum(stored.values())
    assert table.used <= 2048
