"""``AsyncCache`` and its generated sync twin ``Cache``: the N-tier streaming cache.

The rules it keeps are numbered in docs/design.md ("The rules of the cache"); comments cite them as "rule G2".
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .._arguments import check_read_arguments, read_rules
from .._async_body import async_open_body
from .._async_primitives import (
    AsyncEvent,
    async_bound_range_getter,
    async_bound_store_calls,
    async_call_fetcher,
    async_cancel_after,
    async_capabilities,
    async_check_flavour,
    async_shielded,
)
from .._async_runtime import AsyncBackgroundRunner
from .._config import (
    DEFAULT_LOGGER,
    NO_TIER_FRESH_FOR,
    Config,
    DurationOption,
    TierFreshFor,
    WorkerStrategy,
    checks_option_names,
)
from .._decorated import CallKeys, async_check_decorated, freshness_metadata
from .._errors import (
    BackgroundJobRejected,
    CacheableNotFound,
    CacheClosed,
    ConfigError,
    DaramjweeError,
    DecodeError,
    EntryTooLarge,
    NotFound,
    NotModified,
    StoreContractError,
    TierError,
)
from .._etag import if_none_match_matches
from .._fleet import CACHED, CLEAR, FAILED, KEY, LEASE, PUBLISHED, RESYNC, TAGS, UNCACHED, WAIT, encode_tag_list
from .._freshness import ReadRules, is_stale, may_serve_on_error, revalidate_first
from .._generations import Ticket
from .._keys import check_key
from .._metadata import NEGATIVE, FetchResult, Metadata, Status, with_cached_at
from .._observer import (
    CURRENT_READ,
    Observer,
    ReadNote,
    end_probe,
    fetch_failure,
    noted,
    read_outcome,
    report_read,
    start_origin_fetch,
    start_tier_read,
)
from .._probation import Probation
from .._ranges import ByteRange
from .._stats import CacheStats, Stat, StatsRecorder, TierStat
from .._tags import MISSING, TAGS_ATTR, TagMemo, check_tags, decode_tags, encode_tags, new_version, tag_key
from .._values import (
    SERIALIZER_ATTR,
    async_call_loader,
    check_metadata,
    check_serializer,
    decode,
    encode,
    tagged,
    with_length,
)
from ..serializers import DEFAULT_SERIALIZER, Serializer
from ._cached import AsyncCachedFunction
from ._fanouts import AsyncFanOuts, Landed
from ._ranged import get_range
from ._readers import EMPTY_READER, AsyncBytesReader, AsyncPrefixedReader
from ._response import AsyncBytesResponse, AsyncResponse
from ._store import AsyncReader, AsyncSink, AsyncStore
from ._writer import AsyncWriter
from ._writes import AsyncTee, AsyncWrites, OnDone, Published, committed_value

if TYPE_CHECKING:  # the coordinator needs redis, an extra: imported when one is given
    from ._coordinator import AsyncLease, AsyncRedisCoordinator

__all__ = ["AsyncCache", "AsyncFetcher"]

AsyncFetcher = Callable[[Metadata | None], Awaitable[FetchResult]]

_DEBUG = logging.DEBUG
# Module constants: reading an enum member off its class costs ~100 ns on CPython 3.11.
_OK = Status.OK
_NOT_MODIFIED = Status.NOT_MODIFIED
_EMPTY_METADATA = Metadata()
_TAGS_ATTR = TAGS_ATTR
_T = TypeVar("_T")
_P = ParamSpec("_P")


class _Flight:
    """One in-progress origin fetch that concurrent misses of the key wait for.

    ``done`` is made by the first waiter (under the cache's state lock, while
    the flight is still registered), so a miss nobody waits for makes none.
    """

    __slots__ = ("done", "landed", "lease", "published", "tier")

    def __init__(self) -> None:
        self.done: AsyncEvent | None = None
        self.landed = False
        self.published = False
        self.tier = 0  # the tier the leader fills (a value too large for tier 0 fills a lower one)
        self.lease: AsyncLease | None = None  # the fleet's lease of the key, while this flight owns it (rule Y2)


class _Found:
    """What the tier walk found for a key (:meth:`AsyncCache._locate`): the entry and where, and what it passed.

    ``entry`` (its reader, which the receiver owns, and its metadata) is
    ``None`` when no tier holds the key; ``tier`` is then ``-1``.  ``missed``
    are the tiers known not to hold it (the only ones a promotion may write;
    none for a value in transit, whose tier is the one it was copied from),
    ``failed`` whether a tier's read failed on the way.
    """

    __slots__ = ("entry", "failed", "missed", "tier")

    def __init__(
        self, tier: int, entry: tuple[AsyncReader, Metadata] | None, missed: Sequence[int], failed: bool
    ) -> None:
        self.tier = tier
        self.entry = entry
        self.missed = missed
        self.failed = failed


_TRANSIT_FLOOR = 64 << 20
"""Snapshots waiting for their fan-out may always hold this many bytes, however small tier 0 is."""


class AsyncCache:
    """An ordered chain of cache tiers in front of a slow origin.

    ``stores[0]`` is the fastest tier.  ``get`` walks the tiers in order and
    streams a hit while copying it into every faster tier; a miss streams the
    origin's body while filling tier 0, then copies it to the lower tiers in
    the background.

    All methods raise :class:`CacheClosed` after :meth:`close`.  One instance
    serves any number of concurrent callers.

    Every option is a keyword-only parameter, with the name and default of the
    :class:`Config` field of the same name (the README's options table says
    the same).  A duration is seconds (int or float) or a
    :class:`datetime.timedelta`.  The types are for type checkers; the cache
    checks every value when it is built (rule A3): a wrong one, or an unknown
    option name, raises :class:`ConfigError` naming the option and the value.

    - ``stores``: the tiers, fastest first; at least one, no ``None``, no store
      twice.  ``AsyncCache`` takes async stores and ``Cache`` sync ones (rule A1).
    - ``hot_store``, ``cold_store``: the legacy two-tier form of ``stores``;
      cannot be combined with it (rule A2).
    - ``positive_fresh_for`` (``None``): how long a value stays fresh; ``None``
      never stale, ``0`` always stale.
    - ``negative_fresh_for`` (``60.0``): the same for negative entries.
    - ``tier_fresh_for`` (empty): per-tier overrides of both,
      ``{tier_index: (positive, negative)}``.
    - ``op_timeout`` (``30.0``): in ``AsyncCache``, each call to a non-memory
      tier's store is cancelled after this and treated as a tier failure; in
      both, the longest a miss waits on another caller's fetch.
    - ``close_timeout`` (``30.0``): how long :meth:`close` drains background jobs.
    - ``workers`` (``4``), ``worker_queue`` (``500``): the background pool's
      size and queue bound.
    - ``worker_strategy`` (``"pool"``): ``"pool"`` (a bounded queue) or
      ``"all"`` (one task or thread per job).
    - ``worker_timeout`` (``30.0``): a background job is aborted past this.
    - ``chunk_size`` (``65536``): bytes per chunk when the cache copies streams.
    - ``coalesce_wait`` (``5.0``): the longest a concurrent miss waits for the
      leader; ``0`` disables single-flight.
    - ``promotion_probation`` (``0``): when ``N > 0``, a key is promoted only on
      its second lower-tier hit (a FIFO memory of ``N`` keys).
    - ``tag_ttl`` (``1.0``): how long this process trusts a tag version it
      read from the last tier before reading it again (rule Q4); ``0`` reads
      it on every hit of a tagged entry.
    - ``coordination`` (``None``): an :class:`AsyncRedisCoordinator` (in
      ``Cache``, a ``RedisCoordinator``) making this cache one instance of a
      fleet (rules Y1-Y8): one origin fetch per key fleet-wide, and
      ``delete``/``set``/``clear``/``invalidate_tags`` seen by every
      instance's local tiers.  Needs a shared tier (``RedisStore`` or
      ``ObjectStore``); the tiers above the first shared one are local.
    - ``observer`` (``None``): an :class:`Observer` told how each ``get``
      ended and how long it took, and of each tier read and origin fetch
      (for metrics and traces: ``daramjwee.contrib.otel``).  One that raises
      is logged and never breaks a read; ``None`` costs a fresh memory hit
      one ``is None`` test.
    - ``logger`` (``logging.getLogger("daramjwee")``): where logs go.
    """

    @checks_option_names
    def __init__(
        self,
        *,
        stores: Sequence[AsyncStore] | None = None,
        hot_store: AsyncStore | None = None,
        cold_store: AsyncStore | None = None,
        positive_fresh_for: DurationOption | None = None,
        negative_fresh_for: DurationOption | None = 60.0,
        tier_fresh_for: TierFreshFor = NO_TIER_FRESH_FOR,
        op_timeout: DurationOption = 30.0,
        close_timeout: DurationOption = 30.0,
        workers: int = 4,
        worker_queue: int = 500,
        worker_strategy: WorkerStrategy = "pool",
        worker_timeout: DurationOption = 30.0,
        chunk_size: int = 65536,
        coalesce_wait: DurationOption = 5.0,
        promotion_probation: int = 0,
        tag_ttl: DurationOption = 1.0,
        coordination: AsyncRedisCoordinator | None = None,
        observer: Observer | None = None,
        logger: logging.Logger = DEFAULT_LOGGER,
    ) -> None:
        config = Config(
            stores=stores,
            hot_store=hot_store,
            cold_store=cold_store,
            positive_fresh_for=positive_fresh_for,
            negative_fresh_for=negative_fresh_for,
            tier_fresh_for=tier_fresh_for,
            op_timeout=op_timeout,
            close_timeout=close_timeout,
            workers=workers,
            worker_queue=worker_queue,
            worker_strategy=worker_strategy,
            worker_timeout=worker_timeout,
            chunk_size=chunk_size,
            coalesce_wait=coalesce_wait,
            promotion_probation=promotion_probation,
            tag_ttl=tag_ttl,
            coordination=coordination,
            observer=observer,
            logger=logger,
        )
        self._setup(config.validate())

    @classmethod
    def from_config(cls, config: Config) -> AsyncCache:
        """Build a cache from a :class:`Config` (validated here)."""
        cache = cls.__new__(cls)
        cache._setup(config.validate())
        return cache

    def _setup(self, config: Config) -> None:
        # At most 29 instance attributes: on CPython 3.11 an object with 30 or more reads each of them about
        # 3 ns slower (8 reads: 121 ns with 29 attributes, 145 ns with 30), and a memory hit reads a dozen.
        stores: tuple[AsyncStore, ...] = tuple(config.stores or ())
        async_check_flavour(stores)
        self._config = config
        self._stores = stores
        found = tuple(async_capabilities(store) for store in stores)  # rule K4's optional abilities, found once
        self._tiers = tuple(
            async_bound_store_calls(store, abilities, config.op_timeout)
            for store, abilities in zip(stores, found, strict=True)
        )
        self._tier_chain = tuple(enumerate(self._tiers))  # (index, store) pairs: no enumerate() per get
        self._range_getters = tuple(async_bound_range_getter(abilities, config.op_timeout) for abilities in found)
        self._clearers = tuple(abilities.clear for abilities in found)  # rule K5; not bounded by op_timeout
        self._memory_lookup = found[0].lookup
        self._memory_peek = found[0].peek
        self._capacities = tuple(abilities.capacity for abilities in found)
        room = [math.inf if capacity is None else capacity for capacity in self._capacities]
        self._room_above = tuple(max(room[:tier], default=0) for tier in range(len(stores)))
        self._freshness = tuple(config.freshness(tier) for tier in range(len(stores)))
        self._positive_fresh_for_0 = self._freshness[0][0]
        self._logger = config.logger
        self._observer: Observer | None = config.observer
        self._chunk_size = config.chunk_size
        self._stats = StatsRecorder(len(stores))
        self._writes = AsyncWrites(
            self._tiers, stores, self._capacities, self._store_failed, lambda: self._closed, config.chunk_size
        )
        self._probation = Probation(config.promotion_probation) if config.promotion_probation else None
        self._runtime = AsyncBackgroundRunner(
            strategy=config.worker_strategy,
            workers=config.workers,
            queue_size=config.worker_queue,
            job_timeout=config.worker_timeout,
            logger=config.logger,
        )
        self._state_lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self._revalidations: dict[str, _Flight] = {}  # kept apart: a miss's leader may revalidate what it finds
        self._fan_outs = AsyncFanOuts(
            tiers=self._tiers,
            writes=self._writes,
            runtime=self._runtime,
            stats=self._stats,
            logger=config.logger,
            workers=config.workers,
            budget=None if self._capacities[0] is None else max(self._capacities[0], _TRANSIT_FLOOR),
            max_pending=config.worker_queue,
            job_timeout=config.worker_timeout,
        )
        self._refreshing: set[str] = set()
        self._tag_memo = TagMemo(config.tag_ttl)
        self._closed = False
        self._close_done = AsyncEvent()
        self._fleet = self._join_fleet(config.coordination)

    def _join_fleet(self, fleet: object) -> AsyncRedisCoordinator | None:
        """Check ``coordination`` and bind it to this cache (rule Y1); the local tiers end at the first shared one."""
        self._shared_from = len(self._stores)
        if fleet is None:
            return None
        from ._coordinator import AsyncRedisCoordinator  # noqa: PLC0415 (redis, an extra)

        if not isinstance(fleet, AsyncRedisCoordinator):
            wanted = AsyncRedisCoordinator.__name__
            raise ConfigError(
                f"coordination must be a {wanted} (made for this flavour of cache), got {type(fleet).__name__}"
            )
        shared = [tier for tier, store in enumerate(self._stores) if getattr(store, "shared", False) is True]
        if not shared:
            raise ConfigError(
                "coordination needs a tier shared by the fleet (a RedisStore or ObjectStore) for waiting "
                "instances to read what the lease holder fetched; none of the stores is"
            )
        self._shared_from = shared[0]
        fleet.bind(
            apply=self._fleet_apply,
            replay=self._fleet_replay,
            runtime=self._runtime,
            stats=self._stats,
            logger=self._logger,
        )
        return fleet

    @property
    def config(self) -> Config:
        """The validated configuration."""
        return self._config

    @property
    def stores(self) -> tuple[AsyncStore, ...]:
        """The tier chain, fastest first."""
        return self._stores

    def stats(self) -> CacheStats:
        """A snapshot of the cache's counters."""
        return self._stats.snapshot()

    # -- reading -----------------------------------------------------------------

    async def get(
        self,
        key: str,
        fetch: AsyncFetcher,
        *,
        if_none_match: str | None = None,
        revalidate_if: Callable[[Metadata], bool] | None = None,
        max_stale: float | None = None,
        byte_range: ByteRange | None = None,
        tags: Collection[str] | None = None,
    ) -> AsyncResponse:
        """Return the value of ``key`` as a stream, from the fastest tier that has it or from ``fetch``.

        ``fetch(old)`` is called on a miss (``old`` is ``None``) and by
        background refreshes (``old`` is the cached metadata).  The caller owns
        the returned response and must close it.

        ``revalidate_if(metadata)``, when given, is asked about each stored
        positive entry before it is served: ``True`` makes this read
        revalidate the entry with the origin first (``fetch(old=metadata)``),
        as for an entry past its stale-while-revalidate window (an HTTP
        request's ``no-cache`` or ``max-age``, say).  It must not block.
        ``max_stale`` (seconds) lets this read serve an entry that far past
        its stale-while-revalidate window without waiting for the origin (a
        background refresh still runs), unless the entry says
        ``must_revalidate`` (an HTTP request's ``max-stale``).

        With ``byte_range`` (a :class:`ByteRange`), the response serves only
        those bytes and ``response.content_range`` says which, with the
        value's whole length.  A hit reads only the range from its tier and
        promotes nothing; a miss fills the whole value (closing the response
        reads the rest of the origin's body into the fill).  When neither the
        tier nor the origin states the value's length, the whole value is
        served and ``content_range`` is ``None``.

        ``tags`` (a collection of str) are recorded with what a miss or a
        refresh of this call stores (rule Q2), so that :meth:`invalidate_tags`
        of any of them drops it.  A hit serves only an entry whose tags, if
        any, were not invalidated since it was written (rule Q1).

        Raises :class:`NotFound` when the key is known to be missing,
        :class:`RangeNotSatisfiable` when the value has none of
        ``byte_range``, :class:`CacheClosed` after :meth:`close`,
        ``TypeError`` for a bad argument (before anything changes), and
        whatever ``fetch`` raises.
        """
        if self._observer is not None and CURRENT_READ.get() is None:  # the only cost of the hook when unused
            return await self._observed_get(key, fetch, if_none_match, revalidate_if, max_stale, byte_range, tags)
        if self._closed:
            raise CacheClosed("this cache was closed; create a new one")
        if type(key) is not str or not key:
            key = check_key(key)
        if tags is not None:
            tags = check_tags(tags)
        rules = None
        if revalidate_if is not None or max_stale is not None:
            rules = read_rules(revalidate_if, max_stale)
        if byte_range is not None:
            if key[0] == "\x00":
                check_key(key)  # a reserved key (rule Q6); not checked before a fresh tier-0 hit, see below
            if tags:
                fetch = self._tagging(fetch, tags)
            return await get_range(self, key, fetch, if_none_match, byte_range, rules)
        tier0_failed = False
        lookup = self._memory_lookup
        if rules is not None:
            pass  # every hit is checked by the walk
        elif lookup is not None:
            # Tier 0 keeps whole values in memory: a fresh hit needs no coroutine, no reader and no ticket.
            try:
                value, metadata = lookup(key)
            except NotFound:
                pass  # the walk below reads tier 0 again under a write ticket, and counts the miss
            except Exception as error:
                self._store_failed(0, "lookup", key, error)
                tier0_failed = True
            else:
                fresh_for = self._positive_fresh_for_0
                if (
                    type(metadata) is Metadata
                    and not metadata.is_negative
                    and (
                        (fresh_for is None and metadata.fresh_for is None)
                        or not is_stale(metadata, fresh_for, time.time())
                    )
                    and (if_none_match is None or type(if_none_match) is str)
                    and (
                        _TAGS_ATTR not in metadata.attrs
                        or self._tag_memo.valid_until(metadata.attrs[_TAGS_ATTR]) > time.monotonic()
                    )
                ):
                    self._stats.tier0_hit()
                    if self._logger.isEnabledFor(_DEBUG):
                        self._logger.debug("hit in tier %d", 0, extra={"tier": 0, "key": key})
                    if if_none_match is not None and if_none_match_matches(if_none_match, metadata):
                        return AsyncResponse(_NOT_MODIFIED, metadata, 0, EMPTY_READER, None, self._chunk_size)
                    return AsyncBytesResponse(metadata, 0, value, self._chunk_size)
        else:
            # Any other tier 0: a fresh hit needs no write ticket either; anything else is read again under one.
            try:
                response, tier0_failed = await self._fresh_tier0_hit(key, if_none_match)
            except NotFound:
                pass
            else:
                if response is not None:
                    return response
        if key[0] == "\x00":
            # A reserved key (rule Q6) is refused here, not before the hot path: its entry records an
            # attrs[":tags"] that is never current, so no tier-0 hit above served it.
            check_key(key)
        if tags:
            fetch = self._tagging(fetch, tags)
        return await self._get(key, fetch, if_none_match, tier0_failed, rules)

    async def _observed_get(
        self,
        key: str,
        fetch: AsyncFetcher,
        if_none_match: str | None,
        revalidate_if: Callable[[Metadata], bool] | None,
        max_stale: float | None,
        byte_range: ByteRange | None,
        tags: Collection[str] | None,
    ) -> AsyncResponse:
        """:meth:`get`, timed and reported to the observer's ``read_done`` (see :class:`Observer`).

        The read runs with a :class:`ReadNote` as ``CURRENT_READ``, where the
        steps record what its response cannot say (coalesced, revalidated,
        the tier of a negative entry).  A cancelled read is not reported.
        """
        observer = self._observer
        assert observer is not None
        note = ReadNote()
        token = CURRENT_READ.set(note)
        start = time.perf_counter()
        try:
            response = await self.get(
                key,
                fetch,
                if_none_match=if_none_match,
                revalidate_if=revalidate_if,
                max_stale=max_stale,
                byte_range=byte_range,
                tags=tags,
            )
        except Exception as error:
            seconds = time.perf_counter() - start
            CURRENT_READ.reset(token)
            if isinstance(error, NotFound):
                report_read(observer, self._logger, "negative", note.tier, seconds, key)
            else:
                report_read(observer, self._logger, "error", None, seconds, key)
            raise
        except BaseException:
            CURRENT_READ.reset(token)
            raise
        seconds = time.perf_counter() - start
        CURRENT_READ.reset(token)
        outcome = read_outcome(response.source, response.stale, response.coalesced, note)
        report_read(observer, self._logger, outcome, response.source, seconds, key)
        return response

    async def _fresh_tier0_hit(self, key: str, if_none_match: str | None) -> tuple[AsyncResponse | None, bool]:
        """A fresh hit of a tier 0 that is not in memory, served without a write ticket.

        Returns the response and ``False``; or ``None`` and whether tier 0
        failed, when there is no fresh hit to serve this way.  Raises
        :class:`NotFound` when tier 0 lacks the key.  (The in-memory twin of
        this is inline in :meth:`get`, the hot path.)
        """
        entry = await self._open_entry(0, self._tiers[0], key)
        if entry is None:
            return None, True
        reader, metadata = entry
        fresh_for = self._positive_fresh_for_0
        if (
            metadata.is_negative
            or is_stale(metadata, fresh_for, time.time())
            or (if_none_match is not None and type(if_none_match) is not str)
        ):
            await self._discard_reader(0, key, reader)
            return None, False
        self._stats.tier(0, TierStat.HITS)
        if self._logger.isEnabledFor(_DEBUG):
            self._logger.debug("hit in tier %d", 0, extra={"tier": 0, "key": key})
        if if_none_match is not None and if_none_match_matches(if_none_match, metadata):
            await self._discard_reader(0, key, reader)
            return AsyncResponse(_NOT_MODIFIED, metadata, 0, EMPTY_READER, None, self._chunk_size), False
        if type(reader) is AsyncBytesReader:  # a small entry read whole: no reader to go through
            return AsyncBytesResponse(metadata, 0, reader.whole(), self._chunk_size), False
        response = AsyncResponse(
            _OK, metadata, 0, reader, None, self._chunk_size, key=key, store=self._stores[0], failed=self._store_failed
        )
        return response, False

    async def get_bytes(self, key: str, fetch: AsyncFetcher, *, byte_range: ByteRange | None = None) -> bytes:
        """``get`` the whole value (or the ``byte_range`` of it; see :meth:`get`) as bytes."""
        async with await self.get(key, fetch, byte_range=byte_range) as response:
            return await response.read()

    async def _get(
        self,
        key: str,
        fetch: AsyncFetcher,
        if_none_match: str | None,
        tier0_failed: bool,
        rules: ReadRules | None = None,
    ) -> AsyncResponse:
        """Everything but a fresh tier-0 hit, under a write ticket taken before any tier is read.

        A fill, promotion, negative marker or refresh that this read leads to
        writes under that ticket, so a ``set`` or ``delete`` that lands while
        the read is under way fences it (rule G2).  The ticket is ended here
        unless an owner took it over.
        """
        check_read_arguments(fetch, if_none_match)
        if self._fleet is not None:
            self._fleet.start()  # listening before anything local is served this way (rule Y5)
        ticket = self._writes.begin(key)
        try:
            return await self._walk(key, fetch, if_none_match, ticket, tier0_failed, rules)
        finally:
            ticket.end()

    async def _walk(
        self,
        key: str,
        fetch: AsyncFetcher,
        if_none_match: str | None,
        ticket: Ticket,
        tier0_failed: bool,
        rules: ReadRules | None,
    ) -> AsyncResponse:
        """Serve what :meth:`_locate` finds; a miss in every tier goes to the origin."""
        landings = self._fan_outs.landings(key)  # fan-outs of the key landed before the lower tiers were read
        found = await self._locate(key, tier0_failed)
        if found.entry is None:
            return await self._serve_miss(key, fetch, if_none_match, found.failed, ticket, landings, rules)
        reader, metadata = found.entry
        tier, missed = found.tier, found.missed
        return await self._serve_hit(tier, key, reader, metadata, fetch, if_none_match, ticket, missed, rules)

    async def _locate(self, key: str, tier0_failed: bool = False) -> _Found:
        """The one loop over the tiers (rule T1): the first that holds ``key``, or a value in transit.

        Tier 0 is skipped when ``tier0_failed`` (its read already failed).  A
        tier whose read fails is passed (rule T2); after a miss in tier 0, a
        value a fan-out is still copying down is found before the lower tiers
        are read (rule O3).  Counts each tier's hit or miss; reads nothing else.
        """
        missed: list[int] = []
        failed = tier0_failed
        for tier, store in self._tier_chain:
            if not tier and tier0_failed:
                continue
            try:
                entry = await self._open_entry(tier, store, key)
            except NotFound:
                self._stats.tier(tier, TierStat.MISSES)
                missed.append(tier)
                if not tier:  # before the lower tiers: a fan-out landing there leaves transit
                    transit = await self._in_transit(key)
                    if transit is not None:
                        value, metadata, source = transit
                        return _Found(source, (AsyncBytesReader(value), metadata), (), failed)
                continue
            if entry is None:
                failed = True
                continue
            self._stats.tier(tier, TierStat.HITS)
            if self._logger.isEnabledFor(_DEBUG):
                self._logger.debug("hit in tier %d", tier, extra={"tier": tier, "key": key})
            return _Found(tier, entry, missed, failed)
        return _Found(-1, None, missed, failed)

    async def _serve_hit(
        self,
        tier: int,
        key: str,
        reader: AsyncReader,
        metadata: Metadata,
        fetch: AsyncFetcher,
        if_none_match: str | None,
        ticket: Ticket,
        missed: Sequence[int],
        rules: ReadRules | None = None,
    ) -> AsyncResponse:
        """Serve an entry found in ``tier``; ``missed`` are the faster tiers known not to hold the key."""
        positive, negative = self._freshness[tier]
        if metadata.is_negative:
            await self._discard_reader(tier, key, reader)
            self._stats.add(Stat.NEGATIVE_HITS)
            if self._observer is not None:
                noted("negative", tier)
            if is_stale(metadata, negative, time.time()):
                self._refresh_quietly(key, fetch, metadata, ticket.hand_off())
            elif missed:
                await self._writes.write_entry(key, missed, metadata, EMPTY_READER, ticket)
            raise NotFound(key)
        tee = None
        now = time.time()
        stale = is_stale(metadata, positive, now)
        if revalidate_first(rules, metadata, positive, now, stale):
            return await self._revalidate(tier, key, reader, metadata, fetch, if_none_match, ticket, rules)
        try:
            if stale:
                self._stats.add(Stat.STALE_HITS)
                refresh = self._refresh_when_read(key, fetch, metadata)
                tee = AsyncTee(self._writes, key, (), ticket.hand_off(), refresh)
            elif missed:
                tee = await self._promotion(tier, key, reader, metadata, ticket, missed)
            if if_none_match is not None and if_none_match_matches(if_none_match, metadata):
                await self._discard_reader(tier, key, reader)
                if tee is not None:
                    await tee.abort()
                return AsyncResponse(_NOT_MODIFIED, metadata, tier, EMPTY_READER, None, self._chunk_size, stale=stale)
        except BaseException:
            await async_shielded(self._discard_reader(tier, key, reader))
            if tee is not None:
                await tee.abort()
            raise
        return AsyncResponse(
            _OK,
            metadata,
            tier,
            reader,
            tee,
            self._chunk_size,
            stale=stale,
            key=key,
            store=self._stores[tier],
            failed=self._store_failed,
        )

    async def _promotion(
        self, tier: int, key: str, reader: AsyncReader, metadata: Metadata, ticket: Ticket, missed: Sequence[int]
    ) -> AsyncTee | None:
        """Open sinks on the faster tiers that missed, for a streaming promotion (``None`` if none opened).

        The value's size is what ``reader`` says remains (its ``remaining``),
        else what ``metadata`` declares; a value no faster tier can hold
        opens no sink.  A faster tier whose read failed is not written: its
        content is unknown, and it may hold a newer value.
        """
        size = getattr(reader, "remaining", None)
        if size is None:
            size = metadata.declared_length
        if size is not None and size > self._room_above[tier]:
            return None  # no faster tier can hold it
        if self._probation is not None and not self._probation.admit(key):
            return None
        targets = await self._writes.open_sinks(key, missed, metadata, size)
        if not targets:
            return None
        return AsyncTee(self._writes, key, targets, ticket.hand_off(), self._promoted(tier, key))

    async def _revalidate(
        self,
        tier: int,
        key: str,
        reader: AsyncReader,
        stored: Metadata,
        fetch: AsyncFetcher,
        if_none_match: str | None,
        ticket: Ticket,
        rules: ReadRules | None,
    ) -> AsyncResponse:
        """Answer with an entry that may not be served before the origin confirms it; one revalidation per key.

        Concurrent reads of the key wait for the read that revalidates it
        first (within ``coalesce_wait``) and serve what it published; when it
        published nothing, or the wait runs out, each revalidates for itself.
        """
        if self._config.coalesce_wait:
            flight, done = self._join_flight(self._revalidations, key)
            if done is None:
                return await self._revalidate_now(tier, key, reader, stored, fetch, if_none_match, ticket, flight)
            self._stats.add(Stat.COALESCED_WAITERS)
            if await done.wait(self._config.coalesce_wait) and flight.published:
                try:
                    response = await self._top_hit(key, fetch, if_none_match, flight.tier, ticket, (), rules)
                except BaseException:
                    await async_shielded(self._discard_reader(tier, key, reader))
                    raise
                if response is not None:
                    await self._discard_reader(tier, key, reader)
                    response._coalesced = True
                    return response
        return await self._revalidate_now(tier, key, reader, stored, fetch, if_none_match, ticket, None)

    async def _revalidate_now(
        self,
        tier: int,
        key: str,
        reader: AsyncReader,
        stored: Metadata,
        fetch: AsyncFetcher,
        if_none_match: str | None,
        ticket: Ticket,
        flight: _Flight | None,
    ) -> AsyncResponse:
        """Revalidate ``stored`` with the origin and answer; lands ``flight`` on every path.

        The origin is asked with ``stored`` as ``old`` while ``reader`` (the
        stored body) stays open.  ``NotModified`` re-stamps the entry in tier
        0 (with the metadata the 304 carried, if any) and serves ``reader``
        as a fresh hit; a new value is filled and served like a miss's; a
        missing key stores a negative entry and raises :class:`NotFound`; a
        failure serves ``reader`` (``stale=True``) inside the entry's
        ``stale_if_error`` window, else is raised.  ``reader`` is closed on
        every path that does not hand it to the response.
        """
        self._stats.add(Stat.REVALIDATIONS)
        served = False
        try:
            try:
                result = await self._call_fetcher(key, fetch, stored)
            except NotModified as validated:
                updated = _updated(validated, stored)
                deadline = time.monotonic() + self._config.op_timeout
                touched = await self._touch(key, stored, ticket, deadline, updated)
                if flight is not None:
                    flight.tier = 0
                self._land(key, flight, bool(touched.tiers))
                if self._observer is not None:
                    noted("revalidated", tier)
                served = True
                fresh = with_cached_at(stored if updated is None else updated, time.time())
                return await self._serve_stored(tier, key, reader, fresh, if_none_match, stale=False)
            except CacheableNotFound:
                await self._store_negative(key, ticket)
                raise NotFound(key) from None
            except Exception as error:
                if not may_serve_on_error(stored, self._freshness[tier][0], time.time()):
                    raise
                self._stats.add(Stat.STALE_IF_ERROR_HITS)
                self._logger.warning(
                    "revalidation of %r failed, serving the stale entry (stale-if-error): %r",
                    key,
                    error,
                    extra={"key": key, "tier": tier},
                )
                self._land(key, flight, False)
                served = True
                return await self._serve_stored(tier, key, reader, stored, if_none_match, stale=True)
        except BaseException:
            self._land(key, flight, False)
            raise
        finally:
            if not served:
                await async_shielded(self._discard_reader(tier, key, reader))
        return await self._fill(key, result, if_none_match, flight, ticket)

    async def _serve_stored(
        self, tier: int, key: str, reader: AsyncReader, metadata: Metadata, if_none_match: str | None, *, stale: bool
    ) -> AsyncResponse:
        """A response over an entry ``reader`` of ``tier``, copying nothing (the caller decided what to write)."""
        if if_none_match is not None and if_none_match_matches(if_none_match, metadata):
            await self._discard_reader(tier, key, reader)
            return AsyncResponse(_NOT_MODIFIED, metadata, tier, EMPTY_READER, None, self._chunk_size, stale=stale)
        return AsyncResponse(
            _OK,
            metadata,
            tier,
            reader,
            None,
            self._chunk_size,
            stale=stale,
            key=key,
            store=self._stores[tier],
            failed=self._store_failed,
        )

    def _promoted(self, tier: int, key: str) -> OnDone:
        async def promoted(published: Published, ticket: Ticket) -> None:
            tiers = published.tiers
            for upper in tiers:
                self._stats.tier(upper, TierStat.PROMOTIONS)
            if tiers and self._logger.isEnabledFor(_DEBUG):
                self._logger.debug("promoted from tier %d to %s", tier, tiers, extra={"tier": tier, "key": key})

        return promoted

    async def _serve_miss(
        self,
        key: str,
        fetch: AsyncFetcher,
        if_none_match: str | None,
        walk_failed: bool,
        ticket: Ticket,
        landings: int,
        rules: ReadRules | None,
    ) -> AsyncResponse:
        """A miss in every tier: fetch once per key (single-flight, rule S1) and fill."""
        if self._logger.isEnabledFor(_DEBUG):
            self._logger.debug("miss in every tier", extra={"key": key})
        if walk_failed or not self._config.coalesce_wait:
            return await self._fetch(key, fetch, if_none_match, None, ticket)
        deadline = time.monotonic() + self._config.op_timeout
        while True:
            flight, done = self._join_flight(self._flights, key)
            if done is None:
                return await self._lead(key, fetch, if_none_match, flight, ticket, landings, rules)
            self._stats.add(Stat.COALESCED_WAITERS)
            remaining = deadline - time.monotonic()
            if not await done.wait(min(self._config.coalesce_wait, remaining)):
                self._forget_flight(key, flight)
                return await self._fetch_uncached(key, fetch, if_none_match)
            if flight.published:
                response = await self._top_hit(key, fetch, if_none_match, flight.tier, ticket, (), rules)
                if response is not None:
                    response._coalesced = True
                    return response
            if time.monotonic() >= deadline:
                return await self._fetch_uncached(key, fetch, if_none_match)

    async def _lead(
        self,
        key: str,
        fetch: AsyncFetcher,
        if_none_match: str | None,
        flight: _Flight,
        ticket: Ticket,
        landings: int,
        rules: ReadRules | None,
    ) -> AsyncResponse:
        """Fetch as the leader, unless the value arrived since the walk missed it.

        A flight that just landed filled tier 0; a value may be in transit;
        and if a fan-out landed since the walk read the lower tiers, they are
        read again.  The flight lands on every path: by the fill when it
        ends, else here.
        """
        try:
            response = await self._top_hit(key, fetch, if_none_match, 0, ticket, (), rules)
            if response is None:
                response = await self._transit_hit(key, fetch, if_none_match, ticket, rules)
            if response is None and self._fan_outs.landings(key) != landings:
                for tier in range(1, len(self._tiers)):
                    response = await self._top_hit(key, fetch, if_none_match, tier, ticket, (0,), rules)
                    if response is not None:
                        break
            if response is None and self._fleet is not None:
                response = await self._fleet_miss(key, fetch, if_none_match, flight, ticket, rules)
            if response is None:
                return await self._fetch(key, fetch, if_none_match, flight, ticket)
        except BaseException:
            self._land(key, flight, False)
            raise
        self._land(key, flight, True)
        return response

    async def _fleet_miss(
        self,
        key: str,
        fetch: AsyncFetcher,
        if_none_match: str | None,
        flight: _Flight,
        ticket: Ticket,
        rules: ReadRules | None,
    ) -> AsyncResponse | None:
        """A miss this process leads, in the fleet (rules Y2-Y4): ``None`` when this process should fetch.

        Claims the key's lease: if taken here, it goes with ``flight`` to the
        fill (``None`` is returned); if another instance holds it, waits for
        its word (at most ``coalesce_wait`` in all) and serves the value from
        the shared tiers; when the word is a failure or none comes within a
        poll, claims again (so one waiter takes over an expired lease).
        Redis unavailable: ``None`` (this process fetches, rule Y7).  A wait
        that runs out, or a value the holder could not cache, is fetched for
        this caller alone.
        """
        fleet = self._fleet
        assert fleet is not None
        deadline = time.monotonic() + min(self._config.coalesce_wait, self._config.op_timeout)
        force = False
        waited = False
        while True:
            claim = await fleet.claim(key, force=force)
            try:
                if claim.kind == LEASE:
                    flight.lease = claim.lease
                    self._stats.add(Stat.FLEET_LEASES)
                    return None
                if claim.kind == WAIT:
                    if not waited:
                        waited = True
                        self._stats.add(Stat.FLEET_WAITS)
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return await self._fetch_uncached(key, fetch, if_none_match)
                    word = await claim.wait(min(remaining, fleet.poll))
                    if word == UNCACHED:
                        return await self._fetch_uncached(key, fetch, if_none_match)
                    if word != PUBLISHED:
                        continue  # failed, or no word yet: claim again
                elif claim.kind != CACHED:
                    return None  # unavailable
            finally:
                claim.close()
            response = await self._shared_hit(key, fetch, if_none_match, ticket, rules, flight)
            if response is not None:
                self._stats.add(Stat.FLEET_SHARED_HITS)
                if waited:
                    response._coalesced = True
                return response
            force = True  # published, yet not in the shared tiers (evicted, deleted): claim the lease itself

    async def _shared_hit(
        self,
        key: str,
        fetch: AsyncFetcher,
        if_none_match: str | None,
        ticket: Ticket,
        rules: ReadRules | None,
        flight: _Flight,
    ) -> AsyncResponse | None:
        """Serve ``key`` from the first shared tier that has it, promoting it into the faster ones; else ``None``."""
        for tier in range(self._shared_from, len(self._tiers)):
            response = await self._top_hit(key, fetch, if_none_match, tier, ticket, tuple(range(tier)), rules)
            if response is not None:
                flight.tier = tier  # this process's waiters read it there too
                return response
        return None

    async def _top_hit(
        self,
        key: str,
        fetch: AsyncFetcher,
        if_none_match: str | None,
        tier: int,
        ticket: Ticket,
        missed: Sequence[int] = (),
        rules: ReadRules | None = None,
    ) -> AsyncResponse | None:
        """Serve ``key`` from ``tier`` as it is now; ``None`` if it lacks it or fails.

        ``missed`` are the faster tiers known to lack it (a promotion may fill them).
        """
        try:
            entry = await self._open_entry(tier, self._tiers[tier], key)
        except NotFound:
            return None
        if entry is None:
            return None
        self._stats.tier(tier, TierStat.HITS)
        return await self._serve_hit(tier, key, entry[0], entry[1], fetch, if_none_match, ticket, missed, rules)

    async def _open_entry(self, tier: int, store: AsyncStore, key: str) -> tuple[AsyncReader, Metadata] | None:
        """Open ``key`` in ``tier`` and read its first chunk ahead, so that a failure there still falls through.

        Raises :class:`NotFound` when the tier lacks the key; returns ``None``
        (after logging) when the tier failed or broke its contract.  A reader
        with ``read_ahead = False`` (see the reader protocol in ``_store``) is not read ahead.
        With an observer, the read is one of its ``tier_read`` probes.
        """
        observer = self._observer
        if observer is None:
            return await self._read_entry(tier, store, key)
        probe = start_tier_read(observer, self._logger, tier, self._stores[tier], key)
        try:
            entry = await self._read_entry(tier, store, key)
        except NotFound:
            end_probe(probe, self._logger, "miss")
            raise
        except BaseException as error:
            end_probe(probe, self._logger, "error", error)
            raise
        if entry is None:
            end_probe(probe, self._logger, "error")
        else:
            end_probe(probe, self._logger, "negative" if entry[1].is_negative else "hit")
        return entry

    async def _read_entry(self, tier: int, store: AsyncStore, key: str) -> tuple[AsyncReader, Metadata] | None:
        """:meth:`_open_entry` unobserved."""
        try:
            reader, metadata = await store.get_stream(key)
        except NotFound:
            raise
        except Exception as error:
            self._store_failed(tier, "get_stream", key, error)
            return None
        if type(metadata) is not Metadata:
            await self._discard_reader(tier, key, reader)
            self._store_failed(tier, "get_stream", key, StoreContractError(f"returned {metadata!r} as metadata"))
            return None
        if _TAGS_ATTR in metadata.attrs and not await self._tags_current(metadata):
            await self._discard_reader(tier, key, reader)
            raise NotFound(key)  # an invalidated tag: as if the tier lacked the key (rule Q1)
        if not getattr(reader, "read_ahead", True) or metadata.is_negative:
            return reader, metadata
        read = await self._read_ahead(tier, key, reader)
        return None if read is None else (read, metadata)

    async def _read_ahead(self, tier: int, key: str, reader: AsyncReader) -> AsyncReader | None:
        """``reader`` with its first chunk read already, so that a failure there falls through to the next tier.

        ``None`` when that read failed: the failure is logged and counted and
        the reader discarded.
        """
        try:
            first = await reader.read(self._chunk_size)
        except Exception as error:
            await self._discard_reader(tier, key, reader)
            self._store_failed(tier, "read", key, error)
            return None
        except BaseException:
            await async_shielded(reader.aclose())
            raise
        return AsyncPrefixedReader(first, reader)

    def _join_flight(self, flights: dict[str, _Flight], key: str) -> tuple[_Flight, AsyncEvent | None]:
        """The flight of ``key`` in ``flights`` and the event to wait on; ``None`` when this caller leads a new one."""
        with self._state_lock:
            flight = flights.get(key)
            if flight is None:
                flight = flights[key] = _Flight()
                return flight, None
            done = flight.done
            if done is None:
                done = flight.done = AsyncEvent()
            return flight, done

    def _forget_flight(self, key: str, flight: _Flight) -> None:
        with self._state_lock:
            if self._flights.get(key) is flight:
                del self._flights[key]

    def _land(self, key: str, flight: _Flight | None, published: bool) -> None:
        """Resolve a flight once: wake its waiters and let the next miss lead a new one.  Idempotent."""
        if flight is None:
            return
        with self._state_lock:
            if flight.landed:
                return
            flight.landed = True
            if self._flights.get(key) is flight:
                del self._flights[key]
            elif self._revalidations.get(key) is flight:
                del self._revalidations[key]
            flight.published = published
            done = flight.done
            lease, flight.lease = flight.lease, None
        if lease is not None:  # not handed to a fan-out: nothing of this flight reaches the shared tiers
            lease.end(FAILED)
        if done is not None:
            done.set()

    @staticmethod
    def _end_lease(flight: _Flight | None, outcome: str) -> None:
        """End the fleet lease ``flight`` holds, if any, with ``outcome`` (rule Y3)."""
        if flight is not None and flight.lease is not None:
            lease, flight.lease = flight.lease, None
            lease.end(outcome)

    def _take_lease(self, flight: _Flight | None) -> Landed | None:
        """The fleet lease ``flight`` holds, as a fan-out's ``landed`` (rule Y3); the flight no longer owns it.

        The lease ends ``published`` when a shared tier holds the value once
        the copy ended, ``uncached`` when only local tiers do (the waiters
        fetch for themselves), ``failed`` when none does.
        """
        if flight is None or flight.lease is None:
            return None
        lease, flight.lease = flight.lease, None

        def landed(tiers: tuple[int, ...]) -> None:
            if self._holds_shared(tiers):
                lease.end(PUBLISHED)
            else:
                lease.end(UNCACHED if tiers else FAILED)

        return landed

    async def _fetch(
        self, key: str, fetch: AsyncFetcher, if_none_match: str | None, flight: _Flight | None, ticket: Ticket
    ) -> AsyncResponse:
        """Fetch from the origin and stream the body while filling tier 0 (rule M1).

        A body whose length the origin declared (``attrs["content-length"]``)
        and that tier 0 cannot hold fills the first tier that can; the
        fan-out then copies it from there to the tiers below.  ``flight``
        lands on every path: through the fill once it ends, else here.
        """
        try:
            try:
                result = await self._call_fetcher(key, fetch, None)
            except NotModified:
                raise _not_modified_on_miss(key) from None
            except CacheableNotFound:
                self._land(key, flight, await self._store_negative(key, ticket, self._take_lease(flight)))
                raise NotFound(key) from None
        except BaseException:
            self._land(key, flight, False)  # no effect when landed above
            raise
        return await self._fill(key, result, if_none_match, flight, ticket)

    async def _call_fetcher(self, key: str, fetch: AsyncFetcher, old: Metadata | None) -> FetchResult:
        """``fetch(old)``, counted and checked (rule A5); with an observer, inside one of its ``origin_fetch`` probes.

        While the fetcher runs, ``CURRENT_READ`` is ``None``: a ``get`` the
        fetcher makes of this cache is observed as a read of its own.
        """
        self._stats.add(Stat.ORIGIN_FETCHES)
        observer = self._observer
        if observer is None:
            return await async_call_fetcher(fetch, old)
        probe = start_origin_fetch(observer, self._logger, key, old is not None)
        token = CURRENT_READ.set(None)
        try:
            result = await async_call_fetcher(fetch, old)
        except BaseException as error:
            CURRENT_READ.reset(token)
            end_probe(probe, self._logger, *fetch_failure(error))
            raise
        CURRENT_READ.reset(token)
        end_probe(probe, self._logger, "ok")
        return result

    async def _fill(
        self, key: str, result: FetchResult, if_none_match: str | None, flight: _Flight | None, ticket: Ticket
    ) -> AsyncResponse:
        """Stream the origin's ``result`` to the caller while filling a tier; lands ``flight`` on every path.

        Through the fill once it ends, else here; a result that says
        ``store=False`` fills nothing.
        """
        try:
            metadata = _origin_metadata(result.metadata)
            body = async_open_body(result.body)
            if not result.store:
                self._end_lease(flight, UNCACHED)  # the other instances fetch for themselves (rule Y3)
                return self._origin_response(metadata, body, if_none_match)
            fill = self._fill_tier(metadata)
            if flight is not None:
                flight.tier = fill
            tiers = self._written_by(fill, leased=flight is not None and flight.lease is not None)
            try:
                targets = await self._writes.open_sinks(key, tiers, metadata)
            except BaseException:
                await async_shielded(body.aclose())
                raise
            if not targets:
                self._end_lease(flight, UNCACHED)  # no tier can hold it: the other instances fetch for themselves
                return self._origin_response(metadata, body, if_none_match)
            tee = AsyncTee(
                self._writes,
                key,
                targets,
                ticket.hand_off(),
                self._filled(key, flight, metadata),
                metadata=metadata,
                spill=range(fill + 1, len(self._stores)),
                keep=self._capacities[fill] or 0,
            )
            flight = None  # the fill lands it
            self._stats.add(Stat.FILLS_STARTED)
            if if_none_match is not None and if_none_match_matches(if_none_match, metadata):
                await tee.drain(body, self._chunk_size)
                return AsyncResponse(_NOT_MODIFIED, metadata, None, EMPTY_READER, None, self._chunk_size)
            return AsyncResponse(_OK, metadata, None, body, tee, self._chunk_size)
        finally:
            self._land(key, flight, False)  # no effect once the fill took it over

    def _filled(self, key: str, flight: _Flight | None, metadata: Metadata) -> OnDone:
        async def filled(published: Published, ticket: Ticket) -> None:
            if published.tiers:
                self._stats.add(Stat.FILLS_PUBLISHED)
                source = published.tiers[0]  # the fill tier, or the one it spilled into
                if flight is not None:
                    flight.tier = source
                # In transit before the flight lands: a waiter that finds tier 0 has dropped it already finds it there.
                landed = self._take_lease(flight)
                self._fan_out_rest(key, ticket, published, metadata, landed)
                self._land(key, flight, True)
            else:
                self._stats.add(Stat.FILLS_ABORTED)
                self._land(key, flight, False)

        return filled

    async def _fetch_uncached(self, key: str, fetch: AsyncFetcher, if_none_match: str | None) -> AsyncResponse:
        """Fetch for this caller alone, caching nothing (a coalesced wait ran out)."""
        try:
            result = await self._call_fetcher(key, fetch, None)
        except NotModified:
            raise _not_modified_on_miss(key) from None
        except CacheableNotFound:
            raise NotFound(key) from None
        return self._origin_response(_origin_metadata(result.metadata), async_open_body(result.body), if_none_match)

    def _origin_response(self, metadata: Metadata, body: AsyncReader, if_none_match: str | None) -> AsyncResponse:
        if if_none_match is not None and if_none_match_matches(if_none_match, metadata):
            return AsyncResponse(_NOT_MODIFIED, metadata, None, body, None, self._chunk_size)
        return AsyncResponse(_OK, metadata, None, body, None, self._chunk_size)

    # -- writing -------------------------------------------------------------------

    def set(self, key: str, metadata: Metadata | None = None, *, tags: Collection[str] | None = None) -> AsyncWriter:
        """Start writing ``key`` into tier 0: ``with cache.set(key) as w: w.write(...)``.

        On ``AsyncCache``: ``async with cache.set(key) as w: await w.write(...)``.

        The value is published when the writer commits, then copied to the lower
        tiers in the background.  ``metadata`` is never mutated; the stored copy
        gets ``cached_at`` set to the time the write began.  Raises
        :class:`TierError` if tier 0 cannot open a writer (no other tier is
        tried); such a ``set`` changes nothing, and fences no other write.
        ``tags`` (a collection of str) are recorded with the value, at the
        versions they have when the writer opens (rule Q2).
        """
        if self._closed:
            raise CacheClosed("this cache was closed; create a new one")
        key = check_key(key)
        if metadata is None:
            metadata = _EMPTY_METADATA
        elif not isinstance(metadata, Metadata):
            raise TypeError(f"metadata must be daramjwee.Metadata or None, got {type(metadata).__name__}")
        return AsyncWriter(self, key, metadata, None if tags is None else check_tags(tags))

    async def set_bytes(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        metadata: Metadata | None = None,
        *,
        tags: Collection[str] | None = None,
    ) -> None:
        """Store ``data`` as the value of ``key`` (``tags`` as for :meth:`set`)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"set_bytes needs bytes, bytearray or memoryview, got {type(data).__name__}")
        async with self.set(key, metadata, tags=tags) as writer:
            await writer.write(data)

    async def _begin_set(
        self, key: str, metadata: Metadata, tags: tuple[str, ...] | None = None
    ) -> tuple[AsyncSink, Ticket, Metadata]:
        """Open a ``set``: its tier-0 sink, its ticket, and the metadata stored (stamped now, tags recorded)."""
        if tags:
            metadata = _with_tags(metadata, await self._current_versions(tags, create=True))
        stored = with_cached_at(metadata, time.time())
        sink, ticket = await self._writes.begin_set(key, stored)
        return sink, ticket, stored

    async def _finish_set(self, key: str, sink: AsyncSink, ticket: Ticket, stored: Metadata) -> bool:
        """Publish a ``set`` and schedule its fan-out; owns ``ticket``."""
        follow_up = await self._writes.finish_set(key, sink, ticket)
        if follow_up is None:
            return False
        fleet = self._fleet
        landed = None if fleet is None else lambda _tiers: fleet.invalidate_later(KEY, key)  # once shared (rule Y5)
        self._schedule_fan_out(key, follow_up, 0, committed_value(sink), stored, landed)
        return True

    async def _abort_set(self, key: str, sink: AsyncSink, ticket: Ticket) -> None:
        try:
            await self._writes.abort_sink(0, key, sink)
        finally:
            ticket.end()

    async def delete(self, key: str) -> None:
        """Remove ``key`` from every tier, the last tier first.

        Every tier is tried even after failures; then the first failure is
        raised as :class:`TierError`.  A missing key is not an error.  Writes of
        the key that began earlier can no longer publish.
        """
        if self._closed:
            raise CacheClosed("this cache was closed; create a new one")
        key = check_key(key)
        failure = await self._writes.delete(key)
        if self._fleet is not None:
            await self._fleet.invalidate(KEY, key)  # rule Y5; kept and sent later while Redis is away (rule Y7)
        if failure is not None:
            raise failure

    async def _store_negative(self, key: str, ticket: Ticket, landed: Landed | None = None) -> bool:
        """Write a negative entry to tier 0 under ``ticket`` and fan it out; True if a tier published it.

        With ``landed`` (a fleet lease), the first shared tier is written too,
        and ``landed`` is told where the entry is once it is shared (rule Y3).
        """
        metadata = with_cached_at(NEGATIVE, time.time())
        fan_out = self._fan_out_when_published(key, metadata, landed)
        tiers = self._written_by(0, leased=landed is not None)
        return bool((await self._writes.write_entry(key, tiers, metadata, EMPTY_READER, ticket, on_done=fan_out)).tiers)

    def _written_by(self, tier: int, *, leased: bool) -> tuple[int, ...]:
        """The tiers a miss's write into ``tier`` goes to: with a fleet lease, the first shared tier too.

        So the value is shared when the write ends, and the lease can end then (rule Y3).
        """
        return (tier, self._shared_from) if leased and tier < self._shared_from else (tier,)

    def _holds_shared(self, tiers: tuple[int, ...]) -> bool:
        """Whether any of ``tiers`` is shared by the fleet (rule Y1)."""
        return any(tier >= self._shared_from for tier in tiers)

    def _fan_out_rest(
        self, key: str, ticket: Ticket, published: Published, metadata: Metadata | None, landed: Landed | None
    ) -> None:
        """After a write published in ``published.tiers``: copy it to the other lower tiers; owns ``ticket``.

        A fleet lease (``landed``) ends now if a shared tier is among those
        tiers, so the waiting instances read it at once; else when the copy ends.
        """
        if landed is not None and self._holds_shared(published.tiers):
            landed(published.tiers)
            landed = None
        source, *written = published.tiers
        self._schedule_fan_out(key, ticket.hand_off(), source, published.value, metadata, landed, tuple(written))

    def _fan_out_when_published(self, key: str, metadata: Metadata | None, landed: Landed | None = None) -> OnDone:
        """An ``on_done`` that fans out what a write published, in the same step as its publish.

        So the fan-out is scheduled even if the task that wrote is cancelled
        while the publish runs (it runs shielded).  ``metadata`` is what was
        stored, ``None`` if only the tier knows it; ``landed`` goes with the
        fan-out (see :meth:`AsyncFanOuts.schedule`).
        """

        async def fan_out(published: Published, ticket: Ticket) -> None:
            if published.tiers:
                self._fan_out_rest(key, ticket, published, metadata, landed)
            elif landed is not None:
                landed(())

        return fan_out

    async def _touch(
        self, key: str, validated: Metadata, ticket: Ticket, deadline: float, updated: Metadata | None = None
    ) -> Published:
        """Re-stamp the entry the origin just validated (a 304): copy it into tier 0 with ``cached_at=now``.

        ``updated`` is the metadata the origin sent with its 304 (stored
        instead of the old one), ``None`` to keep it.

        Only that exact entry: if the fastest copy is no longer the one whose
        metadata was ``validated`` (it changed, or became negative or
        positive meanwhile), nothing is written.  Returns how the re-stamped
        copy was published (no tiers when it was not).
        """
        for tier, store in self._tier_chain:
            try:
                reader, metadata = await store.get_stream(key)
            except NotFound:
                continue
            except Exception as error:
                self._store_failed(tier, "get_stream", key, error)
                continue
            if metadata != validated:
                await self._discard_reader(tier, key, reader)
                return _NOTHING
            fresh = with_cached_at(metadata if updated is None else updated, time.time())
            fan_out = self._fan_out_when_published(key, fresh)
            return await self._writes.write_entry(key, (0,), fresh, reader, ticket, deadline, on_done=fan_out)
        return _NOTHING

    # -- Python values (rules V1-V5) ---------------------------------------------
    # get_value and set_value are the byte path with a serializer at each end: everything about
    # flights, freshness, negative entries and fan-outs is get's and set's (daramjwee/_values.py holds the rest).

    async def get_value(
        self,
        key: str,
        loader: Callable[[], Awaitable[_T]],
        *,
        serializer: Serializer[_T] = DEFAULT_SERIALIZER,
        metadata: Metadata | None = None,
        tags: Collection[str] | None = None,
    ) -> _T:
        """The Python value of ``key``: from the fastest tier that has it, else ``loader()``'s, stored.

        On ``AsyncCache`` ``loader`` is an async function, on ``Cache`` a
        plain one; it takes no arguments and returns the value, which
        ``serializer`` (JSON unless given: :data:`daramjwee.serializers.DEFAULT_SERIALIZER`)
        turns into the stored bytes.  ``metadata`` (freshness, attrs) is
        stored with every value the loader returns.  ``loader`` is called as
        ``get``'s fetcher is: once for concurrent misses of the key, again by
        refreshes of a stale entry; raising :class:`CacheableNotFound` stores
        a negative entry and raises :class:`NotFound`.  ``tags`` are recorded
        with every value the loader returns, as by :meth:`get` (rule Q2).

        An entry that another serializer wrote, or whose bytes do not decode,
        is treated as a miss: the loader's value replaces it, once.  Raises
        :class:`DecodeError` when that new value does not decode either, and
        whatever ``get`` raises.
        """
        if self._closed:
            raise CacheClosed("this cache was closed; create a new one")
        key = check_key(key)
        check_serializer(serializer)
        if not callable(loader):
            raise TypeError(f"loader must be a callable loader() -> value, got {type(loader).__name__}")
        check_metadata(metadata)  # what is stored is built only when the loader runs: a hit never pays for it
        if tags is not None:
            tags = check_tags(tags)

        async def fetch(old: Metadata | None) -> FetchResult:
            data = encode(serializer, await async_call_loader(loader))
            return FetchResult(data, with_length(tagged(serializer, metadata), len(data)))

        async with await self.get(key, fetch, tags=tags) as response:
            data = await response.read()
        try:
            return decode(serializer, key, data, response.metadata)
        except DecodeError as error:
            if response.source is None:
                raise  # the loader's own value: this serializer cannot read what it wrote
            self._logger.warning("reloading %r: %s", key, error, extra={"key": key, "tier": response.source})
        undecodable = response.metadata

        def reload(entry: Metadata) -> bool:
            """Revalidate (through the loader) the entry that failed, or any other serializer's."""
            return entry == undecodable or entry.attrs.get(SERIALIZER_ATTR) != serializer.name

        async with await self.get(key, fetch, revalidate_if=reload, tags=tags) as response:
            data = await response.read()
        return decode(serializer, key, data, response.metadata)

    async def set_value(
        self,
        key: str,
        value: _T,
        *,
        serializer: Serializer[_T] = DEFAULT_SERIALIZER,
        metadata: Metadata | None = None,
        tags: Collection[str] | None = None,
    ) -> None:
        """Store ``serializer.dumps(value)`` (JSON unless given) as the value of ``key``, like :meth:`set_bytes`."""
        if self._closed:
            raise CacheClosed("this cache was closed; create a new one")
        key = check_key(key)
        check_serializer(serializer)
        if tags is not None:
            tags = check_tags(tags)
        stored = tagged(serializer, metadata)
        data = encode(serializer, value)
        await self.set_bytes(key, data, with_length(stored, len(data)), tags=tags)

    # -- Tags (rules Q1-Q8) -----------------------------------------------------------
    # A tag's version is the etag of an empty entry under a reserved key (tag_key) in the last tier, the one
    # shared by every cache over it; this process keeps what it read for tag_ttl (TagMemo).  A tagged entry
    # records its tags' versions (attrs[":tags"]) when its write began; reads serve it only while they match.

    async def invalidate_tags(self, *tags: str) -> None:
        """Drop every entry carrying any of ``tags`` that was written before this call (rule Q1).

        Each tag gets a new version, written to the last tier (rule Q3): from
        the moment it lands, this cache and every cache sharing that tier
        (within their ``tag_ttl``, rule Q4) treat those entries as misses:
        ``get`` and ``get_value`` refetch, ``peek`` answers ``None``,
        ``contains`` false.  Nothing is deleted; the entries are replaced by
        the next fill or evicted.  No tags: nothing happens.

        Raises ``TypeError``/``ValueError`` for a bad tag before anything is
        written (rule Q7), :class:`TierError` when the last tier could not
        store a version (then the invalidation may not have happened), and
        :class:`CacheClosed` after :meth:`close`.
        """
        if self._closed:
            raise CacheClosed("this cache was closed; create a new one")
        checked = check_tags(tags)
        if not checked:
            return
        try:
            await self._write_versions({tag: new_version(time.time_ns()) for tag in checked})
        finally:
            if self._fleet is not None:
                await self._fleet.invalidate(TAGS, encode_tag_list(checked))  # rule Y5: no instance waits out tag_ttl

    def _tagging(self, fetch: AsyncFetcher, tags: tuple[str, ...]) -> AsyncFetcher:
        """``fetch``, recording with what it returns the versions ``tags`` had before it was called (rule Q2)."""
        check_read_arguments(fetch, None)

        async def tagged_fetch(old: Metadata | None) -> FetchResult:
            versions = await self._current_versions(tags, create=True)
            try:
                result = await async_call_fetcher(fetch, old)
            except NotModified as validated:
                if isinstance(validated.metadata, Metadata) and not validated.metadata.is_negative:
                    validated.metadata = _with_tags(validated.metadata, versions)
                raise
            metadata = _EMPTY_METADATA if result.metadata is None else result.metadata
            return FetchResult(result.body, _with_tags(metadata, versions), store=result.store)

        return tagged_fetch

    async def _tags_current(self, metadata: Metadata) -> bool:
        """Whether every tag version ``metadata`` recorded is still current (rule Q1)."""
        recorded = metadata.attrs[_TAGS_ATTR]
        memo = self._tag_memo
        if memo.valid_until(recorded) > time.monotonic():
            return True
        versions = decode_tags(recorded)
        if versions is None:
            return False
        epoch = memo.epoch()
        current = await self._current_versions(versions, create=False)
        if any(current[tag] != version for tag, version in versions.items()):
            return False
        memo.found_current(recorded, memo.until(versions), epoch)
        return True

    async def _current_versions(self, tags: Collection[str], *, create: bool) -> dict[str, str]:
        """The current version of each of ``tags``: from the memo, else from the last tier (rules Q3-Q5).

        A tag no tier holds is ``MISSING``, or with ``create`` gets a new
        version (written as by :meth:`invalidate_tags`; ``MISSING`` if that
        fails).  A tier failure is logged and counted; the tag is ``MISSING``.
        """
        memo = self._tag_memo
        now = time.monotonic()
        found, unknown = memo.known(tags, now)
        if not unknown:
            return found
        epoch = memo.epoch()
        tier = len(self._tiers) - 1  # where tag versions live (rule Q3)
        store = self._tiers[tier]
        read: dict[str, str] = {}
        missing: list[str] = []
        for tag in unknown:
            key = tag_key(tag)
            try:
                metadata = await store.stat(key)
            except NotFound:
                missing.append(tag)
                continue
            except Exception as error:
                self._store_failed(tier, "stat", key, error)
                found[tag] = MISSING
                continue
            if type(metadata) is not Metadata or not metadata.etag:
                self._store_failed(tier, "stat", key, StoreContractError(f"returned {metadata!r} as a tag version"))
                found[tag] = MISSING
                continue
            read[tag] = metadata.etag
        memo.read(read, epoch, now)
        found.update(read)
        if missing:
            made = {tag: new_version(time.time_ns()) for tag in missing}
            if create:
                try:
                    await self._write_versions(made)
                except TierError:
                    made = dict.fromkeys(missing, MISSING)
            else:
                made = dict.fromkeys(missing, MISSING)
            found.update(made)
        return found

    async def _write_versions(self, versions: Mapping[str, str]) -> None:
        """Store each tag's new version in the last tier, then in the memo; :class:`TierError` on a failure."""
        tier = len(self._tiers) - 1  # where tag versions live (rule Q3)
        store = self._tiers[tier]
        for tag, version in versions.items():
            key = tag_key(tag)
            op = "begin_set"
            try:
                sink = await store.begin_set(key, _version_entry(version))
                op = "commit"
                try:
                    await sink.commit()
                except BaseException:
                    await async_shielded(sink.abort())
                    raise
            except Exception as error:
                self._store_failed(tier, op, key, error)
                self._tag_memo.forget()  # some versions may have changed: read them all again
                raise TierError(tier, op, key, self._stores[tier]) from error
        self._tag_memo.wrote(versions, time.monotonic())

    def cached(
        self,
        *,
        key: str | Callable[..., str] | None = None,
        serializer: Serializer[Any] = DEFAULT_SERIALIZER,
        fresh_for: DurationOption | None = None,
        stale_while_revalidate: DurationOption | None = None,
        stale_if_error: DurationOption | None = None,
        must_revalidate: bool = False,
        cache_none: bool = False,
        negative_on: type[BaseException] | tuple[type[BaseException], ...] = (),
        tags: Collection[str] | None = None,
    ) -> Callable[[Callable[_P, Awaitable[_T]]], AsyncCachedFunction[_P, _T]]:
        """A decorator that caches a function's results with :meth:`get_value` (rules D1-D6).

        ``AsyncCache.cached`` decorates async functions and ``Cache.cached``
        plain ones; the other kind is a ``TypeError`` at decoration.  Methods
        work too (put ``@staticmethod``/``@classmethod`` above it).

        - ``key``: a template over the parameters by name, formatted with the
          call's arguments after defaults (``"user:{user_id}"``,
          ``"{self.tenant}:{user_id}"``); or a function taking the same
          arguments as the decorated one (``self`` too) that returns the key;
          by default the function's module and qualified name and a canonical
          JSON of its arguments, ``self``/``cls`` of a method left out (a
          SHA-256 digest when long).  An argument without a stable encoding
          is a ``TypeError`` asking for ``key=``.
        - ``serializer``: how values are stored (JSON unless given).
        - ``fresh_for``, ``stale_while_revalidate``, ``stale_if_error``,
          ``must_revalidate``: stored with every value as its own freshness
          (:class:`Metadata`); unset fields use the cache's.
        - ``cache_none``: a ``None`` result is stored as a negative entry
          (negative lifetime), and a negative entry of the key reads as
          ``None``; otherwise ``None`` is a value like any other.
        - ``negative_on``: exception classes the function raises that are
          stored as a negative entry; without ``cache_none`` the call, and
          every call while the entry lasts, raises :class:`NotFound` (the
          first one chained to the function's exception).  A function raising
          :class:`CacheableNotFound` does the same.
        - ``tags``: recorded with every value stored, so that
          :meth:`invalidate_tags` of any of them makes every call miss (rules Q1, Q2).

        Raises ``TypeError``/:class:`ConfigError` for a wrong argument, now.
        """
        if self._closed:
            raise CacheClosed("this cache was closed; create a new one")
        check_serializer(serializer)
        metadata = freshness_metadata(fresh_for, stale_while_revalidate, stale_if_error, must_revalidate)
        if type(cache_none) is not bool:
            raise TypeError(f"cache_none must be bool, got {type(cache_none).__name__}")
        negative = negative_on if isinstance(negative_on, tuple) else (negative_on,)
        for kind in negative:
            if not (isinstance(kind, type) and issubclass(kind, Exception)):
                raise TypeError(f"negative_on must be Exception classes, got {kind!r:.80}")
        checked_tags = None if tags is None else check_tags(tags)

        def decorate(func: Callable[_P, Awaitable[_T]]) -> AsyncCachedFunction[_P, _T]:
            async_check_decorated(func)
            keys = CallKeys.of(func, key)
            return AsyncCachedFunction(self, func, keys, serializer, metadata, cache_none, negative, checked_tags)

        return decorate

    # -- background work -----------------------------------------------------------

    def _schedule_fan_out(
        self,
        key: str,
        ticket: Ticket,
        source: int,
        value: bytes | None,
        metadata: Metadata | None,
        landed: Landed | None = None,
        written: tuple[int, ...] = (),
    ) -> None:
        """Copy the entry tier ``source`` published to every lower tier but ``written`` in the background.

        Owns ``ticket``.  ``value`` (with its ``metadata``) is the published
        value when at hand; otherwise a memory tier 0 that can ``peek`` is
        read now, right after the publish, since it may drop the value before
        the copy runs.  ``landed`` is told once how the copy ended.
        """
        try:
            snapshot = None
            if value is not None:
                snapshot = (value, metadata) if metadata is not None else self._peek_snapshot(key, value)
            elif source == 0:
                snapshot = self._peek_snapshot(key, None)
        except BaseException:
            ticket.end()
            if landed is not None:
                landed(())
            raise
        self._fan_outs.schedule(key, ticket, source, snapshot, landed, written)

    def _peek_snapshot(self, key: str, value: bytes | None) -> tuple[bytes, Metadata] | None:
        """Tier 0's entry of ``key`` as it is now (``value`` checked against it), without counting an access."""
        if self._memory_peek is None:
            return None
        try:
            stored, metadata = self._memory_peek(key)
        except NotFound:
            return None
        except Exception as error:
            self._store_failed(0, "peek", key, error)
            return None
        if value is not None and stored is not value:
            return None
        return stored, metadata

    async def _transit_hit(
        self,
        key: str,
        fetch: AsyncFetcher,
        if_none_match: str | None,
        ticket: Ticket,
        rules: ReadRules | None = None,
    ) -> AsyncResponse | None:
        """Serve the value of ``key`` a fan-out is still copying down; ``None`` if there is none."""
        transit = await self._in_transit(key)
        if transit is None:
            return None
        value, metadata, source = transit
        reader = AsyncBytesReader(value)
        return await self._serve_hit(source, key, reader, metadata, fetch, if_none_match, ticket, (), rules)

    async def _in_transit(self, key: str) -> tuple[bytes, Metadata, int] | None:
        """The value, metadata and source tier of ``key`` a fan-out is still copying down (rule O3), counted.

        ``None`` if there is none, or if its tags were invalidated (rule Q1).
        """
        transit = self._fan_outs.transit(key)
        if transit is None:
            return None
        if _TAGS_ATTR in transit[1].attrs and not await self._tags_current(transit[1]):
            return None
        self._stats.add(Stat.TRANSIT_HITS)
        return transit

    async def schedule_refresh(self, key: str, fetch: AsyncFetcher) -> None:
        """Refetch ``key`` into tier 0 in the background (then copy it to the lower tiers).

        At most one refresh per key is queued or running; a second call while
        one is pending returns without queueing.  Raises
        :class:`BackgroundJobRejected` when the job queue is full,
        ``TypeError`` for a ``fetch`` that is not callable and
        :class:`CacheClosed` after :meth:`close`.
        """
        if self._closed:
            raise CacheClosed("this cache was closed; create a new one")
        key = check_key(key)
        if not callable(fetch):
            raise TypeError(f"fetch must be a callable fetch(old) -> FetchResult, got {type(fetch).__name__}")
        self._submit_refresh(key, fetch, None, self._writes.begin(key))

    def _submit_refresh(self, key: str, fetch: AsyncFetcher, hint: Metadata | None, ticket: Ticket) -> None:
        """Queue a refresh job that owns ``ticket`` (ended here when the job is not queued).

        A refresh whose ticket is already fenced (a ``set`` or ``delete`` came
        after the read that asked for it) could publish nothing: it is not queued.
        """
        with self._state_lock:
            if key in self._refreshing or not self._writes.may_publish(ticket):
                ticket.end()
                return
            self._refreshing.add(key)
        try:
            self._runtime.submit("refresh", lambda: self._refresh(key, fetch, ticket, hint))
        except BackgroundJobRejected:
            with self._state_lock:
                self._refreshing.discard(key)
            ticket.end()
            self._stats.add(Stat.REFRESHES_REJECTED)
            raise
        self._stats.add(Stat.REFRESHES_SCHEDULED)

    def _refresh_quietly(self, key: str, fetch: AsyncFetcher, hint: Metadata, ticket: Ticket) -> None:
        """Schedule a refresh for a stale hit; a rejection is counted and logged, never raised."""
        try:
            self._submit_refresh(key, fetch, hint, ticket)
        except BackgroundJobRejected as error:
            self._logger.warning("stale refresh of %r dropped: %s", key, error, extra={"key": key})

    def _refresh_when_read(self, key: str, fetch: AsyncFetcher, hint: Metadata) -> OnDone:
        """What a stale response does when it ends: refresh, under the ticket taken before the stale read."""

        async def stale_stream_done(published: Published, ticket: Ticket) -> None:
            self._refresh_quietly(key, fetch, hint, ticket.hand_off())

        return stale_stream_done

    async def _refresh(self, key: str, fetch: AsyncFetcher, ticket: Ticket, hint: Metadata | None) -> None:
        """Background refresh job (rule R3); owns ``ticket``."""
        deadline = time.monotonic() + self._config.worker_timeout
        try:
            async with async_cancel_after(self._config.worker_timeout):
                await self._refetch(key, fetch, ticket, hint, deadline)
            self._stats.add(Stat.REFRESHES_COMPLETED)
        except Exception as error:
            self._stats.add(Stat.REFRESHES_FAILED)
            self._logger.warning("background refresh of %r failed: %r", key, error, extra={"key": key})
        finally:
            with self._state_lock:
                self._refreshing.discard(key)
            ticket.end()

    async def _refetch(
        self, key: str, fetch: AsyncFetcher, ticket: Ticket, hint: Metadata | None, deadline: float
    ) -> None:
        """Fetch ``key`` again with its current metadata, write the outcome to tier 0 and fan it out."""
        old = await self._current_metadata(key) or hint
        try:
            result = await self._call_fetcher(key, fetch, old)
        except NotModified as validated:
            if old is None or not (await self._touch(key, old, ticket, deadline, _updated(validated, old))).tiers:
                raise DaramjweeError(
                    f"refresh of {key!r}: NotModified, but no tier still holds the copy that was validated"
                ) from None
            return
        except CacheableNotFound:
            await self._store_negative(key, ticket)
            return
        metadata = _origin_metadata(result.metadata)
        body = async_open_body(result.body)
        if not result.store:  # the origin says not to keep it; the entry it refreshed stays as it is
            await body.aclose()
            return
        fill = self._fill_tier(metadata)
        fan_out = self._fan_out_when_published(key, metadata)
        await self._writes.write_entry(key, (fill,), metadata, body, ticket, deadline, on_done=fan_out)

    def _fill_tier(self, metadata: Metadata) -> int:
        """Tier 0, or the first tier able to hold a body longer than tier 0's capacity, as the origin declared it."""
        size = metadata.declared_length
        if size is None:
            return 0
        for tier, capacity in enumerate(self._capacities):
            if capacity is None or size <= capacity:
                return tier
        return 0

    async def _current_metadata(self, key: str) -> Metadata | None:
        """Metadata of the fastest tier holding ``key`` (for a conditional refetch)."""
        for tier, store in self._tier_chain:
            try:
                return await store.stat(key)
            except NotFound:
                continue
            except Exception as error:
                self._store_failed(tier, "stat", key, error)
        return None

    # -- looking without an origin, and clearing (rules L1, L2, W10) ------------------

    async def peek(self, key: str) -> AsyncResponse | None:
        """The cached value of ``key`` as a response the caller owns and closes, or ``None``: no origin is asked.

        Cache-aside reading (rule L1): the tiers are walked as by :meth:`get`
        (a failing tier is skipped, a value still being copied to the lower
        tiers is found), and the first tier holding the key answers.  A stale
        entry is served with ``response.stale`` true, whatever its
        revalidation window says; the caller decides.  Nothing is written:
        no fetch, no single-flight, no promotion, no refresh.  It counts
        as a read (hits, misses, an access for the tier's eviction policy).

        Raises :class:`NotFound` when the entry found is negative (the
        origin said the key does not exist, rule N3), as :meth:`get` does;
        ``None`` means no tier holds the key.
        """
        if self._closed:
            raise CacheClosed("this cache was closed; create a new one")
        key = check_key(key)
        found = await self._locate(key)
        if found.entry is None:
            return None
        return await self._peeked(found.tier, key, *found.entry)

    async def _peeked(self, tier: int, key: str, reader: AsyncReader, metadata: Metadata) -> AsyncResponse:
        """The response of :meth:`peek` over an entry found in ``tier``; a negative one raises ``NotFound``."""
        if metadata.is_negative:
            await self._discard_reader(tier, key, reader)
            self._stats.add(Stat.NEGATIVE_HITS)
            raise NotFound(key)
        stale = is_stale(metadata, self._freshness[tier][0], time.time())
        if stale:
            self._stats.add(Stat.STALE_HITS)
        return await self._serve_stored(tier, key, reader, metadata, None, stale=stale)

    async def contains(self, key: str) -> bool:
        """Whether some tier holds a positive entry of ``key``, fresh or stale (rule L2); no body is opened.

        The tiers are asked with ``stat`` in chain order and the first that
        holds an entry answers: ``False`` for a negative one.  A failing tier
        is skipped.  Nothing is counted, fetched or written.
        """
        if self._closed:
            raise CacheClosed("this cache was closed; create a new one")
        key = check_key(key)
        for tier, store in self._tier_chain:
            try:
                metadata = await store.stat(key)
            except NotFound:
                if not tier:
                    transit = self._fan_outs.transit(key)
                    if transit is not None and (
                        _TAGS_ATTR not in transit[1].attrs or await self._tags_current(transit[1])
                    ):
                        return not transit[1].is_negative
                continue
            except Exception as error:
                self._store_failed(tier, "stat", key, error)
                continue
            if type(metadata) is not Metadata:
                self._store_failed(tier, "stat", key, StoreContractError(f"returned {metadata!r} as metadata"))
                continue
            if _TAGS_ATTR in metadata.attrs and not await self._tags_current(metadata):
                continue  # rule Q1
            return not metadata.is_negative
        return False

    async def clear(self) -> None:
        """Remove every entry from every tier, the last tier first (rule W10).

        Every tier's store must offer ``clear()`` (rule K5); if one does not,
        ``TypeError`` names it before any tier is touched.  Every tier is
        tried even after failures; then the first failure is raised as
        :class:`TierError` (``op="clear"``).  No fill, promotion, refresh or
        fan-out begun before it ends publishes afterwards (rule G8); a
        ``set`` begun while it runs is not held back.  Responses already
        handed out stay readable.
        """
        if self._closed:
            raise CacheClosed("this cache was closed; create a new one")
        if any(clear is None for clear in self._clearers):
            unable = ", ".join(
                f"stores[{tier}] ({type(store).__name__})"
                for tier, store in enumerate(self._stores)
                if self._clearers[tier] is None
            )
            raise TypeError(f"clear() needs a clear() method on every store; {unable} has none, so nothing was cleared")
        failure = await self._clear_tiers()
        if self._fleet is not None:
            await self._fleet.invalidate(CLEAR, "")  # rule Y5
        if failure is not None:
            raise failure

    async def _clear_tiers(self, tiers: range | None = None) -> TierError | None:
        """Clear every tier (or ``tiers``) that can, fenced (rule G8); the tag memo goes too (rule Q5)."""
        self._tag_memo.forget()
        try:
            return await self._writes.clear(self._clearers, tiers)
        finally:
            self._tag_memo.forget()  # the versions went with the entries

    # -- the fleet (rules Y5-Y7) ------------------------------------------------------

    async def _fleet_apply(self, kind: str, arg: str) -> None:
        """Drop what another instance's invalidation names from the local tiers (run by the coordinator's listener).

        Fenced like a local ``delete`` or ``clear`` (rules G2, G8): a fill or
        promotion of the key begun before does not publish afterwards.
        Failures are logged and counted by the tiers; nothing is raised.
        """
        local = range(self._shared_from)
        if kind == KEY:
            await self._writes.delete(arg, local)
        elif kind == TAGS:
            self._tag_memo.forget()  # the next tagged hit reads the versions again
        elif kind in (CLEAR, RESYNC):
            await self._clear_tiers(local)
            if kind == RESYNC and any(self._clearers[tier] is None for tier in local):
                self._logger.warning(
                    "a local tier cannot clear(): entries invalidated while this instance was not listening "
                    "stay until they go stale",
                    extra={"fleet": "resync"},
                )

    async def _fleet_replay(self, kind: str, arg: str) -> None:
        """Before an invalidation kept while Redis was away is sent: delete the key from the shared tiers again.

        Raises :class:`TierError` when a shared tier still fails (the coordinator tries again later).
        """
        if kind == KEY:
            failure = await self._writes.delete(arg, range(self._shared_from, len(self._tiers)))
            if failure is not None:
                raise failure

    # -- errors and shutdown -------------------------------------------------------

    def _store_failed(self, tier: int, op: str, key: str, error: BaseException) -> None:
        """Count and log a store failure the cache recovers from.

        A tier refusing a value larger than its capacity is expected, not a
        failure: it is only logged at DEBUG.
        """
        if isinstance(error, EntryTooLarge):
            if self._logger.isEnabledFor(_DEBUG):
                self._logger.debug("tier %d refused %r: %s", tier, key, error, extra={"tier": tier, "key": key})
            return
        self._stats.tier(tier, TierStat.ERRORS)
        self._logger.warning(
            "tier %d %s failed for key %r: %r", tier, op, key, error, extra={"tier": tier, "key": key, "op": op}
        )

    async def _discard_reader(self, tier: int, key: str, reader: AsyncReader) -> None:
        try:
            await reader.aclose()
        except Exception as error:
            self._store_failed(tier, "close", key, error)

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Stop accepting work, drain background jobs within ``close_timeout``, close the stores.

        Idempotent; concurrent callers all return once shutdown finished.
        Responses handed out before stay readable.
        """
        with self._state_lock:
            first = not self._closed
            self._closed = True
        if not first:
            await self._close_done.wait(None)
            return
        try:
            await self._runtime.shutdown(self._config.close_timeout)
            self._fan_outs.close()
            if self._fleet is not None:
                await self._fleet.close()  # gives back the leases still held
            for tier, store in self._tier_chain:
                try:
                    await store.close()
                except Exception as error:
                    self._store_failed(tier, "close", "", error)
        finally:
            self._close_done.set()

    async def __aenter__(self) -> AsyncCache:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        chain = " -> ".join(type(store).__name__ for store in self._stores)
        return f"<{type(self).__name__} [{chain}]{' closed' if self._closed else ''}>"


_NOTHING = Published((), None)


def _not_modified_on_miss(key: str) -> DaramjweeError:
    return DaramjweeError(
        f"the fetcher raised NotModified for {key!r} on a miss, where it was given no old metadata; "
        "raise NotModified only when the fetcher was given old metadata to validate"
    )


def _updated(validated: NotModified, old: Metadata) -> Metadata | None:
    """The metadata a fetcher's ``NotModified`` carries for the validated entry (``None``: keep ``old``)."""
    metadata = validated.metadata
    if metadata is None or metadata == old:
        return None
    if not isinstance(metadata, Metadata) or metadata.is_negative:
        raise TypeError(
            "NotModified(metadata=...) must be the positive daramjwee.Metadata of the validated entry, "
            f"got {metadata!r}"
        )
    return metadata


def _version_entry(version: str) -> Metadata:
    """The metadata of a tag's version entry: the version as its etag, and a ``:tags`` never current (rule Q6)."""
    return with_cached_at(Metadata(etag=version, attrs={_TAGS_ATTR: ""}), time.time())


def _with_tags(metadata: Metadata, versions: Mapping[str, str]) -> Metadata:
    """``metadata`` recording the tag ``versions`` (rule Q2)."""
    return metadata.replace(attrs={**metadata.attrs, _TAGS_ATTR: encode_tags(versions)})


def _origin_metadata(metadata: Metadata | None) -> Metadata:
    """The metadata to store for a fresh origin body: stamped with the fetch time."""
    if metadata is None:
        metadata = _EMPTY_METADATA
    elif metadata.is_negative:
        raise TypeError("fetcher returned metadata with is_negative=True; raise daramjwee.CacheableNotFound instead")
    return with_cached_at(metadata, time.time())
