"""Unit tests of ``daramjwee.policy`` (SPEC §5 eviction policies)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daramjwee.policy import LRU, Policy, make_policy


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


def test_make_policy_by_name_returns_a_fresh_instance() -> None:
    first, second = make_policy("lru"), make_policy("lru")
    assert isinstance(first, LRU)
    assert first is not second


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


def test_make_policy_rejects_a_policy_class_instead_of_an_instance() -> None:
    with pytest.raises(TypeError, match="policy"):
        make_policy(LRU)  # type: ignore[arg-type]
