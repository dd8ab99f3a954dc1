"""The scenarios of ``daramjwee bench`` (SPEC §8), each building cases against named peers on the same bytes.

A scenario's builder is a function ``(options, cleanups) -> (cases, ratios)``: it
sets up its caches (registering what must be closed on ``cleanups``) and returns
cases whose ``run()`` takes one sample.  The runner samples them in shuffled
rounds.  One module per group of scenarios; this registry names them.
"""

from ._common import Builder, Options, Plotter, Scenario
from ._concurrency import cacheme, stampede, threads
from ._disk import disk_hits, streaming
from ._memory_hits import hot_path, n_tier
from ._memory_peers import memory_peers
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
}
"""Every scenario by name."""
