"""Eviction hit ratios: every policy of ``daramjwee.policy`` beside Belady's optimum, on synthetic traces.

    python benchmarks/bench_policies.py                 # full run (about 40 s)
    python benchmarks/bench_policies.py --quick         # a few seconds, smaller traces
    python benchmarks/bench_policies.py --trace FILE    # also a trace file, one key per line
    python benchmarks/bench_policies.py --plot out.png --json out.json

This is a report, not a test: it always exits 0.  Objects have unit size; a
cache holds 1% or 10% of the trace's distinct keys.  Traces (seeded, the same
every run):

* ``zipf-0.7``, ``zipf-0.9``, ``zipf-1.1``: Zipf popularity with that exponent;
* ``scan-mix``: Zipf 0.9 with a one-time sequential scan of fresh keys (a tenth
  of the key count) after every half key count of requests;
* ``loop``: half the keys requested in a cycle, the worst case of LRU;
* the file given with ``--trace``.

Below the table, every case where a policy's hit ratio is under LRU's is listed.
``tinylfu`` may differ in the last digit between runs: its sketch hashes keys
with Python's per-process randomized ``hash`` (set ``PYTHONHASHSEED`` to pin it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from daramjwee.policy import POLICIES, make_policy
from daramjwee.policy._simulate import belady, loop_trace, read_trace, replay, scan_mix_trace, zipf_trace

CACHE_FRACTIONS = (0.01, 0.10)
OPTIMUM = "belady"


def traces(n_keys: int, length: int, seed: int) -> dict[str, list[str]]:
    found = {f"zipf-{alpha}": zipf_trace(n_keys, length, alpha, seed=seed) for alpha in (0.7, 0.9, 1.1)}
    found["scan-mix"] = scan_mix_trace(n_keys, length, 0.9, scan_every=n_keys // 2, scan_length=n_keys // 10, seed=seed)
    found["loop"] = loop_trace(n_keys // 2, length // 4)
    return found


@dataclasses.dataclass
class Row:
    trace: str
    requests: int
    distinct: int
    cache_fraction: float
    capacity: int
    hit_ratio: dict[str, float]  # policy name (and OPTIMUM) -> hits / requests


def simulate(name: str, trace: Sequence[str]) -> list[Row]:
    """One row per cache size: the hit ratio of every policy and of the optimum."""
    distinct = len(set(trace))
    rows = []
    for fraction in CACHE_FRACTIONS:
        capacity = max(1, round(distinct * fraction))
        ratios = {policy: replay(trace, make_policy(policy), capacity) / len(trace) for policy in POLICIES}
        ratios[OPTIMUM] = belady(trace, capacity) / len(trace)
        rows.append(Row(name, len(trace), distinct, fraction, capacity, ratios))
    return rows


def table(rows: list[Row]) -> str:
    columns = [*POLICIES, OPTIMUM]
    lines = [
        f"{'trace':<12} {'cache':>6} {'entries':>8}  " + " ".join(f"{name:>8}" for name in columns),
        f"{'-' * 12} {'-' * 6} {'-' * 8}  " + " ".join("-" * 8 for _ in columns),
    ]
    for row in rows:
        lines.append(
            f"{row.trace:<12} {row.cache_fraction:>6.0%} {row.capacity:>8}  "
            + " ".join(f"{row.hit_ratio[name]:>8.2%}" for name in columns)
        )
    return "\n".join(lines)


def losses_to_lru(rows: list[Row]) -> list[str]:
    losses = []
    for row in rows:
        ratios = row.hit_ratio
        for policy in POLICIES:
            if ratios[policy] < ratios["lru"]:
                losses.append(
                    f"{policy} < lru on {row.trace} at {row.cache_fraction:.0%}: "
                    f"{ratios[policy]:.2%} vs {ratios['lru']:.2%}"
                )
    return losses


def plot(rows: list[Row], path: Path) -> None:
    try:
        import matplotlib  # noqa: PLC0415 - optional, only for --plot

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print(f"matplotlib is not installed; not writing {path}")
        return
    columns = [*POLICIES, OPTIMUM]
    figure, axes = plt.subplots(1, len(CACHE_FRACTIONS), figsize=(7 * len(CACHE_FRACTIONS), 4.5), squeeze=False)
    for axis, fraction in zip(axes[0], CACHE_FRACTIONS, strict=True):
        selected = [row for row in rows if row.cache_fraction == fraction]
        width = 0.8 / len(columns)
        for offset, name in enumerate(columns):
            axis.bar(
                [index + offset * width for index in range(len(selected))],
                [row.hit_ratio[name] for row in selected],
                width,
                label=name,
            )
        axis.set_xticks([index + 0.4 - width / 2 for index in range(len(selected))])
        axis.set_xticklabels([row.trace for row in selected])
        axis.set_title(f"cache = {fraction:.0%} of the distinct keys")
        axis.set_ylabel("hit ratio")
        axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    print(f"plot written to {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small traces (a few seconds)")
    parser.add_argument("--trace", type=Path, metavar="FILE", help="also replay this trace file (one key per line)")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="draw the hit ratios (needs matplotlib)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--keys", type=int, help="distinct keys of the synthetic traces (default 20000, quick 1000)")
    parser.add_argument("--length", type=int, help="Zipf requests per trace (default 400000, quick 20000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic traces")
    args = parser.parse_args(argv)
    n_keys = args.keys or (1000 if args.quick else 20_000)
    length = args.length or (20_000 if args.quick else 400_000)

    started = time.perf_counter()
    workload = traces(n_keys, length, args.seed)
    if args.trace is not None:
        workload[args.trace.name] = read_trace(args.trace)
    rows: list[Row] = []
    for name, trace in workload.items():
        rows += simulate(name, trace)
    elapsed = time.perf_counter() - started

    print(f"hit ratios, unit-size objects ({n_keys} Zipf keys, {length} Zipf requests per trace, seed {args.seed})\n")
    print(table(rows))
    losses = losses_to_lru(rows)
    print("\nwhere a policy loses to lru:" if losses else "\nno policy loses to lru on any trace")
    for loss in losses:
        print(f"  {loss}")
    print(f"\n{elapsed:.1f} s")
    if args.json is not None:
        results = [dataclasses.asdict(row) for row in rows]
        report = {"keys": n_keys, "length": length, "seed": args.seed, "results": results, "losses_to_lru": losses}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.plot is not None:
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
