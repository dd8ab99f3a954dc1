"""``StoreConformance`` and ``AsyncStoreConformance``: the store contract (rules K1-K5 of docs/design.md) as tests.

Subclass it in a test module under a name pytest collects and say how to make
a fresh, empty store::

    from daramjwee.testing import StoreConformance

    class TestMyStore(StoreConformance):
        def make_store(self) -> MyStore:
            return MyStore(tempfile.mkdtemp())

For an async store, subclass ``AsyncStoreConformance`` and make ``make_store``
an ``async def``.

Every ``test_*`` method checks one rule of the contract; its docstring states
the rule.  The base class itself is not collected (its name does not start
with ``Test``), and this module does not import pytest.
"""

from __future__ import annotations

import hashlib
import math
import os
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

from ..._async._store import AsyncReader, AsyncSink, AsyncStore
from ..._async_primitives import async_bound_range_getter, async_capabilities, async_run_concurrently, async_sleep
from ..._errors import NotFound
from ..._metadata import Metadata
from ..._ranges import ByteRange

__all__ = ["AsyncStoreConformance"]

_MIB = 1024 * 1024
_CONCURRENCY_TIMEOUT = 60.0
"""Seconds the concurrent scenarios may take before the suite reports a hang."""

_OLD = Metadata(etag="old", cached_at=1.0)
_NEW = Metadata(etag="new", cached_at=2.0)

_METADATA = [
    Metadata(),
    Metadata(etag='W/"v1"', cached_at=1732406400.123456789),
    Metadata(etag="\u00e9t\u00e4g \U0001f43f", cached_at=math.nextafter(1732406400.0, math.inf)),
    Metadata(etag="", is_negative=True, cached_at=0.1),
    Metadata(
        etag='"x"',
        cached_at=2.5e-7,
        attrs={
            "content-type": "text/plain; charset=utf-8",
            "x-\ub2e4\ub78c\uc950": "\ub2e4\ub78c\uc950 \U0001f43f",
            "empty": "",
            "separators": "a\r\nb=c; d:e,f",
            "nul": "a\x00b",
            "long": "v" * 10_000,
        },
    ),
    Metadata(attrs={f"attr-{index}": str(index) for index in range(50)}),
    Metadata(etag='"f"', cached_at=3.0, fresh_for=0.1, stale_while_revalidate=0.0, stale_if_error=86400.5),
    Metadata(cached_at=4.0, fresh_for=0.0, must_revalidate=True),
]
"""Metadata the store must give back exactly (``==``, ``cached_at`` to the last bit)."""

_ODD_KEYS = [
    "../x",
    "../../etc/passwd",
    "/abs",
    "/abs/",
    "a/b",
    "a\\b",
    "a\x00b",
    "k" * 10_000,
    "x" * 255,
    "x" * 256,
    "\ub2e4\ub78c\uc950 \U0001f43f",
    "caf\u00e9",
    "cafe\u0301",
    "key",
    "Key",
    "KEY",
    ".",
    "..",
    " ",
    "\n",
    "tab\tkey",
    "a:b",
    "%2e%2e",
    "con",
    "NUL",
]
"""Keys that stores built on paths, URLs or text protocols get wrong; all distinct."""


def _require(condition: bool, message: str) -> None:
    """Fail the test with ``message`` (an ``AssertionError``, unlike ``assert`` even under ``python -O``)."""
    if not condition:
        raise AssertionError(message)


def _show(value: object) -> str:
    """A short ``repr`` for failure messages (values can be megabytes)."""
    text = repr(value)
    return text if len(text) <= 200 else f"{text[:200]}... ({len(text)} chars)"


async def _expect_failure(action: Callable[[], Awaitable[object]], message: str) -> None:
    """Require ``action`` to raise an ``Exception``."""
    try:
        await action()
    except Exception:
        return
    raise AssertionError(message)


async def _replace_or_delete(store: AsyncStore, key: str, change: str) -> None:
    """Replace ``key``'s value by ``b"new"`` (``change == "replace"``) or delete it, while a reader has it open."""
    if change == "replace":
        await _put(store, key, b"new", _NEW)
    else:
        await store.delete(key)


async def _read_all(reader: AsyncReader, size: int = -1) -> bytes:
    """Read ``reader`` to its end in reads of ``size`` bytes, checking each read's length, then close it."""
    try:
        parts = []
        while chunk := await reader.read(size):
            _require(size < 0 or len(chunk) <= size, f"read({size}) returned {len(chunk)} bytes")
            parts.append(bytes(chunk))
        return b"".join(parts)
    finally:
        await reader.aclose()


async def _entry(store: AsyncStore, key: str, size: int = -1) -> tuple[bytes, Metadata] | None:
    """The value and metadata ``get_stream`` gives for ``key``, or ``None`` when it raises ``NotFound``."""
    try:
        reader, metadata = await store.get_stream(key)
    except NotFound:
        return None
    return await _read_all(reader, size), metadata


async def _stat(store: AsyncStore, key: str) -> Metadata | None:
    """What ``stat`` gives for ``key``, or ``None`` when it raises ``NotFound``."""
    try:
        return await store.stat(key)
    except NotFound:
        return None


async def _assert_entry(store: AsyncStore, key: str, expected: tuple[bytes, Metadata] | None, when: str) -> None:
    """Require ``get_stream`` and ``stat`` of ``key`` both to show ``expected`` (``None``: both raise ``NotFound``)."""
    got = await _entry(store, key)
    _require(got == expected, f"{when}: get_stream({_show(key)}) gave {_show(got)}, expected {_show(expected)}")
    metadata = await _stat(store, key)
    wanted = None if expected is None else expected[1]
    _require(metadata == wanted, f"{when}: stat({_show(key)}) gave {metadata!r}, expected {wanted!r}")


@asynccontextmanager
async def _writing(store: AsyncStore, key: str, metadata: Metadata) -> AsyncIterator[AsyncSink]:
    """A sink of ``key``, aborted if the block raises; the block commits or aborts it otherwise.

    The suite never calls ``abort`` after a successful ``commit`` except in
    the test of that rule, so a store that breaks it fails one test, not all.
    """
    sink = await store.begin_set(key, metadata)
    try:
        yield sink
    except BaseException:
        await sink.abort()
        raise


async def _put(store: AsyncStore, key: str, value: bytes, metadata: Metadata) -> None:
    """Write ``value`` through a sink and commit it."""
    async with _writing(store, key, metadata) as sink:
        await sink.write(value)
        await sink.commit()


async def _write_in_pieces(sink: AsyncSink, value: bytes) -> None:
    """Write ``value`` in 4 KiB pieces, letting other writers run between them."""
    for start in range(0, len(value), 4096):
        await sink.write(value[start : start + 4096])
        await async_sleep(0)


async def _abort_all(sinks: list[AsyncSink]) -> None:
    """Abort every sink, after a failure."""
    for sink in sinks:
        await sink.abort()


def _ranges_of(length: int, chunk: int) -> list[ByteRange]:
    """Ranges that stores with chunks or a first read get wrong: ends, suffixes, empty, past the end, chunk edges."""
    ranges = [
        ByteRange(0),
        ByteRange(0, 1),
        ByteRange(5, 17),
        ByteRange(5, 5),
        ByteRange(length - 1),
        ByteRange(length // 2, length + 1000),
        ByteRange(length),
        ByteRange(length + 100, length + 200),
        ByteRange(-1),
        ByteRange(-length),
        ByteRange(-(length + 10)),
        ByteRange(length // 3, 2 * length // 3),
    ]
    for edge in (chunk, 2 * chunk, 65536, 1 << 20):
        if edge < length:
            ranges += [
                ByteRange(edge - 1, edge + 1),
                ByteRange(edge),
                ByteRange(edge - 3, edge),
                ByteRange(edge, edge + 7),
            ]
    return ranges


class AsyncStoreConformance:
    """The store contract, one ``test_*`` method per rule; subclass it as ``Test...`` to run it on a store.

    Implement :meth:`make_store`; optionally override ``chunk_size``,
    ``large_value_size``, ``memory_bound`` and ``delete_timeout`` (plain class
    attributes).  Each test makes its own store, closes it, and closes every
    reader and finishes every sink it opens.

    The concurrent scenarios run on threads in ``StoreConformance`` and on
    asyncio tasks in the ``Async*`` suite, whose test methods are coroutines:
    run those with an asyncio plugin such as pytest-asyncio
    (``asyncio_mode = "auto"``; in strict mode put
    ``pytestmark = pytest.mark.asyncio`` in the subclass).
    """

    chunk_size: int = 64 * 1024
    """Bytes per ``write`` and per ``read`` when streaming the large value."""

    large_value_size: int = 64 * _MIB
    """Size of the value streamed through the store with bounded memory."""

    delete_timeout: float = 5.0
    """Seconds a ``delete`` may take while a sink of the same key is open."""

    @property
    def memory_bound(self) -> int:
        """Most bytes the large-value test may allocate at once: ``chunk_size`` + 16 MiB.

        A store that keeps values in process memory overrides it to count what it holds.
        """
        return self.chunk_size + 16 * _MIB

    async def make_store(self) -> AsyncStore:
        """A fresh, empty store; called once per test, which closes it.  Override this."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_store()")

    @asynccontextmanager
    async def _opened(self) -> AsyncIterator[AsyncStore]:
        store = await self.make_store()
        try:
            yield store
        finally:
            await store.close()

    async def test_missing_key_is_not_found(self) -> None:
        """``get_stream`` and ``stat`` of a key never written raise ``NotFound``."""
        async with self._opened() as store:
            await _assert_entry(store, "missing", None, "empty store")

    async def test_stat_agrees_with_get_stream(self) -> None:
        """``stat`` gives the metadata ``get_stream`` gives, or both raise ``NotFound``: after set, replace, delete."""
        async with self._opened() as store:
            await _put(store, "k", b"old", _OLD)
            await _assert_entry(store, "k", (b"old", _OLD), "after a set")
            await _put(store, "k", b"new", _NEW)
            await _assert_entry(store, "k", (b"new", _NEW), "after a replace")
            await store.delete("k")
            await _assert_entry(store, "k", None, "after a delete")

    async def test_nothing_is_visible_before_commit(self) -> None:
        """Atomic publish: nothing a sink writes is visible before ``commit``."""
        async with self._opened() as store:
            async with _writing(store, "k", _NEW) as sink:
                await _assert_entry(store, "k", None, "after begin_set")
                await sink.write(b"new ")
                await sink.write(b"value")
                await _assert_entry(store, "k", None, "after writes, before commit")
                await sink.commit()
            await _assert_entry(store, "k", (b"new value", _NEW), "after commit")

    async def test_old_value_stays_readable_until_commit(self) -> None:
        """While a sink of a key is open, readers get the previous value and metadata, complete, until ``commit``."""
        async with self._opened() as store:
            await _put(store, "k", b"old value", _OLD)
            async with _writing(store, "k", _NEW) as sink:
                await _assert_entry(store, "k", (b"old value", _OLD), "after begin_set")
                await sink.write(b"new")
                await _assert_entry(store, "k", (b"old value", _OLD), "after a write, before commit")
                await sink.commit()
            await _assert_entry(store, "k", (b"new", _NEW), "after commit")

    async def test_abort_discards_the_write_and_keeps_the_old_value(self) -> None:
        """``abort`` discards everything the sink wrote: the previous value stays, a new key stays missing."""
        async with self._opened() as store:
            await _put(store, "k", b"old", _OLD)
            for key, before in (("k", (b"old", _OLD)), ("fresh", None)):
                sink = await store.begin_set(key, _NEW)
                try:
                    await sink.write(b"discarded")
                finally:
                    await sink.abort()
                await _assert_entry(store, key, before, "after abort")

    async def test_commit_is_idempotent_and_terminal(self) -> None:
        """A second ``commit`` and a later ``abort`` are no-ops (no error, value kept); a later ``write`` raises."""
        async with self._opened() as store:
            async with _writing(store, "k", _NEW) as sink:
                await sink.write(b"value")
                await sink.commit()
                await sink.commit()
            await _assert_entry(store, "k", (b"value", _NEW), "after a second commit")
            await sink.abort()
            await _assert_entry(store, "k", (b"value", _NEW), "after abort of a committed sink")
            await _expect_failure(lambda: sink.write(b"more"), "write after commit did not raise")
            await _assert_entry(store, "k", (b"value", _NEW), "after a refused write")

    async def test_abort_is_idempotent_and_terminal(self) -> None:
        """A second ``abort`` is a no-op; a later ``write`` raises; a later ``commit`` publishes nothing (may raise)."""
        async with self._opened() as store:
            await _put(store, "k", b"old", _OLD)
            async with _writing(store, "k", _NEW) as sink:
                await sink.write(b"discarded")
                await sink.abort()
            await sink.abort()
            await _expect_failure(lambda: sink.write(b"more"), "write after abort did not raise")
            try:
                await sink.commit()
            except Exception:
                pass
            await _assert_entry(store, "k", (b"old", _OLD), "after commit of an aborted sink")

    async def test_delete_of_a_missing_key_is_not_an_error(self) -> None:
        """``delete`` of a key that was never written, or was already deleted, returns normally."""
        async with self._opened() as store:
            await store.delete("missing")
            await _put(store, "k", b"value", _OLD)
            await store.delete("k")
            await store.delete("k")
            await _assert_entry(store, "k", None, "after deleting twice")

    async def test_delete_does_not_wait_for_an_open_sink(self) -> None:
        """``delete`` finishes within ``delete_timeout`` while a sink of the key is open, and removes the old value.

        What becomes of that sink's later writes and ``commit`` is up to the
        store (it may publish, drop, or refuse them by raising); afterwards the
        key must be consistent: ``NotFound``, or the sink's complete value with
        its metadata — never the deleted value.
        """
        async with self._opened() as store:
            await _put(store, "k", b"old", _OLD)
            async with _writing(store, "k", _NEW) as sink:
                await sink.write(b"new ")
                try:
                    await async_run_concurrently([lambda: store.delete("k")], self.delete_timeout)
                except TimeoutError:
                    raise AssertionError(
                        f"delete did not finish within {self.delete_timeout} s while a sink was open"
                    ) from None
                await _assert_entry(store, "k", None, "after the delete, before the sink finished")
                try:
                    await sink.write(b"value")
                    await sink.commit()
                except Exception:
                    committed = False
                    await sink.abort()
                else:
                    committed = True
            got = await _entry(store, "k")
            allowed = [None, (b"new value", _NEW)] if committed else [None]
            _require(got in allowed, f"after the sink finished (committed={committed}): get_stream gave {_show(got)}")
            await _assert_entry(store, "k", got, "after the sink finished")

    async def test_metadata_round_trips(self) -> None:
        """``get_stream`` and ``stat`` return metadata equal to what ``begin_set`` got.

        That is ``etag`` (any text), ``is_negative``, ``cached_at`` to the
        last bit of the float, and every ``attrs`` pair (Unicode, empty, long,
        with separators or NUL).
        """
        async with self._opened() as store:
            for index, metadata in enumerate(_METADATA):
                await _put(store, f"k{index}", b"", metadata)
            for index, metadata in enumerate(_METADATA):
                await _assert_entry(store, f"k{index}", (b"", metadata), "metadata round trip")

    async def test_empty_value_round_trips(self) -> None:
        """A sink committed without writes, or with only empty writes, stores an empty value (not a miss)."""
        async with self._opened() as store:
            sink = await store.begin_set("none", _NEW)
            await sink.commit()
            await _put(store, "empty", b"", _NEW)
            for key in ("none", "empty"):
                await _assert_entry(store, key, (b"", _NEW), "empty value")

    async def test_every_byte_value_round_trips(self) -> None:
        """Values are opaque bytes: all 256 byte values, line endings and NULs come back unchanged."""
        async with self._opened() as store:
            value = bytes(range(256)) + bytes(range(255, -1, -1)) + b"\r\n\n\r\x00\x00\x1a"
            await _put(store, "k", value, _NEW)
            await _assert_entry(store, "k", (value, _NEW), "binary value")

    async def test_write_copies_the_buffer(self) -> None:
        """``write`` may get a ``bytearray`` or ``memoryview`` the caller reuses afterwards: the store copies it."""
        async with self._opened() as store:
            buffer = bytearray(b"first ")
            async with _writing(store, "k", _NEW) as sink:
                await sink.write(buffer)
                buffer[:] = b"XXXXXX"
                await sink.write(memoryview(buffer)[:0])
                view = memoryview(bytearray(b"second"))
                await sink.write(view)
                view[:] = b"YYYYYY"
                await sink.commit()
            await _assert_entry(store, "k", (b"first second", _NEW), "after reusing the written buffers")

    async def test_odd_keys_round_trip_without_colliding(self) -> None:
        """Any non-empty ``str`` is a key (path-like, NUL, 10 kB, Unicode); case and normalization variants differ."""
        async with self._opened() as store:
            entries = {
                key: (f"value {index}".encode(), Metadata(etag=str(index))) for index, key in enumerate(_ODD_KEYS)
            }
            for key, (value, metadata) in entries.items():
                await _put(store, key, value, metadata)
            for key, entry in entries.items():
                await _assert_entry(store, key, entry, "odd key")
            deleted = _ODD_KEYS[::2]
            for key in deleted:
                await store.delete(key)
            for key, entry in entries.items():
                await _assert_entry(store, key, None if key in deleted else entry, "after deleting every other odd key")

    async def test_reader_chunking(self) -> None:
        """``read(n)`` returns 1 to ``n`` bytes until the end, then empty; ``read(-1)`` returns all the rest.

        Closing a reader is idempotent and may come before the end;
        readers of one key are independent of each other.
        """
        async with self._opened() as store:
            value = bytes(range(256)) * 40
            await _put(store, "k", value, _NEW)
            reader, _ = await store.get_stream("k")
            try:
                head = b""
                for size in (1, 7, 1000):
                    chunk = await reader.read(size)
                    _require(0 < len(chunk) <= size, f"read({size}) before the end returned {len(chunk)} bytes")
                    head += chunk
                rest = await reader.read(-1)
                _require(head + bytes(rest) == value, "read(-1) did not return exactly the rest of the value")
                for size in (10, -1):
                    _require(not await reader.read(size), f"read({size}) at the end returned data")
            finally:
                await reader.aclose()
            await reader.aclose()
            first, _ = await store.get_stream("k")
            try:
                _require(bytes(await first.read(100)) == value[:100], "a reader's first read(100)")
                second, _ = await store.get_stream("k")
                _require(await _read_all(second, 333) == value, "a second reader, read in reads of 333")
                _require(bytes(await first.read(100)) == value[100:200], "the first reader's second read(100)")
            finally:
                await first.aclose()
            await _assert_entry(store, "k", (value, _NEW), "after a reader closed before its end")
            await _put(store, "empty", b"", _NEW)
            reader, _ = await store.get_stream("empty")
            try:
                _require(not await reader.read(5), "read(5) of an empty value returned data")
            finally:
                await reader.aclose()

    async def test_a_reader_that_says_what_remains_says_it_right(self) -> None:
        """A reader's optional ``remaining`` is the count of bytes still to come, before and after every read.

        The cache trusts it to decide which faster tiers a promotion can fill;
        a store whose readers lack it (or say ``None``) passes.
        """
        async with self._opened() as store:
            for length in (0, 1000, 3 * self.chunk_size + 17):
                value = bytes(range(256)) * (length // 256) + bytes(length % 256)
                await _put(store, "k", value, _NEW)
                reader, _ = await store.get_stream("k")
                try:
                    read = 0
                    for size in (1, 999, self.chunk_size, -1, 10):
                        remaining = getattr(reader, "remaining", None)
                        _require(
                            remaining is None or remaining == length - read,
                            f"remaining said {remaining} with {length - read} bytes of {length} to come",
                        )
                        read += len(await reader.read(size))
                    _require(getattr(reader, "remaining", None) in (None, 0), "remaining was not 0 at the end")
                finally:
                    await reader.aclose()

    async def test_open_reader_keeps_its_value_across_replace_and_delete(self) -> None:
        """A reader returns the complete value it opened, even if the key is replaced or deleted while it reads."""
        async with self._opened() as store:
            old = bytes(range(256)) * 256
            for change in ("replace", "delete"):
                await _put(store, "k", old, _OLD)
                reader, metadata = await store.get_stream("k")
                try:
                    head = bytes(await reader.read(1000))
                    await _replace_or_delete(store, "k", change)
                    got = head + await _read_all(reader, 4096)
                finally:
                    await reader.aclose()
                _require(metadata == _OLD, f"get_stream gave metadata {metadata!r}, expected {_OLD!r}")
                _require(
                    got == old, f"a reader open across a {change} returned {len(got)} bytes, not the value it opened"
                )

    async def test_large_value_streams_with_bounded_memory(self) -> None:
        """A ``large_value_size`` value streams in and out in ``chunk_size`` pieces, unchanged, in ``memory_bound``.

        The value is generated and checked chunk by chunk (SHA-256), never
        held whole by the test; ``tracemalloc`` measures the peak allocation.
        """
        size, chunk_size = self.large_value_size, self.chunk_size
        started = not tracemalloc.is_tracing()
        if started:
            tracemalloc.start()
        try:
            async with self._opened() as store:
                baseline = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                written, read = hashlib.sha256(), hashlib.sha256()
                buffer = bytearray(os.urandom(chunk_size))
                async with _writing(store, "large", _NEW) as sink:
                    for offset in range(0, size, chunk_size):
                        buffer[:8] = offset.to_bytes(8, "big")
                        piece = buffer if offset + chunk_size <= size else buffer[: size - offset]
                        written.update(piece)
                        await sink.write(piece)
                    await sink.commit()
                reader, metadata = await store.get_stream("large")
                total = 0
                try:
                    while chunk := await reader.read(chunk_size):
                        _require(len(chunk) <= chunk_size, f"read({chunk_size}) returned {len(chunk)} bytes")
                        read.update(chunk)
                        total += len(chunk)
                finally:
                    await reader.aclose()
                peak = tracemalloc.get_traced_memory()[1] - baseline
        finally:
            if started:
                tracemalloc.stop()
        _require(metadata == _NEW, f"large value: get_stream gave metadata {metadata!r}")
        _require(total == size, f"large value: read {total} bytes of {size}")
        _require(read.digest() == written.digest(), "large value: the bytes read differ from the bytes written")
        _require(
            peak <= self.memory_bound, f"large value: peak allocation {peak} bytes > memory_bound {self.memory_bound}"
        )

    async def test_last_commit_wins_among_concurrent_writers(self) -> None:
        """Several sinks of one key written at once: each ``commit`` publishes exactly that writer's value.

        After each commit, in an order unrelated to when the sinks opened, the
        key holds that writer's complete value and metadata — never a mix.
        """
        async with self._opened() as store:
            values = [bytes([writer]) * 4096 * 8 for writer in range(4)]
            sinks = await async_run_concurrently(
                [partial(store.begin_set, "k", Metadata(etag=str(writer))) for writer in range(4)],
                _CONCURRENCY_TIMEOUT,
            )
            try:
                await async_run_concurrently(
                    [partial(_write_in_pieces, sinks[writer], values[writer]) for writer in range(4)],
                    _CONCURRENCY_TIMEOUT,
                )
                await _assert_entry(store, "k", None, "concurrent writers, before any commit")
                for writer in (2, 0, 3, 1):
                    await sinks[writer].commit()
                    entry = (values[writer], Metadata(etag=str(writer)))
                    await _assert_entry(store, "k", entry, f"after writer {writer} committed")
            except BaseException:
                await _abort_all(sinks)
                raise

    async def test_concurrent_commits_leave_one_complete_value(self) -> None:
        """Sinks of one key committed at the same moment leave exactly one writer's complete value and metadata."""
        async with self._opened() as store:
            values = {str(writer): bytes([writer]) * 65536 for writer in range(8)}
            sinks = [await store.begin_set("k", Metadata(etag=etag)) for etag in values]
            try:
                await async_run_concurrently(
                    [
                        partial(_write_in_pieces, sink, value)
                        for sink, value in zip(sinks, values.values(), strict=True)
                    ],
                    _CONCURRENCY_TIMEOUT,
                )
                await async_run_concurrently([sink.commit for sink in sinks], _CONCURRENCY_TIMEOUT)
            except BaseException:
                await _abort_all(sinks)
                raise
            got = await _entry(store, "k")
            _require(
                got is not None and values.get(got[1].etag) == got[0] and got[1] == Metadata(etag=got[1].etag),
                f"after concurrent commits: get_stream gave {_show(got)}, not one writer's complete value",
            )
            await _assert_entry(store, "k", got, "after concurrent commits")

    async def test_concurrent_readers_writers_and_deleters_see_complete_values(self) -> None:
        """Readers racing writers and deleters of one key get ``NotFound`` or one complete committed value.

        ``stat`` likewise gives ``NotFound`` or the metadata of a committed
        value; readers read in small pieces, so deletes and replaces happen
        while they read.
        """
        async with self._opened() as store:
            values = {str(version): bytes([version]) * 65536 for version in range(3)}

            async def reader() -> None:
                for _ in range(30):
                    got = await _entry(store, "k", 4096)
                    _require(
                        got is None or (values.get(got[1].etag) == got[0] and got[1] == Metadata(etag=got[1].etag)),
                        f"a reader racing writers and deleters got {_show(got)}",
                    )
                    metadata = await _stat(store, "k")
                    _require(metadata is None or metadata.etag in values, f"stat gave {metadata!r}")

            async def writer(etag: str) -> None:
                for _ in range(15):
                    await _put(store, "k", values[etag], Metadata(etag=etag))
                    await async_sleep(0)

            async def deleter() -> None:
                for _ in range(15):
                    await store.delete("k")
                    await async_sleep(0)

            await _put(store, "k", values["0"], Metadata(etag="0"))
            actions: list[Callable[[], Awaitable[None]]] = [reader for _ in range(4)]
            actions += [partial(writer, etag) for etag in values]
            actions += [deleter, deleter]
            await async_run_concurrently(actions, _CONCURRENCY_TIMEOUT)

    async def test_close_is_idempotent(self) -> None:
        """``close`` may be called more than once."""
        store = await self.make_store()
        await store.close()
        await store.close()

    async def test_get_range_serves_exactly_the_range(self) -> None:
        """Optional ``get_range(key, byte_range)``: the range's bytes (``value[start:stop]``), metadata and length.

        Ranges at both ends, suffixes longer than the value, empty ranges,
        ranges past the end (no bytes) and ranges across chunk edges; read
        whole and in small pieces.  Skipped by a store without ``get_range``.
        """
        async with self._opened() as store:
            get_range = async_bound_range_getter(async_capabilities(store), 60.0)
            if get_range is None:
                return
            small = b"0123456789abcdefghij"
            large = bytes(range(256)) * (2 * _MIB // 256 + 3)
            for key, value, sizes in (("small", small, (-1, 3)), ("large", large, (65536,))):
                await _put(store, key, value, _NEW)
                for byte_range in _ranges_of(len(value), 1000):
                    for size in sizes:
                        reader, metadata, length = await get_range(key, byte_range)
                        got = await _read_all(reader, size)
                        start, stop = byte_range.bounds(len(value))
                        _require(
                            (metadata, length) == (_NEW, len(value)),
                            f"get_range({key!r}, {byte_range!r}) gave metadata {metadata!r} and length {length}",
                        )
                        _require(
                            got == value[start:stop],
                            f"get_range({key!r}, {byte_range!r}) read in reads of {size} gave {len(got)} bytes "
                            f"that are not value[{start}:{stop}]",
                        )

    async def test_get_range_of_missing_empty_and_negative_entries(self) -> None:
        """``get_range`` of a missing key raises ``NotFound``; an empty or negative entry has length 0, no bytes."""
        async with self._opened() as store:
            get_range = async_bound_range_getter(async_capabilities(store), 60.0)
            if get_range is None:
                return
            try:
                reader, _, _ = await get_range("missing", ByteRange(0))
            except NotFound:
                pass
            else:
                await reader.aclose()
                raise AssertionError("get_range of a missing key did not raise NotFound")
            negative = Metadata(is_negative=True, cached_at=3.0)
            await _put(store, "empty", b"", _NEW)
            await _put(store, "negative", b"", negative)
            for key, expected in (("empty", _NEW), ("negative", negative)):
                for byte_range in (ByteRange(0), ByteRange(0, 10), ByteRange(-3), ByteRange(4)):
                    reader, metadata, length = await get_range(key, byte_range)
                    got = await _read_all(reader)
                    _require(
                        (got, metadata, length) == (b"", expected, 0),
                        f"get_range({key!r}, {byte_range!r}) gave {_show(got)}, {metadata!r}, length {length}",
                    )

    async def test_range_reader_keeps_its_value_across_replace_and_delete(self) -> None:
        """A ``get_range`` reader returns the range of the value it opened, even if the key changes while it reads."""
        async with self._opened() as store:
            get_range = async_bound_range_getter(async_capabilities(store), 60.0)
            if get_range is None:
                return
            old = bytes(range(256)) * 1024
            for change in ("replace", "delete"):
                await _put(store, "k", old, _OLD)
                reader, metadata, length = await get_range("k", ByteRange(1000, 200_000))
                try:
                    head = bytes(await reader.read(100))
                    await _replace_or_delete(store, "k", change)
                    got = head + await _read_all(reader, 4096)
                finally:
                    await reader.aclose()
                _require((metadata, length) == (_OLD, len(old)), f"get_range gave {metadata!r}, length {length}")
                _require(got == old[1000:200_000], f"a range reader open across a {change} returned other bytes")

    async def test_clear_removes_every_entry_and_the_store_stays_usable(self) -> None:
        """Optional ``clear()`` (rule K5): every entry is gone, negative and odd keys included; then writes work.

        Clearing an empty store is not an error.  Skipped by a store without ``clear``.
        """
        async with self._opened() as store:
            clear = async_capabilities(store).clear
            if clear is None:
                return
            await clear()
            keys = ["k", *_ODD_KEYS[:8]]
            for index, key in enumerate(keys):
                await _put(store, key, bytes([index]) * (index * 1000), _METADATA[index % len(_METADATA)])
            await _put(store, "large", bytes(range(256)) * 4096, _NEW)
            await clear()
            for key in [*keys, "large"]:
                await _assert_entry(store, key, None, "after clear")
            await clear()
            await _put(store, "k", b"after", _NEW)
            await _assert_entry(store, "k", (b"after", _NEW), "after clear and a new set")

    async def test_reader_keeps_its_value_across_clear(self) -> None:
        """A reader opened before ``clear()`` returns the whole value it opened (rule K1)."""
        async with self._opened() as store:
            clear = async_capabilities(store).clear
            if clear is None:
                return
            old = bytes(range(256)) * 4096
            await _put(store, "k", old, _OLD)
            reader, metadata = await store.get_stream("k")
            try:
                head = bytes(await reader.read(100))
                await clear()
                got = head + await _read_all(reader, 4096)
            finally:
                await reader.aclose()
            _require(metadata == _OLD, f"get_stream gave {metadata!r}")
            _require(got == old, "a reader open across a clear returned other bytes")
            await _assert_entry(store, "k", None, "after clear")

    async def test_clear_leaves_other_stores_alone(self) -> None:
        """``clear()`` of one store leaves another store's entries (``make_store`` twice: another prefix, path...)."""
        async with self._opened() as store, self._opened() as other:
            clear = async_capabilities(store).clear
            if clear is None:
                return
            await _put(store, "k", b"mine", _OLD)
            await _put(other, "k", b"theirs", _NEW)
            await clear()
            await _assert_entry(store, "k", None, "after clear")
            await _assert_entry(other, "k", (b"theirs", _NEW), "after clear of another store")
