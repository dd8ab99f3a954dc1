"""The scenarios of ``daramjwee bench`` (SPEC §8), each building cases against named peers on the same bytes.

A scenario is a function ``(options, cleanups) -> (cases, ratios)``: it sets up
its caches (registering what must be closed on ``cleanups``) and returns
cases whose ``run()`` takes one sample.  The runner samples them in shuffled
rounds.  One module per group of scenarios; this registry names them.
"""

from ._common import Options, Scenario
from ._memory_hits import hot_path, n_tier

__all__ = ["SCENARIOS", "Options", "Scenario"]

SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "hot-path": ("Tier-0 memory hit, 1 KiB", hot_path),
    "n-tier": ("N-tier scaling of a tier-0 hit", n_tier),
}
"""Every scenario by name: (title, builder)."""
