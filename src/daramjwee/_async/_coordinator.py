"""``AsyncRedisCoordinator`` and its generated sync twin ``RedisCoordinator``: one cache's part in a fleet.

Rules Y1-Y8 in docs/design.md.  The pure decisions (the words on the wire,
where this instance stands in the invalidation log) are in ``daramjwee/_fleet.py``.

Layout under ``prefix`` ``p`` (every key and the channel carry the hash tag
``{p}``, so on a Redis Cluster they live on one slot and each script may
touch them together; the channel is then a sharded one)::

    {p}lease:<D>   string  the token of the instance fetching key D (a digest), with an expiry (rule Y2)
    {p}wait:<D>    string  "someone waits for D": the release then publishes its word
    {p}done:<D>    string  "D was published since the lease was free", for ``lease_ttl``
    {p}epoch       string  a random id made when the log is first used (a Redis that lost it makes a new one)
    {p}seq         int     the last sequence number given to an invalidation
    {p}log         list    the last ``log_size`` invalidations, "<seq> <origin> <kind> <arg>"
    {p}events      channel "F <outcome> <key>" (a lease ended) and "I <epoch> <entry>" (an invalidation)
"""

from __future__ import annotations

import collections
import datetime
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from .._async_primitives import AsyncEvent, async_cancel_after, async_shielded, async_sleep
from .._async_runtime import AsyncBackgroundRunner, AsyncDaemon, AsyncJob
from .._entryhead import key_digest
from .._errors import BackgroundJobRejected, ConfigError
from .._fleet import (
    CLEAR,
    FAILED,
    LEASE,
    RESYNC,
    UNAVAILABLE,
    WAIT,
    Cursor,
    Invalidation,
    decode_fill,
    decode_invalidation,
    encode_entry,
)
from .._stats import Stat, StatsRecorder
from .._units import parse_duration
from ._redisstore import client_from_url

__all__ = ["AsyncClaim", "AsyncLease", "AsyncRedisCoordinator"]

# KEYS: lease, done, wait.  ARGV: token, ttl ms, force ("1": ignore the done marker).
_CLAIM = """
if ARGV[3] == '0' and redis.call('EXISTS', KEYS[2]) == 1 then return 'cached' end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'lease' end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
return 'wait'
"""

# KEYS: lease, done, wait.  ARGV: token, outcome, done ttl ms, message, channel, sharded ("1"/"0").
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[2] == 'published' then redis.call('SET', KEYS[2], '1', 'PX', ARGV[3]) end
if redis.call('DEL', KEYS[3]) == 1 then
  if ARGV[6] == '1' then redis.call('SPUBLISH', ARGV[5], ARGV[4]) else redis.call('PUBLISH', ARGV[5], ARGV[4]) end
end
return 1
"""

# KEYS: lease 1, wait 1, lease 2, wait 2, ...  ARGV: ttl ms, token 1, token 2, ...
_RENEW = """
local kept = 0
for i = 1, #KEYS, 2 do
  if redis.call('GET', KEYS[i]) == ARGV[(i + 1) / 2 + 1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
    redis.call('PEXPIRE', KEYS[i + 1], ARGV[1])
    kept = kept + 1
  end
end
return kept
"""

_EPOCH = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
"""
"""The start of the log's scripts: the log's epoch (KEYS[1]), made from ARGV[1] when Redis has none (rule Y6)."""

# KEYS: epoch, seq, log.  ARGV: a new epoch, the entry after its sequence number, log size, channel, sharded.
_INVALIDATE = (
    _EPOCH
    + """
local seq = redis.call('INCR', KEYS[2])
local entry = seq .. ' ' .. ARGV[2]
redis.call('RPUSH', KEYS[3], entry)
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[3]), -1)
local message = 'I ' .. epoch .. ' ' .. entry
if ARGV[5] == '1' then redis.call('SPUBLISH', ARGV[4], message) else redis.call('PUBLISH', ARGV[4], message) end
return seq
"""
)

# KEYS: epoch, seq, log.  ARGV: a new epoch, the last sequence number this instance saw ("": none yet).
_SYNC = (
    _EPOCH
    + """
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local log = {}
if ARGV[2] ~= '' and tonumber(ARGV[2]) < seq then log = redis.call('LRANGE', KEYS[3], 0, -1) end
return {epoch, seq, log}
"""
)

_TICK = 0.2
"""Seconds the listener waits for a message before it renews leases and sends what waits to be sent."""
_UNHEARD_POLL = 0.02
"""Seconds between a waiter's claims while no word can reach it (the listener is not subscribed)."""
_PENDING_LIMIT = 10_000
"""Invalidations kept while Redis is away; past that, one ``clear`` is sent instead (rule Y7)."""

Apply = Callable[[str, str], Awaitable[None]]
"""``apply(kind, arg)``: drop what an invalidation names from the local tiers (``RESYNC``: all of them)."""


class AsyncLease:
    """This instance's lease of one key: it fetches, the others wait (rule Y2).

    Owned by one operation at a time (the miss that took it, then its fill,
    then the fan-out that copies the value to the shared tiers), which calls
    :meth:`end` exactly once; later calls do nothing.  The coordinator renews
    it until then, so a long fill keeps it; a crashed process stops renewing
    and it expires after ``lease_ttl``.
    """

    __slots__ = ("_coordinator", "_ended", "key", "token")

    def __init__(self, coordinator: AsyncRedisCoordinator, key: str, token: str) -> None:
        self._coordinator = coordinator
        self.key = key
        self.token = token
        self._ended = False

    def end(self, outcome: str) -> None:
        """Give the lease back with ``outcome`` (``PUBLISHED``, ``FAILED``, ``UNCACHED``); never raises, never blocks.

        The release runs as a background job of the cache; if none can be
        queued, or Redis is away, it is kept for the listener (or
        :meth:`AsyncRedisCoordinator.close`) to send, and the lease expires by
        itself within ``lease_ttl`` meanwhile.
        """
        if self._ended:
            return
        self._ended = True
        self._coordinator._release_later(self, outcome)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key!r}{' ended' if self._ended else ''}>"


class AsyncClaim:
    """What :meth:`AsyncRedisCoordinator.claim` answered; close it when done (it may be waiting for a word)."""

    __slots__ = ("_coordinator", "_event", "_key", "kind", "lease", "word")

    def __init__(self, coordinator: AsyncRedisCoordinator, key: str) -> None:
        self._coordinator = coordinator
        self._key = key
        self._event: AsyncEvent | None = AsyncEvent()
        self.kind = UNAVAILABLE
        self.lease: AsyncLease | None = None
        self.word = ""

    async def wait(self, timeout: float) -> str:
        """Wait up to ``timeout`` seconds for the holder's word: an outcome, or ``""`` if none came."""
        event = self._event
        if event is None or not await event.wait(timeout):
            return ""
        return self.word

    def told(self, word: str) -> None:
        """The listener heard ``word`` about this claim's key (any thread; after :meth:`close`, nothing happens)."""
        self.word = word
        event = self._event  # read once: close() may clear it meanwhile
        if event is not None:
            event.set()

    def close(self) -> None:
        """Stop listening for the word.  Idempotent."""
        if self._event is not None:
            self._event = None
            self._coordinator._forget_claim(self._key, self)


class AsyncRedisCoordinator:
    """Fleet-wide single-flight and invalidation for one cache, over Redis (rules Y1-Y8).

    Pass it as ``coordination=`` to one :class:`AsyncCache` (a coordinator
    serves one cache).  ``client`` is a ``redis.asyncio`` ``Redis`` or
    ``RedisCluster`` (never closed here), or a URL (closed by :meth:`close`;
    with ``cluster=True`` a cluster URL).  Every instance of the fleet uses
    the same ``prefix`` (no ``{`` or ``}``).

    - **Single-flight** (rule Y2): a miss in every tier claims the key's
      lease (one round trip).  The holder fetches and fills as usual and gives
      the lease back once the value reached the shared tiers; the others wait
      for its word on the channel, then read the value from there.  A lease
      lasts ``lease_ttl`` seconds and is renewed while its fill streams, so a
      holder that dies loses it within ``lease_ttl`` and one waiter takes
      over.  A wait is bounded by the cache's ``coalesce_wait``.
    - **Invalidation** (rule Y5): ``delete``, ``set``, ``clear`` and
      ``invalidate_tags`` on one instance are sent to every other, which drops
      the key (or its tag versions, or everything) from its local tiers in the
      background.  Each is also logged in Redis (the last ``log_size``), so an
      instance that missed messages replays them, or drops its local tiers
      when the log no longer reaches back (rule Y6).
    - **Failures** (rule Y7): a Redis error makes the coordinator unavailable
      for ``retry_after`` seconds: misses fall back to this process's own
      single-flight, invalidations wait (up to 10,000, then one ``clear``) and
      are sent when Redis answers again.  Nothing is raised to a reader.

    ``op_timeout`` bounds each Redis call made here: in ``AsyncRedisCoordinator``
    by cancelling it, in ``RedisCoordinator`` through the socket timeout of
    a client made from a URL (give a client of your own a
    ``socket_timeout``, or a hung Redis blocks the misses that claim).
    """

    def __init__(
        self,
        client: Redis | RedisCluster | str,
        *,
        prefix: str = "daramjwee:",
        lease_ttl: float | datetime.timedelta = 5.0,
        log_size: int = 10_000,
        retry_after: float | datetime.timedelta = 1.0,
        op_timeout: float | datetime.timedelta = 1.0,
        cluster: bool = False,
    ) -> None:
        if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
            raise ConfigError(f"prefix must be a non-empty str without '{{' or '}}', got {prefix!r}")
        self._lease_ttl = parse_duration(lease_ttl, "lease_ttl", allow_zero=False)
        if self._lease_ttl < 0.1:
            raise ConfigError(f"lease_ttl must be at least 0.1 seconds, got {lease_ttl!r}")
        if type(log_size) is not int or log_size < 1:
            raise ConfigError(f"log_size must be an int >= 1, got {log_size!r}")
        self._retry_after = parse_duration(retry_after, "retry_after", allow_zero=False)
        self._op_timeout = parse_duration(op_timeout, "op_timeout", allow_zero=False)
        if isinstance(client, str):
            options: dict[str, Any] = {"socket_timeout": self._op_timeout, "socket_connect_timeout": self._op_timeout}
            self._client: Any = (
                RedisCluster.from_url(client, **options) if cluster else client_from_url(client, options)
            )
            self._owns_client = True
        elif isinstance(client, Redis | RedisCluster):
            self._client = client
            self._owns_client = False
        else:
            raise TypeError(f"client must be a Redis or RedisCluster client or a redis:// URL, got {client!r}")
        self._sharded = isinstance(self._client, RedisCluster)
        self._sharded_flag = "1" if self._sharded else "0"  # the scripts' SPUBLISH or PUBLISH
        tag = "{" + prefix + "}"
        self._tag = tag
        self._channel = f"{tag}events"
        self._log_keys = [f"{tag}epoch", f"{tag}seq", f"{tag}log"]
        self._log_size = log_size
        self._claim_script = self._client.register_script(_CLAIM)
        self._release_script = self._client.register_script(_RELEASE)
        self._renew_script = self._client.register_script(_RENEW)
        self._invalidate_script = self._client.register_script(_INVALIDATE)
        self._sync_script = self._client.register_script(_SYNC)
        self.origin = secrets.token_hex(8)
        self._cursor = Cursor(self.origin)
        self._lock = threading.Lock()
        self._claims: dict[str, list[AsyncClaim]] = {}
        self._leases: dict[str, AsyncLease] = {}
        self._unreleased: list[tuple[AsyncLease, str]] = []
        self._pending: collections.deque[tuple[str, str]] = collections.deque()
        self._pending_overflow = False
        self._down_until = 0.0
        self._down = False
        self._listening = False
        self._stopping = False
        self._closed = False
        self._daemon = AsyncDaemon("daramjwee-fleet", self._listen)
        self._bound = False
        self._apply: Apply | None = None
        self._replay: Apply | None = None
        self._runtime: AsyncBackgroundRunner | None = None
        self._stats: StatsRecorder | None = None
        self._logger = logging.getLogger("daramjwee")

    # -- binding to a cache --------------------------------------------------------------

    def bind(
        self,
        *,
        apply: Apply,
        replay: Apply,
        runtime: AsyncBackgroundRunner,
        stats: StatsRecorder,
        logger: logging.Logger,
    ) -> None:
        """Serve one cache: ``apply`` drops what an invalidation names from its local tiers, ``replay`` redoes
        the shared-tier part of an invalidation made while Redis was away.  Raises ``ConfigError`` when bound."""
        with self._lock:
            if self._bound:
                raise ConfigError("this coordinator already serves a cache; give each cache its own")
            self._bound = True
        self._apply, self._replay = apply, replay
        self._runtime, self._stats, self._logger = runtime, stats, logger

    @property
    def poll(self) -> float:
        """How long a waiter waits for a word before it claims again (the lease may have expired).

        While the listener is not subscribed (it is starting, or reconnecting)
        no word can arrive, so the waiter claims again soon.
        """
        if not self._listening:
            return min(self._lease_ttl / 2, _UNHEARD_POLL)
        return min(self._lease_ttl / 2, 0.5)

    @property
    def available(self) -> bool:
        return not self._closed and time.monotonic() >= self._down_until

    def start(self) -> None:
        """Start listening (a task on the running loop; a thread in the sync flavour).  Idempotent."""
        if not self._closed and not self._daemon.alive:
            self._daemon.start()

    # -- single-flight (rules Y2-Y4) -------------------------------------------------------

    async def claim(self, key: str, *, force: bool = False) -> AsyncClaim:
        """Claim ``key``'s lease: ``LEASE`` (``claim.lease`` is ours), ``WAIT``, ``CACHED`` or ``UNAVAILABLE``.

        ``force`` ignores a recent publish (its value was not in the shared
        tiers after all).  Never raises but for cancellation; the caller
        closes the claim.
        """
        claim = AsyncClaim(self, key)
        if not self.available:
            claim.close()
            return claim
        self.start()
        with self._lock:  # listening before asking: a word sent meanwhile is not missed
            self._claims.setdefault(key, []).append(claim)
        digest = key_digest(key)
        token = secrets.token_hex(8)
        try:
            args = [token, self._ttl_ms, "1" if force else "0"]
            answer = await self._run(self._claim_script, self._lease_keys(digest), args)
        except Exception as error:
            self._failed("claim", error)
            claim.close()
            return claim
        except BaseException:  # cancelled: a lease it may have taken expires within lease_ttl
            claim.close()
            raise
        kind = answer.decode() if isinstance(answer, bytes) else str(answer)
        claim.kind = kind
        if kind == LEASE:
            lease = AsyncLease(self, key, token)
            with self._lock:
                self._leases[token] = lease
            claim.lease = lease
        if kind != WAIT:
            claim.close()
        return claim

    def _forget_claim(self, key: str, claim: AsyncClaim) -> None:
        with self._lock:
            claims = self._claims.get(key)
            if claims is not None:
                if claim in claims:
                    claims.remove(claim)
                if not claims:
                    del self._claims[key]

    def _release_later(self, lease: AsyncLease, outcome: str) -> None:
        with self._lock:
            self._leases.pop(lease.token, None)
        if not self._submit("lease release", lambda: self._release(lease, outcome)):
            self._keep_release(lease, outcome)

    def _submit(self, name: str, job: AsyncJob) -> bool:
        """Run ``job`` as a background job of the cache; False when it cannot be queued (none bound, closed, full)."""
        runtime = self._runtime
        if runtime is None or self._closed:
            return False
        try:
            runtime.submit(name, job)
        except BackgroundJobRejected:
            return False
        return True

    def _keep_release(self, lease: AsyncLease, outcome: str) -> None:
        with self._lock:
            self._unreleased.append((lease, outcome))

    async def _release(self, lease: AsyncLease, outcome: str) -> None:
        """End ``lease`` in Redis; while Redis is away, keep it for the listener to end when it is back.

        (A holder that stays away past ``lease_ttl`` has lost the lease anyway: ending it then does nothing.)
        """
        if not self.available:
            self._keep_release(lease, outcome)
            return
        digest = key_digest(lease.key)
        try:
            word = f"F {outcome} {lease.key}"
            args = [lease.token, outcome, self._ttl_ms, word, self._channel, self._sharded_flag]
            await self._run(self._release_script, self._lease_keys(digest), args)
        except Exception as error:
            self._failed("release", error)
            self._keep_release(lease, outcome)

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """Run one of the scripts, within ``op_timeout`` (``TimeoutError`` past it; in the sync flavour the
        client's socket timeout bounds it).  A connection error is tried once more: a pooled connection
        that Redis dropped while it restarted fails once, then the pool connects anew."""
        async with async_cancel_after(self._op_timeout):
            try:
                return await script(keys=keys, args=args)
            except RedisConnectionError:
                return await script(keys=keys, args=args)

    def _lease_keys(self, digest: str) -> list[str]:
        return [f"{self._tag}lease:{digest}", f"{self._tag}done:{digest}", f"{self._tag}wait:{digest}"]

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self._lease_ttl * 1000))

    async def _renew(self) -> None:
        with self._lock:
            leases = list(self._leases.values())
        if not leases:
            return
        keys: list[str] = []
        for lease in leases:
            lease_key, _, wait_key = self._lease_keys(key_digest(lease.key))
            keys += [lease_key, wait_key]
        await self._run(self._renew_script, keys, [self._ttl_ms, *(lease.token for lease in leases)])

    # -- invalidation (rules Y5-Y7) ---------------------------------------------------------

    async def invalidate(self, kind: str, arg: str) -> None:
        """Tell every other instance to drop what ``kind``/``arg`` names from its local tiers.

        Sent now when Redis answers; else kept and sent (after ``replay``
        redid its shared-tier part) when it answers again.  Never raises but
        for cancellation.
        """
        if self._closed:
            return
        self.start()
        if self.available and not self._pending:
            try:
                await self._send(kind, arg)
                return
            except Exception as error:
                self._failed("invalidate", error)
        self._keep(kind, arg)

    def invalidate_later(self, kind: str, arg: str) -> None:
        """:meth:`invalidate` as a background job (from where nothing may wait for Redis).  Never raises."""
        if not self._submit("fleet invalidation", lambda: self.invalidate(kind, arg)):
            self._keep(kind, arg)

    def _keep(self, kind: str, arg: str) -> None:
        with self._lock:
            if len(self._pending) >= _PENDING_LIMIT:
                self._pending_overflow = True
                self._pending.clear()
            if not self._pending_overflow:
                self._pending.append((kind, arg))

    async def _send(self, kind: str, arg: str) -> None:
        entry = encode_entry(self.origin, kind, arg)
        args = [secrets.token_hex(8), entry, self._log_size, self._channel, self._sharded_flag]
        await self._run(self._invalidate_script, self._log_keys, args)
        if self._stats is not None:
            self._stats.add(Stat.FLEET_INVALIDATIONS_SENT)

    async def _release_kept(self) -> None:
        """End the leases whose release failed while Redis was away (those still held by this instance)."""
        with self._lock:
            kept, self._unreleased = self._unreleased, []
        for lease, outcome in kept:
            await self._release(lease, outcome)

    async def _flush(self) -> None:
        """Send what was kept while Redis was away, oldest first, each after ``replay``; stops at a failure."""
        with self._lock:
            overflow, self._pending_overflow = self._pending_overflow, False
        if overflow:
            await self._send(CLEAR, "")
        while True:
            with self._lock:
                if not self._pending:
                    return
                kind, arg = self._pending[0]
            if self._replay is not None:
                await self._replay(kind, arg)
            await self._send(kind, arg)
            with self._lock:
                if self._pending and self._pending[0] == (kind, arg):
                    self._pending.popleft()

    # -- the listener ---------------------------------------------------------------------------

    async def _listen(self) -> None:
        """Subscribe, catch up on the log, then dispatch messages, renew leases and send what waits."""
        while not self._stopping:
            pubsub: Any = None
            try:
                await self._client.exists(self._log_keys[0])  # a cluster client learns its slots before pubsub()
                pubsub = self._client.pubsub()
                if self._sharded:
                    await pubsub.ssubscribe(self._channel)
                else:
                    await pubsub.subscribe(self._channel)
                await self._confirmed(pubsub)
                await self._catch_up(None)
                self._up()
                renewed = time.monotonic()
                while not self._stopping:
                    if self._unreleased:
                        await self._release_kept()
                    if self._pending or self._pending_overflow:
                        await self._flush()
                    message = await self._next_message(pubsub)
                    if message is not None and message.get("type") in ("message", "smessage"):
                        await self._dispatch(message["data"])
                    if time.monotonic() - renewed >= self._lease_ttl / 3:
                        await self._renew()
                        renewed = time.monotonic()
            except Exception as error:
                self._listening = False
                self._failed("listen", error)
                self._wake_all()
                await async_sleep(min(self._retry_after, 1.0))
            finally:
                self._listening = False
                if pubsub is not None:
                    try:
                        await async_shielded(pubsub.aclose())
                    except Exception:  # the connection is gone already
                        pass

    async def _confirmed(self, pubsub: Any) -> None:
        """Wait for the server to confirm the subscription: only then is no message missed."""
        deadline = time.monotonic() + max(self._op_timeout, 1.0)
        while time.monotonic() < deadline:
            message = await self._next_message(pubsub)
            if message is not None and message.get("type") in ("subscribe", "ssubscribe"):
                return
        raise TimeoutError("the subscription to the fleet's channel was not confirmed")

    async def _next_message(self, pubsub: Any) -> dict[str, Any] | None:
        """The next message or confirmation, waiting at most one tick."""
        if self._sharded:
            message: dict[str, Any] | None = await pubsub.get_sharded_message(timeout=_TICK)
        else:
            message = await pubsub.get_message(timeout=_TICK)
        return message

    def _up(self) -> None:
        if self._down:
            self._logger.warning("fleet coordination over Redis is back", extra={"fleet": "up"})
        self._down = False
        self._down_until = 0.0
        self._listening = True

    async def _catch_up(self, seen: tuple[str, Invalidation] | None) -> None:
        """Read the log's state and apply what this instance missed (after ``seen``, a message, if any)."""
        cursor = self._cursor
        since = "" if cursor.epoch is None else str(cursor.seq)
        epoch, seq, log = await self._run(self._sync_script, self._log_keys, [secrets.token_hex(8), since])
        epoch = epoch.decode() if isinstance(epoch, bytes) else str(epoch)
        entries = [entry.decode("utf-8", "surrogatepass") if isinstance(entry, bytes) else entry for entry in log]
        if seen is not None:
            actions = cursor.received(seen[0], seen[1], entries)
            assert actions is not None  # given the log, the cursor always decides
        else:
            actions = cursor.synced(epoch, int(seq), entries)
        await self._act(actions)

    async def _dispatch(self, data: bytes | str) -> None:
        message = data.decode("utf-8", "surrogatepass") if isinstance(data, bytes) else data
        fill = decode_fill(message)
        if fill is not None:
            outcome, key = fill
            with self._lock:
                claims = list(self._claims.get(key, ()))
            for claim in claims:
                claim.told(outcome)
            return
        invalidation = decode_invalidation(message)
        if invalidation is None:
            self._logger.warning("ignored a malformed fleet message %r", message[:200])
            return
        actions = self._cursor.received(invalidation[0], invalidation[1], None)
        if actions is None:  # a gap: read the log
            await self._catch_up(invalidation)
            return
        await self._act(actions)

    async def _act(self, actions: Sequence[Invalidation | str]) -> None:
        if self._apply is None:
            return
        for action in actions:  # each counted once applied
            if isinstance(action, str):
                self._logger.warning(
                    "fleet invalidations were missed beyond the log: dropping the local tiers",
                    extra={"fleet": "resync"},
                )
                await self._apply(RESYNC, "")
                if self._stats is not None:
                    self._stats.add(Stat.FLEET_RESYNCS)
            else:
                await self._apply(action.kind, action.arg)
                if self._stats is not None:
                    self._stats.add(Stat.FLEET_INVALIDATIONS_APPLIED)

    def _wake_all(self) -> None:
        with self._lock:
            claims = [claim for waiting in self._claims.values() for claim in waiting]
        for claim in claims:
            claim.told("")

    def _failed(self, op: str, error: BaseException) -> None:
        """Redis failed: unavailable for ``retry_after`` seconds; logged once per outage, counted each time."""
        self._down_until = time.monotonic() + self._retry_after
        if self._stats is not None:
            self._stats.add(Stat.FLEET_ERRORS)
        if not self._down:
            self._down = True
            self._logger.warning(
                "fleet coordination over Redis failed (%s: %r): this process goes on alone, retrying every %.1fs",
                op,
                error,
                self._retry_after,
                extra={"fleet": "down", "op": op},
            )

    # -- closing ---------------------------------------------------------------------------------

    async def close(self) -> None:
        """Give back the leases still held, stop listening, close the client if this coordinator made it.

        Idempotent.  Invalidations still waiting for Redis are dropped (and logged).
        """
        if self._closed:
            return
        with self._lock:
            leases = [(lease, FAILED) for lease in self._leases.values()] + self._unreleased
            self._leases.clear()
            self._unreleased = []
            pending = len(self._pending)
        for lease, outcome in leases:
            if not self.available:
                break  # the rest expire within lease_ttl
            await self._release(lease, outcome)
        self._closed = True
        self._stopping = True
        await self._daemon.stop(max(2 * _TICK, self._op_timeout))
        if pending:
            self._logger.warning(
                "%d fleet invalidation(s) not sent: Redis was unreachable until close", pending, extra={"fleet": "lost"}
            )
        if self._owns_client:
            try:
                await self._client.aclose()
            except Exception as error:
                self._logger.warning("closing the fleet's Redis client failed: %r", error)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._tag}{' closed' if self._closed else ''}>"
