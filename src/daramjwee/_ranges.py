"""Byte ranges of a value: what ``get(..., byte_range=...)`` asks for and what the response says it served.

Pure and shared by both flavours.  Offsets are Python's: zero-based and
half-open (``ByteRange(0, 10)`` is the first ten bytes, ``value[0:10]``).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ByteRange", "ContentRange"]


class ByteRange:
    """A range of a value's bytes, resolved against its length only when the value is read.

    * ``ByteRange(start, stop)``: bytes ``start`` up to, not including,
      ``stop`` (``value[start:stop]``); ``stop`` past the end means "to the end".
    * ``ByteRange(start)``: from ``start`` to the end (``value[start:]``).
    * ``ByteRange(-n)`` or ``ByteRange.suffix(n)``: the last ``n`` bytes
      (``value[-n:]``; the whole value when it is shorter than ``n``).

    HTTP's ``Range: bytes=first-last`` (inclusive), ``first-`` and
    ``-suffix`` map onto these with :meth:`from_http`.

    A range is *satisfiable* for a value of ``length`` bytes (:meth:`satisfiable`)
    when ``start < length``, or, for a suffix, when ``length > 0`` — as in
    HTTP, so an empty value satisfies no range.  ``ByteRange(5, 5)`` asks for
    no bytes: satisfiable (and served empty) when the value is longer than 5.

    Immutable and hashable; the constructor raises ``TypeError`` for
    non-``int`` offsets and ``ValueError`` for a ``stop`` below ``start`` or
    below 0, or a suffix (negative ``start``) with a ``stop``.
    """

    __slots__ = ("_start", "_stop")

    def __init__(self, start: int, stop: int | None = None) -> None:
        if type(start) is not int:
            raise TypeError(f"ByteRange start must be an int, got {type(start).__name__}")
        if stop is not None:
            if type(stop) is not int:
                raise TypeError(f"ByteRange stop must be an int or None, got {type(stop).__name__}")
            if start < 0:
                raise ValueError(
                    f"ByteRange({start}, {stop}): a negative start asks for a suffix (the last {-start} bytes), "
                    "which takes no stop"
                )
            if stop < start:
                raise ValueError(f"ByteRange({start}, {stop}): stop must not be below start")
        self._start = start
        self._stop = stop

    @classmethod
    def suffix(cls, length: int) -> ByteRange:
        """The last ``length`` bytes (at least 1; HTTP's ``bytes=-length``)."""
        if type(length) is not int:
            raise TypeError(f"a suffix length must be an int, got {type(length).__name__}")
        if length < 1:
            raise ValueError(f"a suffix must be at least 1 byte long, got {length} (HTTP: bytes=-0 is unsatisfiable)")
        return cls(-length)

    @classmethod
    def from_http(cls, first: int | None, last: int | None) -> ByteRange:
        """The range of one HTTP byte-range-spec: ``first-last`` (inclusive), ``first-`` (``last`` None), ``-last``.

        ``first=None`` asks for a suffix of ``last`` bytes.  Raises
        ``ValueError`` for a negative ``first``, for ``last < first``, for
        neither given, and for ``-0`` (RFC 9110 calls these invalid or
        unsatisfiable: answer 416), ``TypeError`` for a position not an ``int``.
        """
        if first is None:
            if last is None:
                raise ValueError("an HTTP byte range needs a first or a last byte position")
            return cls.suffix(last)
        if type(first) is not int:
            raise TypeError(f"an HTTP first byte position must be an int, got {type(first).__name__}")
        if first < 0:
            raise ValueError(f"an HTTP first byte position is not negative, got {first}")
        if last is None:
            return cls(first)
        if type(last) is not int:
            raise TypeError(f"an HTTP last byte position must be an int, got {type(last).__name__}")
        if last < first:
            raise ValueError(f"HTTP byte range {first}-{last}: the last position is before the first")
        return cls(first, last + 1)

    @property
    def start(self) -> int:
        """The first offset; negative for a suffix (``-n``: the last ``n`` bytes)."""
        return self._start

    @property
    def stop(self) -> int | None:
        """The offset after the last byte (exclusive), or ``None`` for "to the end"."""
        return self._stop

    @property
    def is_suffix(self) -> bool:
        return self._start < 0

    def satisfiable(self, length: int) -> bool:
        """Whether a value of ``length`` bytes has any of this range (HTTP's rule; see the class)."""
        return length > 0 if self._start < 0 else self._start < length

    def bounds(self, length: int) -> tuple[int, int]:
        """The half-open offsets ``(start, stop)`` this range covers in a value of ``length`` bytes.

        Clamped into ``[0, length]``: an unsatisfiable range gives ``(length, length)``.
        """
        start = self._start
        if start < 0:
            return max(length + start, 0), length
        stop = self._stop
        return min(start, length), length if stop is None or stop > length else stop

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ByteRange):
            return NotImplemented
        return self._start == other._start and self._stop == other._stop

    def __hash__(self) -> int:
        return hash((ByteRange, self._start, self._stop))

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, "_stop"):
            raise AttributeError("ByteRange is immutable")
        object.__setattr__(self, name, value)

    def __reduce__(self) -> tuple[type[ByteRange], tuple[int, int | None]]:
        return (ByteRange, (self._start, self._stop))

    def __repr__(self) -> str:
        if self._stop is None:
            return f"ByteRange({self._start})"
        return f"ByteRange({self._start}, {self._stop})"


class ContentRange(NamedTuple):
    """What a ranged response serves: bytes ``start`` up to (not including) ``stop`` of a value of ``length`` bytes.

    HTTP's ``Content-Range`` is :attr:`header` (for a non-empty range).
    """

    start: int
    stop: int
    length: int

    @property
    def header(self) -> str:
        """``"bytes first-last/length"`` (inclusive positions, as HTTP writes them); ``ValueError`` when empty."""
        if self.stop <= self.start:
            raise ValueError("an empty range has no Content-Range")
        return f"bytes {self.start}-{self.stop - 1}/{self.length}"
