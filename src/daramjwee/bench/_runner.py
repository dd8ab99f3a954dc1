"""Running scenarios and writing the report: ``report.json``, ``report.md`` and one PNG per scenario."""

from __future__ import annotations

import functools
import json
import os
import platform
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from importlib import metadata
from pathlib import Path
from typing import Any

from ._model import Case, ScenarioResult, markdown
from .scenarios import SCENARIOS, Options

__all__ = ["Progress", "iter_scenarios", "machine", "measure", "run_scenarios", "unavailable", "write_report"]

Progress = Callable[[str, int, int], None]
"""``progress(scenario, done, total)``: called after each sample (and once with ``done=0`` to start)."""

_VERSIONS = (
    "daramjwee",
    "cachetools",
    "cachebox",
    "theine",
    "dogpile.cache",
    "cashews",
    "aiocache",
    "diskcache",
    "fsspec",
    "redis",
    "obstore",
    "moto",
    "granian",
    "httpx",
    "matplotlib",
)


def machine() -> dict[str, Any]:
    """What the numbers were measured on: platform, CPUs, Python and the versions of the libraries involved."""
    versions = {}
    for name in _VERSIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
    }


def unavailable(names: Sequence[str], options: Options) -> dict[str, str]:
    """The named scenarios this machine cannot run, each with what it lacks (a program, a package)."""
    found = {}
    for name in names:
        reason = SCENARIOS[name].missing(options)
        if reason is not None:
            found[name] = reason
    return found


def run_scenarios(names: Sequence[str], options: Options, progress: Progress, *, seed: int = 0) -> list[ScenarioResult]:
    """Run the named scenarios in order; each samples its cases ``options.rounds`` times in shuffled rounds.

    Raises ``KeyError`` naming an unknown scenario, and ``RuntimeError`` naming
    one this machine cannot run and why, before running anything.  A scenario
    that raises while it runs is reported with its ``error`` and the run goes on.
    """
    return list(iter_scenarios(names, options, progress, seed=seed))


def iter_scenarios(
    names: Sequence[str], options: Options, progress: Progress, *, seed: int = 0
) -> Iterator[ScenarioResult]:
    """:func:`run_scenarios`, yielding each scenario's result as soon as it is measured.

    The names are checked before the first scenario runs (on the first ``next``).
    """
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise KeyError(f"unknown scenario {unknown[0]!r}; known: {', '.join(SCENARIOS)}")
    for name, reason in unavailable(names, options).items():
        raise RuntimeError(f"scenario {name!r} cannot run here: {reason}")
    shuffler = random.Random(seed)
    for name in names:
        scenario = SCENARIOS[name]
        try:
            with ExitStack() as cleanups:
                cases, ratios = scenario.build(options, cleanups)
                measure(cases, options.rounds, shuffler, functools.partial(progress, name))
        except Exception as error:  # one failing scenario must not lose the others' results
            yield ScenarioResult(name, scenario.title, [], [], error=f"{type(error).__name__}: {error}")
        else:
            yield ScenarioResult(name, scenario.title, cases, ratios)


def measure(
    cases: list[Case],
    rounds: int,
    shuffler: random.Random,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """One discarded warm-up sample of every case, then ``rounds`` samples each, in a new shuffled order per round.

    ``progress(done, total)`` is called before the first sample and after each one.
    """
    total = len(cases) * rounds
    if progress is not None:
        progress(0, total)
    for case in cases:
        case.run()
    order = list(cases)
    for round_ in range(rounds):
        shuffler.shuffle(order)
        for index, case in enumerate(order):
            case.samples.append(case.run())
            if progress is not None:
                progress(round_ * len(cases) + index + 1, total)


def write_report(results: list[ScenarioResult], directory: Path, *, plots: bool = True) -> list[Path]:
    """Write ``report.json``, ``report.md`` and (with matplotlib) ``<scenario>.png`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    host = machine()
    written = [directory / "report.json", directory / "report.md"]
    report = {"machine": host, "scenarios": {result.name: result.to_json() for result in results}}
    written[0].write_text(json.dumps(report, indent=2) + "\n")
    written[1].write_text(markdown(results, host))
    if plots:
        for result in results:
            if result.error is not None:
                continue
            path = directory / f"{result.name}.png"
            scenario = SCENARIOS.get(result.name)
            plot = _bars if scenario is None or scenario.plot is None else scenario.plot
            plot(result, path)
            written.append(path)
    return written


def _bars(result: ScenarioResult, path: Path) -> None:
    """One panel per unit, a horizontal bar per case (its best sample) with its median as a tick."""
    import matplotlib  # noqa: PLC0415 (optional: the bench extra)

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415

    panels: dict[str, list[Case]] = {}
    for case in result.cases:
        panels.setdefault(case.unit, []).append(case)
    heights = [len(cases) for cases in panels.values()]
    figure, axes = pyplot.subplots(
        len(panels), 1, figsize=(8, 0.45 * sum(heights) + 1.2 * len(panels) + 0.8), height_ratios=heights, squeeze=False
    )
    for axis, (unit, cases) in zip(axes[:, 0], panels.items(), strict=True):
        cases = list(reversed(cases))
        positions = range(len(cases))
        axis.barh(positions, [case.best for case in cases], color="#4c72b0", label="best")
        axis.scatter([case.median for case in cases], positions, color="#dd8452", marker="|", s=300, label="median")
        axis.set_yticks(list(positions), [case.name for case in cases])
        better = "higher" if cases[0].higher_is_better else "lower"
        axis.set_xlabel(f"{unit} ({better} is better)")
    figure.suptitle(result.title)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncols=2, frameon=False)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
