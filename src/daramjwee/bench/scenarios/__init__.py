"""The scenarios of ``daramjwee bench``, each building cases against named peers on the same bytes.

A scenario's builder is a function ``(options, cleanups) -> (cases, ratios)``: it
sets up its caches (registering what must be closed on ``cleanups``) and returns
cases whose ``run()`` takes one sample.  The runner samples them in shuffled
rounds.  One module per group of scenarios; this registry names them.
"""

from ._common import Builder, Options, Plotter, Scenario
from ._concurrency import cacheme, stampede, threads
from ._disk import disk_hits, streaming
from ._eviction import eviction, plot_eviction
from ._fleet import fleet, fleet_missing
from ._memory_hits import hot_path, n_tier
from ._memory_peers import memory_peers
from ._memory_profile import memory_missing, memory_profile
from ._read_through import read_through
from ._serve import serve, serve_missing
from ._shared_tiers import shared_tiers, shared_tiers_missing
from ._tier_paths import miss_latency, tier_paths

__all__ = ["SCENARIOS", "Builder", "Options", "Plotter", "Scenario"]

SCENARIOS: dict[str, Scenario] = {
    "hot-path": Scenario("Tier-0 memory hit, 1 KiB", hot_path),
    "n-tier": Scenario("N-tier scaling of a tier-0 hit", n_tier),
    "memory-peers": Scenario("Memory hit, 1 KiB, against Python memory caches", memory_peers),
    "disk-hits": Scenario("File-tier hit, 1 KiB and 1 MiB, against diskcache", disk_hits),
    "streaming": Scenario("Streaming a large value through memory and file tiers against a raw read", streaming),
    "tier-paths": Scenario("Promotion from the last tier and misses, 1 to 8 tiers", tier_paths),
    "miss-latency": Scenario("Time to first byte and total time of a miss against the origin alone", miss_latency),
    "threads": Scenario("1 to 16 threads of mixed get/set on Zipf keys", threads),
    "stampede": Scenario("100 concurrent misses of one key: origin fetches", stampede),
    "cacheme": Scenario("20k Zipf requests over 6k keys, 100 ms origin, concurrency 1000", cacheme),
    "shared-tiers": Scenario(
        "Redis and S3 tier hits against the raw clients", shared_tiers, missing=shared_tiers_missing
    ),
    "fleet": Scenario(
        "4 processes on one Redis tier, with and without coordination",
        fleet,
        missing=fleet_missing,
    ),
    "serve": Scenario("daramjwee serve against nginx proxy_cache under wrk", serve, missing=serve_missing),
    "eviction": Scenario("Eviction: hit ratios of every policy beside Belady's optimum", eviction, plot=plot_eviction),
    "read-through": Scenario("Large-file read-through against fsspec simplecache", read_through),
    "memory": Scenario(
        "Peak memory streaming 1 GiB through a 3-tier miss and a promotion", memory_profile, missing=memory_missing
    ),
}
"""Every scenario by name."""
