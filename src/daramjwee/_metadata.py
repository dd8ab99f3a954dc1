"""Plain data carried with every entry: :class:`Metadata`, :class:`Status`, :class:`FetchResult`."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import AsyncIterable, Awaitable, Iterable, Mapping
from types import MappingProxyType
from typing import Protocol, TypeAlias

__all__ = ["FetchBody", "FetchResult", "Metadata", "Status"]

_EMPTY_ATTRS: Mapping[str, str] = MappingProxyType({})
_SECONDS_FIELDS = ("fresh_for", "stale_while_revalidate", "stale_if_error")


@dataclasses.dataclass(frozen=True, slots=True)
class Metadata:
    """What the cache knows about an entry besides its bytes.

    Instances are immutable (``attrs`` is frozen into a read-only mapping on
    construction), so a ``Metadata`` handed out by the cache can never change
    what is stored.

    Attributes:
        etag: the origin's entity tag, ``""`` when unknown.
        is_negative: ``True`` for a negative entry ("known missing").
        cached_at: epoch seconds of the origin fetch; ``0`` means unknown and is
            always stale.
        attrs: free-form string pairs stored with the entry (content type, ...).
        fresh_for: this entry's freshness lifetime in seconds after
            ``cached_at``; ``None`` uses the cache's ``positive_fresh_for`` /
            ``negative_fresh_for`` of the tier that holds it.
        stale_while_revalidate: seconds after it goes stale during which the
            entry is still served while one background refresh runs; past
            them the next read revalidates with the origin before answering.
            ``None`` serves a stale entry for as long as it is kept (the
            cache's behaviour for every entry that does not say otherwise).
        stale_if_error: seconds after it goes stale during which the entry is
            served when a revalidation fails (the origin raised); ``None`` and
            ``0``: the failure is raised.
        must_revalidate: once stale, the entry is never served without a
            successful revalidation: no stale-while-revalidate, no
            stale-if-error.

    The four freshness fields are what a fetcher or ``set`` says about *this*
    value (an HTTP response's ``Cache-Control``, for instance); each is stored
    with the entry in every tier.
    """

    etag: str = ""
    is_negative: bool = False
    cached_at: float = 0.0
    attrs: Mapping[str, str] = dataclasses.field(default_factory=lambda: _EMPTY_ATTRS)
    fresh_for: float | None = None
    stale_while_revalidate: float | None = None
    stale_if_error: float | None = None
    must_revalidate: bool = False

    def __post_init__(self) -> None:
        if type(self.etag) is not str:
            raise TypeError(f"Metadata.etag must be str, got {type(self.etag).__name__}")
        if type(self.is_negative) is not bool:
            raise TypeError(f"Metadata.is_negative must be bool, got {type(self.is_negative).__name__}")
        cached_at = self.cached_at
        if type(cached_at) is not float:
            if isinstance(cached_at, bool) or not isinstance(cached_at, int | float):
                raise TypeError(f"Metadata.cached_at must be a number, got {type(cached_at).__name__}")
            object.__setattr__(self, "cached_at", float(cached_at))
        if not (self.cached_at >= 0.0):
            raise ValueError(f"Metadata.cached_at must be >= 0, got {self.cached_at!r}")
        if self.attrs is not _EMPTY_ATTRS:
            if not isinstance(self.attrs, Mapping):
                raise TypeError(f"Metadata.attrs must be a mapping, got {type(self.attrs).__name__}")
            frozen = dict(self.attrs)
            for name, value in frozen.items():
                if type(name) is not str or type(value) is not str:
                    raise TypeError(f"Metadata.attrs must map str to str, got {name!r}: {value!r}")
            object.__setattr__(self, "attrs", MappingProxyType(frozen) if frozen else _EMPTY_ATTRS)
        for name in _SECONDS_FIELDS:
            seconds = getattr(self, name)
            if seconds is None:
                continue
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise TypeError(f"Metadata.{name} must be a number of seconds or None, got {type(seconds).__name__}")
            if not (0.0 <= seconds < math.inf):
                raise ValueError(f"Metadata.{name} must be a finite number >= 0, got {seconds!r}")
            if type(seconds) is not float:
                object.__setattr__(self, name, float(seconds))
        if type(self.must_revalidate) is not bool:
            raise TypeError(f"Metadata.must_revalidate must be bool, got {type(self.must_revalidate).__name__}")

    def __hash__(self) -> int:
        return hash((self.etag, self.is_negative, self.cached_at, frozenset(self.attrs.items()), self.freshness))

    def __reduce__(self) -> tuple[type[Metadata], tuple[object, ...]]:
        return (type(self), (self.etag, self.is_negative, self.cached_at, dict(self.attrs), *self.freshness))

    @property
    def freshness(self) -> tuple[float | None, float | None, float | None, bool]:
        """``(fresh_for, stale_while_revalidate, stale_if_error, must_revalidate)``: what this entry says of itself."""
        return (self.fresh_for, self.stale_while_revalidate, self.stale_if_error, self.must_revalidate)

    @property
    def declared_length(self) -> int | None:
        """The body length ``attrs["content-length"]`` declares (ASCII decimal digits only), else ``None``.

        The cache fills, and promotes into, only tiers whose capacity can hold a declared length.
        """
        declared = self.attrs.get("content-length")
        if declared is None or not (declared.isascii() and declared.isdigit()):
            return None
        return int(declared)

    def replace(self, **changes: object) -> Metadata:
        """Return a copy with the given fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def with_cached_at(metadata: Metadata, cached_at: float) -> Metadata:
    """``metadata.replace(cached_at=cached_at)``, without checking the other fields again (they were checked).

    The cache stamps every entry it publishes; ``dataclasses.replace`` runs the
    whole constructor: about 4 us of a 32 us in-memory miss.
    """
    if type(cached_at) is not float or not cached_at >= 0.0:
        return metadata.replace(cached_at=cached_at)
    stamped = object.__new__(Metadata)
    assign = object.__setattr__
    assign(stamped, "etag", metadata.etag)
    assign(stamped, "is_negative", metadata.is_negative)
    assign(stamped, "cached_at", cached_at)
    assign(stamped, "attrs", metadata.attrs)
    assign(stamped, "fresh_for", metadata.fresh_for)
    assign(stamped, "stale_while_revalidate", metadata.stale_while_revalidate)
    assign(stamped, "stale_if_error", metadata.stale_if_error)
    assign(stamped, "must_revalidate", metadata.must_revalidate)
    return stamped


NEGATIVE = Metadata(is_negative=True)


class Status(enum.Enum):
    """Outcome of a read: the body follows (``OK``) or the client's copy is current."""

    OK = 200
    NOT_MODIFIED = 304


class SupportsRead(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class SupportsAsyncRead(Protocol):
    def read(self, size: int = -1, /) -> Awaitable[bytes]: ...


BytesLike: TypeAlias = bytes | bytearray | memoryview

FetchBody: TypeAlias = BytesLike | SupportsRead | SupportsAsyncRead | Iterable[BytesLike] | AsyncIterable[BytesLike]


class FetchResult:
    """What a fetcher returns: a body and optional metadata.

    The body may be ``bytes``/``bytearray``/``memoryview``, a binary file-like
    object with ``read``, or an iterable of bytes-like chunks; with
    :class:`AsyncCache` also an async iterable or an object whose ``read`` is a
    coroutine.  **The cache owns the body**: it reads it once and closes it
    (``close``/``aclose`` when present), also on errors.

    ``metadata`` defaults to an empty :class:`Metadata`; the cache stamps
    ``cached_at`` with the fetch time on the stored copy.

    ``store=False`` passes the body through to the caller without storing it
    in any tier (an HTTP response marked ``no-store``, say); concurrent
    misses of the key that waited for it then fetch for themselves.
    """

    __slots__ = ("body", "metadata", "store")

    def __init__(self, body: FetchBody, metadata: Metadata | None = None, *, store: bool = True) -> None:
        if metadata is not None and not isinstance(metadata, Metadata):
            raise TypeError(f"FetchResult.metadata must be a daramjwee.Metadata or None, got {type(metadata).__name__}")
        if type(store) is not bool:
            raise TypeError(f"FetchResult.store must be bool, got {type(store).__name__}")
        self.body = body
        self.metadata = metadata
        self.store = store

    def __repr__(self) -> str:
        store = "" if self.store else ", store=False"
        return f"FetchResult(body={type(self.body).__name__}, metadata={self.metadata!r}{store})"
