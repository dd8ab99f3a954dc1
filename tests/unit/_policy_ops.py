"""Driving an eviction policy with generated operations, the way a store would (shared by the policy tests)."""

from __future__ import annotations

from typing import TypeVar

from hypothesis import strategies as st

from daramjwee.policy import Policy

P = TypeVar("P", bound=Policy)

Operation = tuple[str, str, int]


def operations(keys: str = "abcdefgh", max_size: int = 50, length: int = 120) -> st.SearchStrategy[list[Operation]]:
    """Lists of (op, key, size) with op one of insert, access, remove, evict."""
    return st.lists(
        st.tuples(
            st.sampled_from(["insert", "access", "remove", "evict"]),
            st.sampled_from(keys),
            st.integers(min_value=0, max_value=max_size),
        ),
        max_size=length,
    )


def apply(policy: Policy, operation: Operation, held: set[str]) -> None:
    """Apply one operation as a store would and keep ``held`` (the keys the store holds) in step.

    A store inserts only keys it does not hold, reports hits only of held keys,
    and asks for a victim only while it holds something; the victim must be held.
    """
    op, key, size = operation
    if op == "insert" and key not in held:
        policy.insert(key, size)
        held.add(key)
    elif op == "access" and key in held:
        policy.access(key)
    elif op == "remove":
        policy.remove(key)
        held.discard(key)
    elif op == "evict" and held:
        victim = policy.evict()
        assert victim in held
        held.remove(victim)


def filled(policy: P, *keys: str) -> P:
    """``policy`` after inserting ``keys`` in order, one byte each."""
    for key in keys:
        policy.insert(key, 1)
    return policy


def drain(policy: Policy) -> list[str]:
    """Every remaining victim, in eviction order."""
    return [policy.evict() for _ in range(len(policy))]  # type: ignore[arg-type]
