"""The scenarios of ``daramjwee bench`` (SPEC §8), each building cases against named peers on the same bytes.

A scenario is a function ``(options, cleanups) -> (cases, ratios)``: it sets up
its caches (registering what must be closed on ``cleanups``) and returns
cases whose ``run()`` takes one sample.  The runner samples them in shuffled
rounds.  One module per group of scenarios; this registry names them.
"""

from ._common import Options, Scenario
from ._disk import disk_hits, streaming
from ._memory_hits import hot_path, n_tier
from ._memory_peers import memory_peers

__all__ = ["SCENARIOS", "Options", "Scenario"]

SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "hot-path": ("Tier-0 memory hit, 1 KiB", hot_path),
    "n-tier": ("N-tier scaling of a tier-0 hit", n_tier),
    "memory-peers": ("Memory hit, 1 KiB, against Python memory caches", memory_peers),
    "disk-hits": ("File-tier hit, 1 KiB and 1 MiB, against diskcache", disk_hits),
    "streaming": ("Streaming a large value through memory and file tiers against a raw read", streaming),
}
"""Every scenario by name: (title, builder)."""
