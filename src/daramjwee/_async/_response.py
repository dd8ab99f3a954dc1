"""What ``get`` returns: a readable, closable stream plus status and metadata."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from .._async_primitives import async_shielded
from .._errors import DaramjweeError, TierError
from .._metadata import Metadata, Status
from .._ranges import ContentRange
from ._readers import EMPTY_READER, AsyncBytesReader
from ._store import AsyncReader
from ._writes import AsyncTee

__all__ = ["AsyncBytesResponse", "AsyncRangeResponse", "AsyncResponse", "ranged"]


class AsyncResponse:
    """The result of ``get``: ``status``, ``metadata``, ``source`` and the body stream.

    The caller owns the response and must close it (``async with`` and
    ``aclose``, or ``with`` and ``close``); closing twice is fine.  Reading to the end publishes any
    copy the cache is making into faster tiers; closing before the end
    discards it.  Closing after reading exactly the length the entry declares
    (``attrs["content-length"]``) counts as reading to the end when the
    source has nothing more.  The copy runs to its end even if the reading
    task is cancelled meanwhile.  A response stays readable after its cache
    is closed.

    A tier that fails while its body streams raises :class:`TierError`
    (``op="read"``, the store's error as ``__cause__``, e.g.
    :class:`CorruptEntry`); one that fails to close its reader is logged and
    counted, not raised.  The origin's body errors are raised unchanged.

    Attributes:
        status: :attr:`Status.OK`, or :attr:`Status.NOT_MODIFIED` (empty body)
            when ``if_none_match`` matched.
        metadata: the entry's :class:`Metadata` (immutable).
        source: index of the tier that served the body, or ``None`` for the origin.
        stale: whether the served entry was stale (a background refresh was
            scheduled for when the response is read to the end or closed).
        content_range: for a ``get`` with a ``byte_range``, the
            :class:`ContentRange` served (offsets and the value's whole
            length); ``None`` when the whole value is served.
        in_memory: whether the whole body is already in memory, whatever its
            size: one ``read()`` returns all of it without waiting on any
            I/O, and no copy into a tier depends on the reading (a fresh hit
            of a memory tier 0, or of a small entry a tier 0 read whole).  A
            server can then send the body in one piece instead of streaming
            it.  ``False`` does not mean that the body is large or slow.
        coalesced: whether this caller missed while another request of this
            cache was already fetching (or revalidating) the key, waited for
            that request (single-flight) and is served what it stored; or, in
            a fleet, waited for another instance's fetch.  Its time to answer
            includes that wait, so it is the origin's latency, not the
            ``source`` tier's.  Its ``source`` is the tier the value was read
            from after the wait.
    """

    content_range: ContentRange | None = None  # a class attribute: set only by the range response
    in_memory: bool = False  # a class attribute: true only for the bytes response

    __slots__ = (
        "_chunk_size",
        "_closed",
        "_coalesced",
        "_failed",
        "_key",
        "_reader",
        "_store",
        "_tee",
        "metadata",
        "source",
        "stale",
        "status",
    )

    _coalesced: bool  # set only on a coalesced waiter's response (see ``coalesced``), so hits pay nothing

    def __init__(
        self,
        status: Status,
        metadata: Metadata,
        source: int | None,
        reader: AsyncReader,
        tee: AsyncTee | None,
        chunk_size: int,
        *,
        stale: bool = False,
        key: str = "",
        store: object = None,
        failed: Callable[[int, str, str, BaseException], None] | None = None,
    ) -> None:
        self._key = key
        self._failed = failed
        self._store = store
        self.status = status
        self.metadata = metadata
        self.source = source
        self.stale = stale
        self._reader = reader
        self._tee = tee
        self._chunk_size = chunk_size
        self._closed = False

    async def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (everything left when negative); ``b""`` at the end.

        Raises ``ValueError`` once the response is closed.
        """
        if self._closed:
            raise ValueError("read from a closed daramjwee response")
        if not size:
            return b""
        try:
            data = await self._reader.read(size)
        except BaseException as error:
            tee = self._tee
            if tee is not None:
                self._tee = None
                await tee.abort()
            if self.source is None or not isinstance(error, Exception):
                raise
            raise self._read_failed() from error
        tee = self._tee
        if tee is not None:
            try:
                if type(data) is not bytes:
                    data = bytes(data)  # once, here: the caller and every sink then share one immutable copy
                if data:
                    await tee.write(data)
                if not data or size < 0:
                    self._tee = None
                    await tee.finish()
            except BaseException:
                self._tee = None
                await tee.abort()
                raise
        return data if type(data) is bytes else bytes(data)

    def _read_failed(self) -> TierError:
        """The error for a tier whose body failed to read (the origin's body errors are raised as they are)."""
        assert self.source is not None
        return TierError(self.source, "read", self._key, self._store)

    async def readinto(self, buffer: bytearray | memoryview) -> int:
        """Read into ``buffer``; return the number of bytes read (0 at the end)."""
        view = memoryview(buffer).cast("B")
        data = await self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def __aiter__(self) -> AsyncResponse:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.read(self._chunk_size)
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        """Release the stream; abort any unfinished copy into faster tiers.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        tee = self._tee
        if tee is not None:
            self._tee = None
            if tee.written == self.metadata.declared_length and await self._at_end():
                await tee.finish()
            else:
                await tee.abort()
        try:
            await self._reader.aclose()
        except Exception as error:
            if self.source is None or self._failed is None:
                raise
            self._failed(self.source, "close", self._key, error)  # logged and counted: every byte went out

    async def _at_end(self) -> bool:
        """Whether the source has nothing after the declared length (read once more to see)."""
        try:
            return not await self._reader.read(1)
        except Exception:
            return False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def coalesced(self) -> bool:
        """Whether this caller waited for another request's fetch of the key (see the class docstring)."""
        return getattr(self, "_coalesced", False)

    @property
    def _copying(self) -> bool:
        """Whether the response is copying the value into a tier as it is read (a fill or a promotion)."""
        return self._tee is not None

    async def __aenter__(self) -> AsyncResponse:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status.name} source={self.source} {self.metadata!r}>"


_OK = Status.OK


class AsyncBytesResponse(AsyncResponse):
    """A fresh hit of an in-memory tier: the stored ``bytes`` themselves, with no reader and no copy to make.

    Behaves exactly like the base response over a bytes reader: a read of
    all that is left returns the stored object itself; the first partial
    read hands the bytes to an ``AsyncBytesReader`` / ``BytesReader``, which
    the base response reads on from (partial reads return copies).
    """

    __slots__ = ("_data",)
    stale = False  # a class attribute: a fresh hit sets nothing more than it must
    in_memory = True

    def __init__(self, metadata: Metadata, source: int, data: bytes, chunk_size: int) -> None:
        self.status = _OK
        self.metadata = metadata
        self.source = source
        self._reader = EMPTY_READER
        self._tee = None
        self._data: bytes | None = data  # None once a partial read moved it into ``_reader``
        self._chunk_size = chunk_size
        self._closed = False

    async def read(self, size: int = -1) -> bytes:
        data = self._data
        if data is not None and not self._closed and (size < 0 or size >= len(data)):
            self._data = b""  # all that is left, in one read: the usual read of a hit
            return data
        if data:
            self._reader = AsyncBytesReader(data)
            self._data = None
        return await super().read(size)

    async def aclose(self) -> None:
        self._closed = True
        self._data = b""

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._closed = True
        self._data = b""


class AsyncRangeResponse(AsyncResponse):
    """A response that serves the bytes ``content_range`` names, of a value of ``content_range.length`` bytes.

    Its reader yields either exactly those bytes (a tier's ``get_range``), or
    the whole value, of which the first ``skip`` bytes are read and discarded
    before the first byte is served.  When the response also copies the
    whole value into a tier (the fill of a miss), closing it first reads
    the rest of the value into that copy, so that the fill publishes the whole
    value (never a part); if that reading fails, the copy is discarded and
    closing raises nothing.  A source that ends before the range does
    raises :class:`DaramjweeError` (a tier's own errors: :class:`TierError`).
    """

    __slots__ = ("_left", "_skip", "content_range")

    def __init__(
        self,
        status: Status,
        metadata: Metadata,
        source: int | None,
        reader: AsyncReader,
        tee: AsyncTee | None,
        chunk_size: int,
        content_range: ContentRange,
        *,
        skip: int = 0,
        stale: bool = False,
        key: str = "",
        store: object = None,
        failed: Callable[[int, str, str, BaseException], None] | None = None,
    ) -> None:
        super().__init__(
            status, metadata, source, reader, tee, chunk_size, stale=stale, key=key, store=store, failed=failed
        )
        self.content_range = content_range
        self._skip = skip
        self._left = content_range.stop - content_range.start

    async def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes of the range (all the rest when negative); ``b""`` at the end of the range."""
        if self._closed:
            raise ValueError("read from a closed daramjwee response")
        if self._skip:
            await self._skip_to_start()
        left = self._left
        if not left or not size:
            return b""
        data = await self._read_some(left if size < 0 or size > left else size)
        if size >= 0 or not self._left:
            return data
        parts = [data]
        while self._left:
            parts.append(await self._read_some(self._left))
        return b"".join(parts)

    async def _read_some(self, size: int) -> bytes:
        data = await AsyncResponse.read(self, size)
        if not data:
            raise self._ended_early()
        self._left -= len(data)
        return data

    async def _skip_to_start(self) -> None:
        while self._skip:
            data = await AsyncResponse.read(self, min(self._skip, self._chunk_size))
            if not data:
                raise self._ended_early()
            self._skip -= len(data)

    def _ended_early(self) -> DaramjweeError:
        assert self.content_range is not None
        start, stop, length = self.content_range
        served = stop - start - self._left
        return DaramjweeError(
            f"the value of {self._key!r:.200} ended before the end of bytes {start}-{stop} "
            f"({served} of them served, skipping {self._skip}): shorter than the {length} bytes it said it has"
        )

    async def aclose(self) -> None:
        """Read the rest of the value into the copy the response is making, if any; then release the stream.

        Both run to their end even if the closing task is cancelled meanwhile
        (the caller still sees the cancellation), as a copy's publish does.
        """
        if self._closed:
            return
        if self._tee is None:
            await AsyncResponse.aclose(self)
        else:
            await async_shielded(self._finish_copy())

    async def _finish_copy(self) -> None:
        try:
            while self._tee is not None and await AsyncResponse.read(self, self._chunk_size):
                pass
        except Exception:
            pass  # the copy was aborted by the failed read; the caller had every byte of its range
        finally:
            await AsyncResponse.aclose(self)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status.name} source={self.source} {self.content_range} {self.metadata!r}>"


def ranged(response: AsyncResponse, content_range: ContentRange, skip: int) -> AsyncRangeResponse:
    """A response serving ``content_range`` of the whole value ``response`` streams; it takes over the stream.

    ``skip`` bytes are read and discarded first.  ``response`` is left
    closed, owning nothing.
    """
    if isinstance(response, AsyncBytesResponse) and response._data is not None:
        reader: AsyncReader = AsyncBytesReader(response._data)
    else:
        reader = response._reader
    result = AsyncRangeResponse(
        response.status,
        response.metadata,
        response.source,
        reader,
        response._tee,
        response._chunk_size,
        content_range,
        skip=skip,
        stale=response.stale,
        key=getattr(response, "_key", ""),
        store=getattr(response, "_store", None),
        failed=getattr(response, "_failed", None),
    )
    if response.coalesced:
        result._coalesced = True
    response._tee = None
    response._reader = EMPTY_READER
    response._closed = True
    return result
