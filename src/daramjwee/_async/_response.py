"""What ``get`` returns: a readable, closable stream plus status and metadata."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from .._errors import TierError
from .._metadata import Metadata, Status
from ._readers import EMPTY_READER
from ._store import AsyncReader
from ._writes import AsyncTee

__all__ = ["AsyncBytesResponse", "AsyncResponse"]


class AsyncResponse:
    """The result of ``get``: ``status``, ``metadata``, ``source`` and the body stream.

    The caller owns the response and must close it (``async with``, or
    :meth:`aclose`); closing twice is fine.  Reading to the end publishes any
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
    """

    __slots__ = (
        "_chunk_size",
        "_closed",
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

        Raises ``ValueError`` after :meth:`aclose`.
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

    async def __aenter__(self) -> AsyncResponse:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncResponse {self.status.name} source={self.source} {self.metadata!r}>"


_OK = Status.OK


class AsyncBytesResponse(AsyncResponse):
    """A fresh hit of an in-memory tier: the stored ``bytes`` themselves, with no reader and no copy to make.

    Behaves exactly like an :class:`AsyncResponse` over an ``AsyncBytesReader``
    (whole reads return the stored object, partial reads return copies).
    """

    __slots__ = ("_data", "_position")
    stale = False  # a class attribute: a fresh hit sets nothing more than it must

    def __init__(self, metadata: Metadata, source: int, data: bytes, chunk_size: int) -> None:
        self.status = _OK
        self.metadata = metadata
        self.source = source
        self._reader = EMPTY_READER
        self._tee = None
        self._data = data
        self._position = 0
        self._chunk_size = chunk_size
        self._closed = False

    async def read(self, size: int = -1) -> bytes:
        if self._closed:
            raise ValueError("read from a closed daramjwee response")
        data = self._data
        start = self._position
        if not start and (size < 0 or size >= len(data)):
            self._position = len(data)
            return data
        end = len(data) if size < 0 else min(start + size, len(data))
        self._position = end
        return data[start:end]

    async def aclose(self) -> None:
        self._closed = True
        self._data = b""

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._closed = True
        self._data = b""
