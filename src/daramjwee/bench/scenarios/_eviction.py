"""Scenario ``eviction``: the hit ratio of every eviction policy beside Belady's optimum, on synthetic traces.

Objects have unit size; a cache holds 1 % or 10 % of the distinct keys of the
trace it serves (``max(1, round(distinct * fraction))`` entries).  Traces are
seeded (seed 1), so every run replays the same requests.  Full: ``N`` = 20,000
keys and ``L`` = 400,000 Zipf requests; quick (fewer iterations than the
default): 1,000 keys and 20,000 requests.

* ``zipf-0.7``, ``zipf-0.9``, ``zipf-1.1``: ``L`` requests over ``N`` keys, the key
  of popularity rank r drawn with weight ``r ** -alpha``;
* ``scan-mix``: the Zipf 0.9 requests with a one-time sequential scan of ``N / 10``
  fresh keys after every ``N / 2`` of them (``L`` plus ``L / 5`` requests);
* ``loop``: ``L / 4`` requests cycling through ``N / 2`` keys in order (the worst
  case of LRU: larger than either cache);
* every trace file of ``options.traces`` (``daramjwee bench eviction --trace FILE``),
  named after the file: your own workload, one key per request per line.

Cases (unit ``hit %``, 100 x hits / requests), one per trace, cache fraction and
column, named ``<trace>@<fraction>:<column>`` (``zipf-0.9@10%:sieve``):

* ``<trace>@<fraction>:<policy>`` for every policy of :data:`daramjwee.policy.POLICIES`
  (``lru``, ``s3fifo``, ``sieve``, ``tinylfu``): the trace replayed through a
  cache evicting by that policy, driven as a store drives it;
* ``<trace>@<fraction>:belady``: Belady's clairvoyant optimum, the most hits any
  policy can get on that trace with that capacity.

The simulation is deterministic, so a sample does not time anything: each
(trace, fraction) row, every policy and the optimum, is simulated once, on the
first sample of any of its cases, and memoized; the runner's warm-up and rounds
then read the same numbers (a full run takes under a minute whatever
``--rounds``).  Traces too are built on first use, so building the scenario is
cheap.  ``tinylfu`` may differ in the last digits between processes (by up to
a few tenths of a point with the small cache): its sketch hashes keys with
Python's per-process randomized ``hash`` (set ``PYTHONHASHSEED`` to pin it).
Within one run its samples agree.

Ratios, information only (no goal), each at the best sample:

* ``<policy> / belady @ zipf-0.9@10%`` for every policy: the share of the
  attainable hits a policy gets on a moderately skewed trace with a roomy cache;
* ``<default> / lru @ scan-mix@1%`` and ``<default> / lru @ zipf-0.9@1%``, where
  ``<default>`` is the policy ``MemStore`` uses unless told otherwise
  (``s3fifo``): how much the default gains over LRU in a small cache, with and
  without one-time scans flushing it.

The plot draws grouped bars per trace, one panel per cache fraction, one bar per
policy and the optimum.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path

from ... import MemStore
from ...policy import POLICIES, make_policy
from .._model import Case, Ratio, ScenarioResult
from .._simulate import belady, loop_trace, read_trace, replay, scan_mix_trace, zipf_trace
from ._common import Options

__all__ = ["eviction", "plot_eviction"]

UNIT = "hit %"
OPTIMUM = "belady"
FRACTIONS = (0.01, 0.10)
ZIPF_ALPHAS = (0.7, 0.9, 1.1)
SEED = 1


def _default_policy() -> str:
    """The policy ``MemStore()`` evicts by when none is given."""
    default = inspect.signature(MemStore).parameters["policy"].default
    if not isinstance(default, str) or default not in POLICIES:
        raise RuntimeError(f"MemStore's default policy {default!r} is not one of {POLICIES}")
    return default


def _label(fraction: float) -> str:
    return f"{fraction:.0%}"


def _case_name(trace: str, fraction: float, column: str) -> str:
    return f"{trace}@{_label(fraction)}:{column}"


def _traces(n_keys: int, length: int, files: tuple[Path, ...]) -> dict[str, tuple[str, Callable[[], list[str]]]]:
    """Every trace by name: what it is, and how to build it (not built here)."""
    found: dict[str, tuple[str, Callable[[], list[str]]]] = {
        f"zipf-{alpha}": (
            f"{length:,} Zipf-{alpha} requests over {n_keys:,} keys",
            partial(zipf_trace, n_keys, length, alpha, seed=SEED),
        )
        for alpha in ZIPF_ALPHAS
    }
    scan_every, scan_length = n_keys // 2, n_keys // 10
    found["scan-mix"] = (
        f"{length:,} Zipf-0.9 requests over {n_keys:,} keys, a scan of {scan_length:,} fresh keys "
        f"after every {scan_every:,} requests",
        partial(scan_mix_trace, n_keys, length, 0.9, scan_every=scan_every, scan_length=scan_length, seed=SEED),
    )
    found["loop"] = (
        f"{length // 4:,} requests cycling through {n_keys // 2:,} keys",
        partial(loop_trace, n_keys // 2, length // 4),
    )
    for path in files:
        found[path.name] = (f"the trace file {path}", partial(read_trace, path))
    return found


class _Simulation:
    """Hit % of every policy and the optimum per (trace, fraction): each row simulated once, when first asked."""

    def __init__(self, builders: dict[str, Callable[[], list[str]]]) -> None:
        self._builders = builders
        self._traces: dict[str, list[str]] = {}
        self._rows: dict[tuple[str, float], dict[str, float]] = {}

    def hit_percent(self, trace: str, fraction: float, column: str) -> float:
        row = self._rows.get((trace, fraction))
        if row is None:
            row = self._rows[trace, fraction] = self._simulate(trace, fraction)
        return row[column]

    def _simulate(self, name: str, fraction: float) -> dict[str, float]:
        trace = self._traces.get(name)
        if trace is None:
            trace = self._traces[name] = self._builders[name]()
        capacity = max(1, round(len(set(trace)) * fraction))
        requests = len(trace)
        row = {policy: 100 * replay(trace, make_policy(policy), capacity) / requests for policy in POLICIES}
        row[OPTIMUM] = 100 * belady(trace, capacity) / requests
        if all((name, other) in self._rows or other == fraction for other in FRACTIONS):
            del self._traces[name]  # every row of this trace is done
        return row


def eviction(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """Hit % of every policy and of Belady's optimum, per trace and cache fraction, simulated lazily once."""
    quick = options.iterations < Options().iterations
    n_keys, length = (1_000, 20_000) if quick else (20_000, 400_000)
    traces = _traces(n_keys, length, options.traces)
    simulation = _Simulation({name: build for name, (_, build) in traces.items()})
    cases = []
    for trace, (about, _) in traces.items():
        for fraction in FRACTIONS:
            where = f"{about}, cache of {_label(fraction)} of its distinct keys"
            for column in (*POLICIES, OPTIMUM):
                what = "Belady's optimum" if column == OPTIMUM else f"{column} replay"
                cases.append(
                    Case(
                        _case_name(trace, fraction, column),
                        f"{what}: {where}",
                        UNIT,
                        partial(simulation.hit_percent, trace, fraction, column),
                    )
                )
    ratios = []
    for policy in POLICIES:
        numerator, denominator = _case_name("zipf-0.9", 0.10, policy), _case_name("zipf-0.9", 0.10, OPTIMUM)
        ratios.append(Ratio(f"{policy} / {OPTIMUM} @ zipf-0.9@10%", numerator, denominator))
    default = _default_policy()
    for trace in ("scan-mix", "zipf-0.9"):
        numerator, denominator = _case_name(trace, 0.01, default), _case_name(trace, 0.01, "lru")
        ratios.append(Ratio(f"{default} / lru @ {trace}@1%", numerator, denominator))
    return cases, ratios


def plot_eviction(result: ScenarioResult, path: Path) -> None:
    """Grouped bars: one panel per cache fraction, one group per trace, one bar per policy and the optimum."""
    import matplotlib  # noqa: PLC0415 (optional: the bench extra)

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415

    panels: dict[str, dict[str, dict[str, float]]] = {}  # fraction -> trace -> column -> hit %
    columns: dict[str, None] = {}  # in order of first appearance
    for case in result.cases:
        where, _, column = case.name.rpartition(":")
        trace, _, fraction = where.rpartition("@")
        panels.setdefault(fraction, {}).setdefault(trace, {})[column] = case.best
        columns[column] = None
    width = 0.8 / len(columns)
    figure, axes = pyplot.subplots(1, len(panels), figsize=(7 * len(panels), 4.5), squeeze=False, sharey=True)
    for axis, (fraction, rows) in zip(axes[0], panels.items(), strict=True):
        traces = list(rows)
        for offset, column in enumerate(columns):
            shift = (offset - (len(columns) - 1) / 2) * width
            positions = [index + shift for index in range(len(traces))]
            axis.bar(positions, [rows[trace].get(column, 0.0) for trace in traces], width, label=column)
        axis.set_xticks(range(len(traces)), traces)
        axis.set_title(f"cache = {fraction} of the distinct keys")
        axis.set_ylabel(UNIT)
        axis.set_ylim(0, 100)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncols=len(columns), frameon=False)
    figure.suptitle(result.title)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
