"""A fleet of cache processes over one Redis: fleet-wide single-flight and invalidation (issue 15).

Every member is an OS process of its own (``fleet._worker``) with its own
memory tier and its own file-tier directory, as a separate machine would
have, and a Redis tier shared by all, coordinated by a Redis coordinator on
the same Redis: a real ``redis-server`` or a real three-node Redis Cluster on
loopback.  The origin is a real HTTP server on loopback in the test process
(``fleet._origin``), which counts the requests it gets and knows which member
sent each.  Each scenario runs for the async flavour (concurrent callers are
tasks) and the sync one (threads).

Times compared across processes are ``time.monotonic()``: CLOCK_MONOTONIC on
Linux, one clock for the whole machine.

The numbers the note on issue 15 quotes are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
import redis

import daramjwee as dj
from _servers import RedisCluster, RedisServer
from fleet._fleet import Fleet, Message
from fleet._origin import Origin, body_of

FLAVOURS = ["async", "sync"]


class MakeFleet(Protocol):
    def __call__(self, flavour: str, size: int, redis_url: str, **options: Any) -> Fleet:
        """A started fleet; ``options`` are those of :class:`Fleet` (``cluster``, ``lease_ttl``, ...)."""


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.close()


@pytest.fixture
def make_fleet(tmp_path: Path, origin: Origin, redis_prefix: str) -> Iterator[MakeFleet]:
    """Start fleets of workers (stopped at the end of the test); all of a test's fleets share its key prefix."""
    fleets: list[Fleet] = []

    def make(flavour: str, size: int, redis_url: str, **options: Any) -> Fleet:
        fleet = Fleet(
            flavour=flavour,
            size=size,
            redis_url=redis_url,
            directory=tmp_path / f"fleet-{len(fleets)}",
            origin_port=origin.port,
            prefix=redis_prefix,
            **options,
        )
        fleets.append(fleet)
        return fleet

    yield make
    for fleet in fleets:
        fleet.stop()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def percentile(samples: list[float], percent: float) -> float:
    """The nearest-rank percentile of ``samples``."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def counter(answer: Message, name: str) -> int:
    """A counter of the ``stats`` in ``answer`` (0 if this build of the cache has no such counter)."""
    stats: dict[str, Any] = answer["stats"]
    return int(stats.get(name, 0))


def fleet_counters(answers: list[Message]) -> dict[str, int]:
    """The ``fleet_*`` counters summed over the members that answered."""
    totals: dict[str, int] = {}
    for answer in answers:
        for name, value in answer["stats"].items():
            if name.startswith("fleet_"):
                totals[name] = totals.get(name, 0) + int(value)
    return totals


def shared_tier(redis_url: str, store_prefix: str, *, cluster_port: int | None = None) -> dj.Cache:
    """A cache over the fleet's Redis tier only, with no coordinator: it reads and writes Redis and tells nobody."""
    if cluster_port is None:
        return dj.Cache(stores=[dj.RedisStore(redis_url, prefix=store_prefix)])
    return dj.Cache(
        stores=[dj.RedisStore(redis.RedisCluster(host="127.0.0.1", port=cluster_port), prefix=store_prefix)]
    )


def peek_digest(cache: dj.Cache, key: str) -> tuple[str, int] | None:
    response = cache.peek(key)
    if response is None:
        return None
    with response:
        data = response.read()
    return sha256(data), len(data)


# -- 1. one origin fetch for the whole fleet ---------------------------------------------------------------------


@pytest.mark.timeout(150)
@pytest.mark.parametrize("backend", ["redis", "cluster"])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_cold_key_read_by_8_processes_at_once_is_fetched_once(
    flavour: str, backend: str, request: pytest.FixtureRequest, make_fleet: MakeFleet, origin: Origin, redis_prefix: str
) -> None:
    """8 processes x 50 concurrent gets of one cold key, a 200 ms origin: one origin fetch, the same bytes for all."""
    if backend == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        fleet = make_fleet(flavour, 8, f"redis://127.0.0.1:{cluster.port}/0", cluster=True)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        fleet = make_fleet(flavour, 8, server.url)
    callers, size, runs = 50, 1 << 20, 3
    fetched_before = 0
    for run in range(runs):
        name = f"{redis_prefix}cold-{run}"
        path = f"/fast/{name}?size={size}"
        expected = sha256(body_of(name, size))
        start_at = time.monotonic() + 0.5  # every member starts its gets at this moment
        message = {"op": "burst", "key": f"cold-{run}", "path": path, "count": callers, "start_at": start_at}
        answers = fleet.ask_all(message, timeout=60)

        errors = [error for answer in answers for error in answer["errors"]]
        digests: dict[str, int] = {}
        for answer in answers:
            for digest, count in answer["digests"].items():
                digests[digest] = digests.get(digest, 0) + count
        fetched = sum(counter(answer, "origin_fetches") for answer in answers)
        slowest = max(answer["elapsed"] for answer in answers)
        print(
            f"\n[fleet single-flight {flavour}/{backend} run {run}] origin requests={origin.count(path)} "
            f"(by {origin.requesters(path)}), origin_fetches counted={fetched - fetched_before}, "
            f"callers={sum(digests.values())}, slowest member={slowest * 1000:.0f} ms, "
            f"fleet counters={fleet_counters(answers)}"
        )
        assert errors == []
        assert origin.count(path) == 1, f"the origin was asked {origin.count(path)} times: {origin.requesters(path)}"
        assert digests == {expected: len(fleet.members) * callers}, "every caller got the origin's bytes"
        assert fetched - fetched_before == 1
        fetched_before = fetched


# -- 2. the lease holder dies mid-fill ---------------------------------------------------------------------------


class TierWatcher:
    """Looks at the Redis tier every 10 ms from the test process and records every value it sees there."""

    def __init__(self, cache: dj.Cache, key: str) -> None:
        self.cache = cache
        self.key = key
        self.seen: dict[tuple[str, int], int] = {}
        self.looks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="tier-watcher", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            found = peek_digest(self.cache, self.key)
            self.looks += 1
            if found is not None:
                self.seen[found] = self.seen.get(found, 0) + 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_when_the_lease_holder_is_killed_mid_fill_exactly_one_other_member_takes_over(
    flavour: str, redis_server: RedisServer, make_fleet: MakeFleet, origin: Origin, redis_prefix: str
) -> None:
    """SIGKILL the member filling a 2 MiB value streamed over 2 s: one other member refetches it, after lease_ttl.

    Every surviving caller gets the whole value, and the Redis tier never holds
    anything but the whole value.
    """
    fleet = make_fleet(flavour, 8, redis_server.url, lease_ttl=1.0, coalesce_wait=15.0)
    key, size, callers = "big", 2 << 20, 10
    name = f"{redis_prefix}{key}"
    path = f"/slow/{name}?size={size}&seconds=2"
    expected = (sha256(body_of(name, size)), size)
    tier = shared_tier(redis_server.url, fleet.store_prefix)
    watcher = TierWatcher(tier, key)
    try:
        start_at = time.monotonic() + 0.5
        for member in fleet.members:
            member.send({"op": "burst", "key": key, "path": path, "count": callers, "start_at": start_at})
        holder = origin.first_requester(path, timeout=15)
        time.sleep(0.5)  # a quarter of the body streamed
        fleet[holder].kill()
        killed_at = time.monotonic()
        survivors = [member for member in fleet.members if member.name != holder]
        answers = [member.receive(timeout=60) for member in survivors]
        done_at = time.monotonic()
    finally:
        watcher.stop()
    final = peek_digest(tier, key)
    tier.close()

    requesters = origin.requesters(path)
    digests: dict[str, int] = {}
    for answer in answers:
        for digest, count in answer["digests"].items():
            digests[digest] = digests.get(digest, 0) + count
    print(
        f"\n[fleet takeover {flavour}] killed {holder}; origin requests={requesters}, "
        f"broken={origin.broken}, survivors done {done_at - killed_at:.2f} s after the kill, "
        f"Redis tier looked at {watcher.looks} times, seen={ {length: n for (_, length), n in watcher.seen.items()} }, "
        f"fleet counters={fleet_counters(answers)}"
    )
    assert [error for answer in answers for error in answer["errors"]] == []
    assert len(requesters) == 2, f"the origin was asked by {requesters}"
    assert requesters[0] == holder
    assert requesters[1] != holder, "a survivor took over"
    assert digests == {expected[0]: len(survivors) * callers}, "every surviving caller got the whole value"
    assert set(watcher.seen) <= {expected}, "the Redis tier never held a partial or other value"
    assert final == expected, "the Redis tier holds the whole value"


# -- 3. invalidation reaches every member within 100 ms -----------------------------------------------------------


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["delete", "tags"])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_invalidation_on_one_member_stops_every_other_member_serving_the_old_value_within_100_ms(
    flavour: str, kind: str, redis_server: RedisServer, make_fleet: MakeFleet
) -> None:
    """200 trials: A deletes a key (or invalidates its tag) that B..H hold in memory; each stops serving it.

    Each trial writes a new value straight into the Redis tier (through a cache
    with no coordinator, so nobody is told), has B..H read it (a Redis hit,
    promoted into their memory and file tiers) and watch it with ``peek`` every
    millisecond until no tier of theirs serves it, then has A delete it (or
    invalidate its tag).  The latency of a member is from the moment A's call
    returned to the first look that found the old value gone.
    """
    fleet = make_fleet(flavour, 8, redis_server.url)
    a, others = fleet.members[0], fleet.members[1:]
    seeder = shared_tier(redis_server.url, fleet.store_prefix)
    trials = 200
    latencies: list[float] = []  # one per member and trial, from A's call returning
    from_start: list[float] = []  # the same from A's call starting
    worst: list[float] = []  # one per trial: the last member to stop
    calls: list[float] = []
    try:
        for trial in range(trials):
            key = f"inv-{trial}"
            value = hashlib.sha256(key.encode()).digest() * 4
            tags = [f"tag-{trial}"] if kind == "tags" else None
            seeder.set_bytes(key, value, tags=tags)
            watches = fleet.ask(others, {"op": "watch", "key": key})
            for member, watch in zip(others, watches, strict=True):
                assert watch == {"digest": sha256(value), "source": 0, "watching": True}, (member.name, watch)
            if kind == "delete":
                call = a.ask({"op": "delete", "key": key})
            else:
                call = a.ask({"op": "invalidate", "tags": tags})
            assert call["error"] is None, call
            seen = fleet.ask(others, {"op": "watched", "key": key, "timeout": 3.0})
            trial_latencies = [math.inf if look["t"] is None else look["t"] - call["ended"] for look in seen]
            latencies += trial_latencies
            from_start += [math.inf if look["t"] is None else look["t"] - call["began"] for look in seen]
            worst.append(max(trial_latencies))
            calls.append(call["ended"] - call["began"])
        stats = fleet.ask_all({"op": "stats"})
    finally:
        seeder.close()

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.1f} ms"

    print(
        f"\n[fleet invalidation {flavour}/{kind}] {trials} trials x {len(others)} members: "
        f"from A's call returning p50={ms(percentile(latencies, 50))} p99={ms(percentile(latencies, 99))} "
        f"max={ms(max(latencies))}; "
        f"from its start p50={ms(percentile(from_start, 50))} p99={ms(percentile(from_start, 99))}; "
        f"last member per trial p50={ms(percentile(worst, 50))} p99={ms(percentile(worst, 99))}; "
        f"A's call p50={ms(percentile(calls, 50))} p99={ms(percentile(calls, 99))}; "
        f"fleet counters={fleet_counters(stats)}"
    )
    assert math.inf not in latencies, "a member kept serving the old value for 3 s"
    assert percentile(latencies, 99) <= 0.100


# -- 4. a Redis outage --------------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_reads_survive_a_redis_outage_and_a_delete_made_during_it_is_honoured_after(
    flavour: str, private_redis: RedisServer, make_fleet: MakeFleet
) -> None:
    """Redis is SIGKILLed for 5 s while 4 members read in a loop: no read fails; A's delete reaches B on return.

    Each member reads 10 hot keys and one new key per round, every 10 ms.  B
    holds the victim key in memory; A deletes it during the outage; B must stop
    serving it within 2 s of Redis coming back (``retry_after=0.5``).
    """
    fleet = make_fleet(flavour, 4, private_redis.url, retry_after=0.5)
    a, b = fleet.members[0], fleet.members[1]
    seeder = shared_tier(private_redis.url, fleet.store_prefix)
    try:
        seeder.set_bytes("victim", b"the old value")
    finally:
        seeder.close()
    watch = b.ask({"op": "watch", "key": "victim"})
    assert watch["watching"], watch
    hot = [f"hot-{index}" for index in range(10)]
    fleet.ask_all({"op": "loop_start", "keys": hot, "cold_prefix": "cold-"})
    time.sleep(1.0)

    private_redis.kill()
    killed_at = time.monotonic()
    time.sleep(1.0)
    deleted = a.ask({"op": "delete", "key": "victim"})
    time.sleep(max(0.0, killed_at + 5.0 - time.monotonic()))
    private_redis.start()
    back_at = time.monotonic()

    seen = b.ask({"op": "watched", "key": "victim", "timeout": 5.0}, timeout=10)
    time.sleep(1.0)
    summaries = fleet.ask_all({"op": "loop_stop", "windows": [[killed_at, back_at]]}, timeout=30)
    stats = fleet.ask_all({"op": "stats"})

    late = None if seen["t"] is None else seen["t"] - back_at
    print(
        f"\n[fleet outage {flavour}] Redis down {back_at - killed_at:.2f} s; A's delete during it took "
        f"{(deleted['ended'] - deleted['began']) * 1000:.1f} ms and said {deleted['error']}; "
        f"B stopped serving the victim {'never' if late is None else f'{late * 1000:.0f} ms'} after Redis returned; "
        f"reads per member={[summary['reads'] for summary in summaries]}, "
        f"during the outage={[summary['windows'][0]['reads'] for summary in summaries]}, "
        f"errors={[summary['errors'] for summary in summaries]}, "
        f"longest read={max(summary['longest'] for summary in summaries) * 1000:.0f} ms, "
        f"fleet counters={fleet_counters(stats)}"
    )
    for member, summary in zip(fleet.members, summaries, strict=True):
        for took, began, key in summary["slow"]:
            since = began - killed_at
            print(f"  slow read on {member.name}: {key!r} took {took:.2f} s, began {since:+.2f} s from the kill")
    for member, summary in zip(fleet.members, summaries, strict=True):
        assert summary["errors"] == 0, (member.name, summary["error_samples"])
        assert summary["windows"][0]["reads"] > 0, f"{member.name} read nothing while Redis was down"
    assert late is not None, "B still serves the value A deleted during the outage"
    assert late <= 2.0
    assert counter(stats[0], "fleet_invalidations_sent") >= 1, "A sent its delete once Redis was back"
