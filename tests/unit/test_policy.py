"""Unit tests of ``daramjwee.policy`` (eviction policies)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from _policy_ops import apply, operations
from hypothesis import given, settings
from hypothesis import strategies as st

from daramjwee import Metadata
from daramjwee._memory import MemoryTable
from daramjwee.policy import LRU, POLICIES, S3FIFO, Policy, Sieve, TinyLFU, make_policy

# Every policy, plus the bounded-scan variants whose fallback paths a tiny scan limit exercises.
FACTORIES: dict[str, Callable[[], Policy]] = {
    "lru": LRU,
    "s3fifo": S3FIFO,
    "sieve": Sieve,
    "tinylfu": TinyLFU,
    "s3fifo-scan2": lambda: S3FIFO(scan_limit=2),
    "sieve-scan1": lambda: Sieve(scan_limit=1),
}


def _drain(policy: LRU) -> list[str]:
    victims = []
    while len(policy):
        victims.append(policy.evict())
    return victims


def test_lru_is_a_policy() -> None:
    assert isinstance(LRU(), Policy)


def test_lru_evicts_in_insertion_order_without_accesses() -> None:
    policy = LRU()
    for key in "abcd":
        policy.insert(key, 1)
    assert _drain(policy) == ["a", "b", "c", "d"]


def test_lru_access_moves_a_key_to_the_back() -> None:
    policy = LRU()
    for key in "abcd":
        policy.insert(key, 1)
    policy.access("a")
    policy.access("c")
    assert _drain(policy) == ["b", "d", "a", "c"]


def test_lru_evicted_key_is_forgotten() -> None:
    policy = LRU()
    policy.insert("a", 1)
    policy.insert("b", 1)
    assert policy.evict() == "a"
    assert len(policy) == 1
    assert policy.evict() == "b"
    assert len(policy) == 0


def test_lru_evict_from_empty_raises_key_error() -> None:
    policy = LRU()
    with pytest.raises(KeyError):
        policy.evict()
    policy.insert("a", 1)
    policy.evict()
    with pytest.raises(KeyError):
        policy.evict()


def test_lru_remove_forgets_a_key_and_tolerates_missing_ones() -> None:
    policy = LRU()
    for key in "abc":
        policy.insert(key, 1)
    policy.remove("b")
    policy.remove("b")
    policy.remove("never-inserted")
    assert _drain(policy) == ["a", "c"]


def test_lru_reinsert_after_remove_goes_to_the_back() -> None:
    policy = LRU()
    for key in "abc":
        policy.insert(key, 1)
    policy.remove("a")
    policy.insert("a", 1)
    assert _drain(policy) == ["b", "c", "a"]


@given(ops=st.lists(st.tuples(st.sampled_from(["insert", "access", "remove", "evict"]), st.sampled_from("abcde"))))
def test_lru_matches_a_recency_list_model(ops: list[tuple[str, str]]) -> None:
    policy = LRU()
    model: list[str] = []  # oldest first
    for op, key in ops:
        if op == "insert" and key not in model:
            policy.insert(key, 1)
            model.append(key)
        elif op == "access" and key in model:
            policy.access(key)
            model.remove(key)
            model.append(key)
        elif op == "remove":
            policy.remove(key)
            if key in model:
                model.remove(key)
        elif op == "evict" and model:
            assert policy.evict() == model.pop(0)
        assert len(policy) == len(model)
    assert _drain(policy) == model


@pytest.mark.parametrize(("name", "cls"), [("lru", LRU), ("s3fifo", S3FIFO), ("sieve", Sieve), ("tinylfu", TinyLFU)])
def test_make_policy_by_name_returns_a_fresh_instance(name: str, cls: type) -> None:
    first, second = make_policy(name), make_policy(name)
    assert isinstance(first, cls)
    assert isinstance(first, Policy)
    assert first is not second


def test_policies_lists_every_name_make_policy_accepts() -> None:
    assert POLICIES == ("lru", "s3fifo", "sieve", "tinylfu")


def test_make_policy_passes_an_instance_through() -> None:
    policy = LRU()
    assert make_policy(policy) is policy


def test_make_policy_accepts_a_duck_typed_policy() -> None:
    class Custom:
        def insert(self, key: str, size: int) -> None: ...

        def access(self, key: str) -> None: ...

        def remove(self, key: str) -> None: ...

        def evict(self) -> str:
            return ""

    custom = Custom()
    assert make_policy(custom) is custom


@pytest.mark.parametrize("name", ["LRU ", "lfu", "", "fifo"])
def test_make_policy_rejects_unknown_names_listing_the_known_ones(name: str) -> None:
    with pytest.raises(ValueError, match="unknown eviction policy") as info:
        make_policy(name)
    assert repr(name) in str(info.value)
    assert "lru" in str(info.value)


@pytest.mark.parametrize("bad", [None, 1, object(), b"lru"])
def test_make_policy_rejects_non_policies(bad: object) -> None:
    with pytest.raises(TypeError, match="policy"):
        make_policy(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [LRU, S3FIFO, Sieve, TinyLFU])
def test_make_policy_rejects_a_policy_class_instead_of_an_instance(cls: type) -> None:
    with pytest.raises(TypeError, match="call it"):
        make_policy(cls)  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [S3FIFO, Sieve])
def test_scan_limit_must_be_positive(cls: Callable[..., Policy]) -> None:
    with pytest.raises(ValueError, match="scan_limit"):
        cls(scan_limit=0)


# --- what every policy owes a store -----------------------------------------------------------------


@pytest.mark.parametrize("name", FACTORIES)
@settings(max_examples=150, deadline=None)
@given(ops=operations())
def test_policy_keeps_the_store_side_invariants(name: str, ops: list[tuple[str, str, int]]) -> None:
    """A victim is always held (never a removed or evicted key); forgotten keys stay forgotten; len matches."""
    policy = FACTORIES[name]()
    held: set[str] = set()
    for operation in ops:
        if operation[0] == "evict" and not held:
            with pytest.raises(KeyError):
                policy.evict()
        apply(policy, operation, held)
        assert len(policy) == len(held)  # type: ignore[arg-type]
    while held:
        victim = policy.evict()
        assert victim in held
        held.remove(victim)
    with pytest.raises(KeyError):
        policy.evict()


@pytest.mark.parametrize("name", FACTORIES)
def test_every_policy_drains_a_large_all_hot_population(name: str) -> None:
    policy = FACTORIES[name]()
    keys = [f"k{index}" for index in range(5000)]
    for key in keys:
        policy.insert(key, 1)
    for _ in range(3):
        for key in keys:
            policy.access(key)
    assert sorted(policy.evict() for _ in keys) == sorted(keys)


@pytest.mark.parametrize("name", POLICIES)
@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["put", "put", "get", "delete"]), st.sampled_from("abcdefghij"), st.integers(0, 40)),
        max_size=80,
    )
)
def test_memory_table_keeps_used_exact_with_every_policy(name: str, ops: list[tuple[str, str, int]]) -> None:
    table = MemoryTable(60, make_policy(name))
    model: dict[str, int] = {}
    meta = Metadata()
    for op, key, size in ops:
        if op == "put":
            stored = table.put(key, bytes(size), meta)
            model.pop(key, None)
            if stored:
                model[key] = size
            # The policy may have evicted other keys: keep what the table still has.
            model = {held: length for held, length in model.items() if held in table}
        elif op == "get" and key in model:
            assert table.get(key)[0] == bytes(model[key])
        elif op == "delete":
            table.delete(key)
            model.pop(key, None)
        assert table.used == sum(model.values()) <= 60
        assert len(table) == len(model)
        assert all(held in table for held in model)


@pytest.mark.parametrize("name", POLICIES)
def test_memory_table_under_churn_with_every_policy(name: str) -> None:
    rng = random.Random(7)
    table = MemoryTable(10_000, make_policy(name))
    sizes: dict[str, int] = {}
    for _ in range(5000):
        key = f"k{int(rng.paretovariate(1.0)) % 300}"
        if key in table:
            table.get(key)
        else:
            size = rng.randrange(1, 400)
            table.put(key, bytes(size), Metadata())
            sizes[key] = size
        assert table.used == sum(sizes[held] for held in sizes if held in table) <= 10_000
