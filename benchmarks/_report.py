"""The shape every comparison benchmark shares: cases sampled in shuffled rounds, ratios with goals, a report.

A *case* is one way of doing a thing, and ``run()`` measures it once (one
sample: ns per operation, lower is better, or MiB/s, higher is better).
:func:`measure` samples every case once per round, in a new shuffled order
each round, so slow drifts of the machine fall on every case alike; a case's
``best`` sample is the least noisy estimate of its own cost.  A *ratio*
compares two cases of the same run against a goal.
"""

from __future__ import annotations

import dataclasses
import platform
import random
import statistics
import sys
from collections.abc import Callable

__all__ = ["Case", "Ratio", "measure", "render", "to_json"]


@dataclasses.dataclass
class Case:
    name: str
    description: str
    unit: str  # "ns/op" (lower is better) or "MiB/s" (higher is better)
    run: Callable[[], float]  # one sample, in ``unit``
    samples: list[float] = dataclasses.field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.samples) if self.unit == "ns/op" else max(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclasses.dataclass
class Ratio:
    name: str
    value: float
    goal: float | None
    at_most: bool  # the goal is an upper bound (else a lower bound)

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return "info"
        passed = self.value <= self.goal if self.at_most else self.value >= self.goal
        return "PASS" if passed else "FAIL"


def measure(cases: list[Case], rounds: int, seed: int) -> None:
    """One warm-up run of every case, then ``rounds`` samples of each in a shuffled order per round."""
    shuffler = random.Random(seed)
    for case in cases:
        case.run()
    order = list(cases)
    for _ in range(rounds):
        shuffler.shuffle(order)
        for case in order:
            case.samples.append(case.run())


def render(title: str, cases: list[Case], ratios: list[Ratio]) -> str:
    """A plain-text table of the cases (best and median sample) and the ratios with their verdicts."""
    width = max(len(case.name) for case in cases)
    lines = [
        f"{title} (Python {platform.python_version()}, {platform.machine()})",
        "",
        f"{'case':<{width}} {'best':>10} {'median':>10} {'unit':<6}  description",
        f"{'-' * width} {'-' * 10} {'-' * 10} {'-' * 6}  {'-' * 40}",
    ]
    lines += [
        f"{case.name:<{width}} {case.best:>10.0f} {case.median:>10.0f} {case.unit:<6}  {case.description}"
        for case in cases
    ]
    ratio_width = max(len(ratio.name) for ratio in ratios)
    lines += ["", f"{'ratio':<{ratio_width}} {'value':>7} {'goal':>7}  verdict"]
    lines.append(f"{'-' * ratio_width} {'-' * 7} {'-' * 7}  {'-' * 7}")
    for ratio in ratios:
        goal = "-" if ratio.goal is None else f"{'<=' if ratio.at_most else '>='} {ratio.goal:.2f}"
        lines.append(f"{ratio.name:<{ratio_width}} {ratio.value:>7.2f} {goal:>7}  {ratio.verdict}")
    return "\n".join(lines)


def to_json(cases: list[Case], ratios: list[Ratio], **context: object) -> dict[str, object]:
    """The run as JSON-ready data: ``context`` (sizes, rounds, ...), every sample, every ratio."""
    return {
        "python": sys.version,
        "platform": platform.platform(),
        **context,
        "cases": {
            case.name: {
                "description": case.description,
                "unit": case.unit,
                "best": case.best,
                "median": case.median,
                "samples": case.samples,
            }
            for case in cases
        },
        "ratios": {
            ratio.name: {"value": ratio.value, "goal": ratio.goal, "at_most": ratio.at_most, "verdict": ratio.verdict}
            for ratio in ratios
        },
    }
