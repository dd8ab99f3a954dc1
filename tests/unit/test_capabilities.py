"""Unit tests of ``async_capabilities`` / ``capabilities``: the one detection of rule K4's optional abilities."""

from __future__ import annotations

from typing import Any

import pytest

import daramjwee as dj
from daramjwee._async_primitives import async_capabilities
from daramjwee._primitives import Capabilities, capabilities


class _Bare:
    """The five required methods only (their kind does not matter here)."""


class _Everything:
    capacity = 1000
    get_stream_inline = True

    def lookup(self, key: str, /) -> Any:
        raise dj.NotFound(key)

    def peek(self, key: str, /) -> Any:
        raise dj.NotFound(key)

    async def get_range(self, key: str, byte_range: dj.ByteRange, /) -> Any:
        raise dj.NotFound(key)


class _WrongKinds:
    capacity = True  # a bool is not a capacity
    get_stream_inline = 1  # only ``True`` declares it

    async def lookup(self, key: str, /) -> Any:  # a coroutine is not the in-memory lookup
        raise dj.NotFound(key)

    peek = None  # an attribute that is None is absent

    def get_range(self, key: str, byte_range: dj.ByteRange, /) -> Any:  # the sync flavour's
        raise dj.NotFound(key)


def test_a_store_without_optional_abilities_has_none() -> None:
    for detect in (async_capabilities, capabilities):
        assert detect(_Bare()) == Capabilities(None, None, None, None, get_stream_inline=False)


def test_every_ability_is_found_once_as_declared() -> None:
    store = _Everything()
    found = async_capabilities(store)
    assert found.lookup == store.lookup
    assert found.peek == store.peek
    assert found.get_range == store.get_range
    assert found.capacity == 1000
    assert found.get_stream_inline is True
    assert capabilities(store).get_range is None  # a coroutine get_range is the async flavour's


def test_abilities_of_the_wrong_kind_count_as_absent() -> None:
    store = _WrongKinds()
    found = async_capabilities(store)
    assert (found.lookup, found.peek, found.get_range, found.capacity, found.get_stream_inline) == (
        None,
        None,
        None,
        None,
        False,
    )
    assert capabilities(store).get_range == store.get_range


@pytest.mark.parametrize(
    ("store", "detect"), [(dj.MemStore("1KiB"), capabilities), (dj.AsyncMemStore("1KiB"), async_capabilities)]
)
def test_the_memory_stores_offer_lookup_peek_and_capacity(store: Any, detect: Any) -> None:
    found = detect(store)
    assert found.lookup is not None
    assert found.peek is not None
    assert found.capacity == 1024


def test_clear_is_found_only_in_its_flavour() -> None:
    class AsyncClear:
        async def clear(self) -> None: ...

    class SyncClear:
        def clear(self) -> None: ...

    assert async_capabilities(AsyncClear()).clear is not None
    assert capabilities(AsyncClear()).clear is None
    assert capabilities(SyncClear()).clear is not None
    assert async_capabilities(SyncClear()).clear is None
    for store, detect in ((dj.MemStore(), capabilities), (dj.AsyncMemStore(), async_capabilities)):
        assert detect(store).clear is not None
