"""Ranged reads: ``get(..., byte_range=...)`` of ``AsyncCache`` and ``Cache`` past its first line.

Functions of the cache (``cache`` is the cache of this flavour), kept out of
``_cache.py``: the ranged walk reuses the cache's own steps (``_open_entry``,
``_serve_hit``, ``_serve_miss``, ``_refresh_quietly``) and adds only what
differs: each tier is opened with the store's ``get_range``, hits open no
sinks, and a miss's response is narrowed to the range.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from .._arguments import check_read_arguments
from .._async_primitives import async_shielded
from .._errors import NotFound, RangeNotSatisfiable, StoreContractError
from .._etag import if_none_match_matches
from .._freshness import ReadRules, is_stale, revalidate_first
from .._generations import Ticket
from .._metadata import Metadata, Status
from .._ranges import ByteRange, ContentRange
from .._stats import Stat, TierStat
from .._tags import TAGS_ATTR
from ._readers import AsyncBytesReader
from ._response import AsyncRangeResponse, AsyncResponse, ranged
from ._store import AsyncReader, AsyncStore

if TYPE_CHECKING:
    from ._cache import AsyncCache, AsyncFetcher

__all__ = ["get_range"]

_OK = Status.OK
_DEBUG = logging.DEBUG


async def get_range(
    cache: AsyncCache,
    key: str,
    fetch: AsyncFetcher,
    if_none_match: str | None,
    byte_range: ByteRange,
    rules: ReadRules | None = None,
) -> AsyncResponse:
    """``get`` with a ``byte_range``: the walk reads each tier's range, not its whole value.

    * **A hit** in a tier whose store has ``get_range`` reads only the
      range (and the entry's head) and learns the value's length from the
      store.  A store without it is read with ``get_stream``, the bytes
      before the range read and discarded; the length is then the one the
      metadata declares (``attrs["content-length"]``), and without one the
      hit is served like an ordinary ``get``: the whole value, with
      ``content_range`` ``None`` (an HTTP server may ignore a Range).
    * **No promotion**: a ranged hit copies nothing into the faster tiers
      that missed (a part must not be published, and reading the whole
      value to copy it would defeat the range); the next whole read does.
      A stale hit schedules its refresh at once.  A negative entry raises
      :class:`NotFound` as ``get`` does.
    * **A miss** takes the ordinary miss path (single-flight, the fill
      tier, write generations): the fill stores the whole origin body,
      while the caller is served only the range, out of the same stream.
      The value's length is the one the origin declares; closing the
      response reads the rest of the body into the fill, so the fill
      publishes the whole value.  An origin that declares no length is
      served whole (``content_range`` ``None``).  A miss whose range the
      value does not have fills the whole value, then raises.

    ``if_none_match`` is checked first: a match gives ``NOT_MODIFIED``
    with no range.  Unsatisfiable ranges raise
    :class:`RangeNotSatisfiable` with the value's length.  An entry that
    must be revalidated before it is served (past its stale-while-revalidate
    window, or ``rules`` ask for it) is served like an ordinary ``get``:
    revalidated, then whole, with ``content_range`` ``None``.
    """
    if type(byte_range) is not ByteRange:
        raise TypeError(f"byte_range must be a daramjwee.ByteRange or None, got {type(byte_range).__name__}")
    check_read_arguments(fetch, if_none_match)
    ticket = cache._writes.begin(key)
    try:
        return await _walk_range(cache, key, fetch, if_none_match, byte_range, ticket, rules)
    finally:
        ticket.end()


async def _walk_range(
    cache: AsyncCache,
    key: str,
    fetch: AsyncFetcher,
    if_none_match: str | None,
    byte_range: ByteRange,
    ticket: Ticket,
    rules: ReadRules | None,
) -> AsyncResponse:
    """The walk of the cache's ``_walk``, reading ranges; a miss in every tier goes to ``_serve_miss``."""
    missed: list[int] = []
    walk_failed = False
    landings = cache._fan_outs.landings(key)
    for tier, store in cache._tier_chain:
        try:
            opened = await _open_range(cache, tier, store, key, byte_range)
        except NotFound:
            cache._stats.tier(tier, TierStat.MISSES)
            missed.append(tier)
            transit = None if tier else cache._fan_outs.transit(key)
            if transit is not None:
                value, metadata, source = transit
                cache._stats.add(Stat.TRANSIT_HITS)
                start, stop = byte_range.bounds(len(value))
                found = (AsyncBytesReader(memoryview(value)[start:stop]), metadata, len(value), 0)
                return await _serve_range(cache, source, key, found, byte_range, fetch, ticket)
            continue
        if opened is None:
            walk_failed = True
            continue
        reader, metadata, length, skip = opened
        cache._stats.tier(tier, TierStat.HITS)
        if cache._logger.isEnabledFor(_DEBUG):
            cache._logger.debug("ranged hit in tier %d", tier, extra={"tier": tier, "key": key})
        if if_none_match is not None and if_none_match_matches(if_none_match, metadata):
            length = None  # served as an ordinary hit: NOT_MODIFIED, and a stale entry refreshed as ever
        elif _revalidate_first(cache, tier, metadata, rules):
            # Served as an ordinary hit, revalidated first, then whole: that needs the whole entry, not the range.
            await cache._discard_reader(tier, key, reader)
            try:
                whole = await cache._open_entry(tier, store, key)
            except NotFound:
                missed.append(tier)
                continue
            if whole is None:
                walk_failed = True
                continue
            reader, metadata = whole
            length = None
        if length is None or metadata.is_negative:
            return await cache._serve_hit(tier, key, reader, metadata, fetch, if_none_match, ticket, missed, rules)
        return await _serve_range(cache, tier, key, (reader, metadata, length, skip), byte_range, fetch, ticket)
    response = await cache._serve_miss(key, fetch, if_none_match, walk_failed, ticket, landings, rules)
    if response.source is not None and not response._copying and cache._range_getters[response.source] is not None:
        try:
            reopened = await _reopen_range(cache, response.source, key, byte_range, fetch, ticket)
        except BaseException:
            await async_shielded(response.aclose())
            raise
        if reopened is not None:
            if response.coalesced:
                reopened._coalesced = True
            await response.aclose()
            return reopened
    return await _range_of_miss(cache, key, response, byte_range)


async def _open_range(
    cache: AsyncCache, tier: int, store: AsyncStore, key: str, byte_range: ByteRange
) -> tuple[AsyncReader, Metadata, int | None, int] | None:
    """Open the range of ``key`` in ``tier``: reader, metadata, the value's length, bytes to skip first.

    The reader yields the range (nothing to skip) from a store with
    ``get_range``; else it is the whole value from ``get_stream``, the
    length is the declared one (``None`` when there is none) and the bytes
    before the range are to be skipped.  Raises :class:`NotFound` when the
    tier lacks the key; ``None`` (after logging) when it failed.
    """
    ranged_get = cache._range_getters[tier]
    if ranged_get is None:
        entry = await cache._open_entry(tier, store, key)
        if entry is None:
            return None
        length = entry[1].declared_length
        return entry[0], entry[1], length, 0 if length is None else byte_range.bounds(length)[0]
    try:
        reader, metadata, length = await ranged_get(key, byte_range)
    except NotFound:
        raise
    except Exception as error:
        cache._store_failed(tier, "get_range", key, error)
        return None
    if type(metadata) is not Metadata or type(length) is not int or length < 0:
        await cache._discard_reader(tier, key, reader)
        broken = StoreContractError(f"get_range returned {metadata!r} as metadata and {length!r} as length")
        cache._store_failed(tier, "get_range", key, broken)
        return None
    if TAGS_ATTR in metadata.attrs and not await cache._tags_current(metadata):
        await cache._discard_reader(tier, key, reader)
        raise NotFound(key)  # an invalidated tag (rule Q1)
    if not getattr(reader, "read_ahead", True) or metadata.is_negative or not byte_range.satisfiable(length):
        return reader, metadata, length, 0
    read = await cache._read_ahead(tier, key, reader)
    return None if read is None else (read, metadata, length, 0)


def _revalidate_first(cache: AsyncCache, tier: int, metadata: Metadata, rules: ReadRules | None) -> bool:
    """Whether a positive entry of ``tier`` must be revalidated with the origin before any of it is served."""
    if metadata.is_negative:
        return False
    positive, now = cache._freshness[tier][0], time.time()
    return revalidate_first(rules, metadata, positive, now, is_stale(metadata, positive, now))


async def _serve_range(
    cache: AsyncCache,
    tier: int,
    key: str,
    found: tuple[AsyncReader, Metadata, int, int],
    byte_range: ByteRange,
    fetch: AsyncFetcher,
    ticket: Ticket,
) -> AsyncResponse:
    """Serve ``byte_range`` of a positive entry found in ``tier``: (reader, metadata, length, bytes to skip).

    Promotes nothing; a stale entry's refresh is scheduled now, under the
    ticket taken before the read.
    """
    reader, metadata, length, skip = found
    positive = cache._freshness[tier][0]
    stale = is_stale(metadata, positive, time.time())
    if stale:
        cache._stats.add(Stat.STALE_HITS)
        cache._refresh_quietly(key, fetch, metadata, ticket.hand_off())
    if not byte_range.satisfiable(length):
        await async_shielded(cache._discard_reader(tier, key, reader))
        raise RangeNotSatisfiable(key, byte_range, length)
    content_range = ContentRange(*byte_range.bounds(length), length)
    store = cache._stores[tier]
    return AsyncRangeResponse(
        _OK,
        metadata,
        tier,
        reader,
        None,
        cache._chunk_size,
        content_range,
        skip=skip,
        stale=stale,
        key=key,
        store=store,
        failed=cache._store_failed,
    )


async def _reopen_range(
    cache: AsyncCache, tier: int, key: str, byte_range: ByteRange, fetch: AsyncFetcher, ticket: Ticket
) -> AsyncResponse | None:
    """The range of ``key`` read again from ``tier`` (a miss that waited for a fill served from it); or ``None``."""
    try:
        opened = await _open_range(cache, tier, cache._tiers[tier], key, byte_range)
    except NotFound:
        return None
    if opened is None:
        return None
    reader, metadata, length, skip = opened
    if length is None or metadata.is_negative:
        await cache._discard_reader(tier, key, reader)
        return None
    return await _serve_range(cache, tier, key, (reader, metadata, length, skip), byte_range, fetch, ticket)


async def _range_of_miss(cache: AsyncCache, key: str, response: AsyncResponse, byte_range: ByteRange) -> AsyncResponse:
    """The range of the value the miss path returned (its fill, if any, goes on over the whole value)."""
    length = response.metadata.declared_length
    if response.status is not _OK or length is None:
        return response
    content_range = ContentRange(*byte_range.bounds(length), length)
    result = ranged(response, content_range, content_range.start)
    if not byte_range.satisfiable(length):
        await result.aclose()  # the fill reads the whole body, and publishes it
        raise RangeNotSatisfiable(key, byte_range, length)
    return result
